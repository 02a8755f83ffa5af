"""The Apple Music API endpoints Blendify reads, with Apple's JSON:API shapes and errors[] bodies.

Library lists are alphabetical, default 25 / max 100, and their `next` links are root-relative and
do NOT carry `limit` (a client that follows them verbatim drops to 25-item pages, as on Apple).
Library playlists carry `lastModifiedDate` (moving on every edit) and, on few of them,
`playParams.versionHash`. Recently added lists library albums and playlists, newest first.
Recently played tracks: `types` required, max 30, unique songs, no timestamps; items the user
played from a library-only copy come back as `library-songs` without ISRC. Replay's period
summaries name their song, album or artist by identifier only, unless `include` asks for it.
Apple's 429 has no Retry-After (see faults.py). `filter[isrc]` answers every song of an ISRC (the
crossworld's singles and compilations share their album version's ISRC); `ids=` knows them too.
Writes (create, append), `GET /v1/me/library/playlists/{id}` and search live in apple_publish.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blendify_assets.simulator import ids
from blendify_assets.simulator.apple_auth import AppleAuth
from blendify_assets.simulator.jsonenc import dumps
from blendify_assets.simulator.world import LibrarySong, SimUser, World, ms_to_iso

JSON = "application/json; charset=utf-8"
STOREFRONTS = {"us": "United States", "gb": "United Kingdom", "de": "Germany", "jp": "Japan", "se": "Sweden",
               "ca": "Canada", "fr": "France", "au": "Australia"}  # fmt: skip


class AppleError(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.parameter = (
            status,
            code,
            title,
            detail,
            parameter,
        )


def apple_error_response(status: int, code: str, title: str, detail: str, parameter: str | None = None,
                         headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    err: dict[str, Any] = {"id": str(uuid.uuid4()).upper(), "title": title, "detail": detail,
                           "status": str(status), "code": code}  # fmt: skip
    if parameter:
        err["source"] = {"parameter": parameter}
    return Response(dumps({"errors": [err]}), status, headers, JSON)


def forbidden() -> AppleError:
    return AppleError(403, "40300", "Forbidden", "Invalid authentication")


def _limit(request: Request, default: int, maximum: int, name: str = "limit") -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1 or value > maximum:
        raise AppleError(400, "40005", "Invalid Parameter Value",
                         f"Value must be an integer less than or equal to {maximum}, but was: {raw}", name)  # fmt: skip
    return value


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise AppleError(400, "40005", "Invalid Parameter Value", f"Value must be a non-negative integer, but was: {raw}",
                         "offset")  # fmt: skip
    return value


def artwork(key: str) -> dict:
    h = f"{ids.digest('apple-art', key, size=8):016x}"
    return {
        "width": 3000,
        "height": 3000,
        "url": f"https://is1-ssl.mzstatic.com/image/thumb/Music/{h}/{{w}}x{{h}}bb.jpg",
    }


class AppleApi:
    """Route handlers over the world and AppleAuth."""

    def __init__(self, world: World, auth: AppleAuth) -> None:
        self.world = world
        self.auth = auth
        self._songs: dict[tuple[int, str], bytes] = {}
        self._library_songs: dict[str, bytes] = {}
        self._releases: dict[tuple[int, str], bytes] = {}

    # --- rendering ------------------------------------------------------------------------------

    def genres(self, artist_idx: int) -> list[str]:
        return [g.title() for g in self.world.catalog.artists[artist_idx].genres] + ["Music"]

    def catalog_song(self, idx: int, sf: str) -> bytes:
        key = (idx, sf)
        hit = self._songs.get(key)
        if hit is None:
            c = self.world.catalog
            t = c.tracks[idx]
            album = c.albums[t.album_idx]
            artist = c.artists[t.artist_idxs[0]]
            hit = self._songs[key] = dumps({
                "id": t.apple_id, "type": "songs", "href": f"/v1/catalog/{sf}/songs/{t.apple_id}",
                "attributes": {
                    "albumName": album.name, "artistName": " & ".join(c.artists[a].name for a in t.artist_idxs),
                    "artwork": artwork(album.apple_id), "composerName": artist.name, "discNumber": t.disc_number,
                    "durationInMillis": t.duration_ms, "genreNames": self.genres(artist.idx), "hasLyrics": True,
                    "isAppleDigitalMaster": False, "isrc": t.isrc, "name": t.name,
                    "playParams": {"id": t.apple_id, "kind": "song"},
                    "previews": [{"url": f"https://audio-ssl.itunes.apple.com/preview/{t.apple_id}.m4a"}],
                    "releaseDate": album.release_date if len(album.release_date) == 10 else f"{album.release_date}-01-01",
                    "trackNumber": t.track_number,
                    "url": f"https://music.apple.com/{sf}/album/{album.apple_id}?i={t.apple_id}",
                    **({"contentRating": "explicit"} if t.explicit else {}),
                },
                "relationships": {
                    "albums": {"href": f"/v1/catalog/{sf}/songs/{t.apple_id}/albums",
                               "data": [{"id": album.apple_id, "type": "albums", "href": f"/v1/catalog/{sf}/albums/{album.apple_id}"}]},
                    "artists": {"href": f"/v1/catalog/{sf}/songs/{t.apple_id}/artists",
                                "data": [{"id": artist.apple_id, "type": "artists", "href": f"/v1/catalog/{sf}/artists/{artist.apple_id}"}]},
                },
            })  # fmt: skip
        return hit

    def release_song(self, idx: int, sf: str) -> bytes:
        """A catalog song for a crossworld release on Apple (a single, a compilation, a decoy)."""
        key = (idx, sf)
        hit = self._releases.get(key)
        if hit is None:
            c = self.world.catalog
            r = self.world.cross.releases[idx]
            artist = c.artists[r.artist_idxs[0]]
            hit = self._releases[key] = dumps({
                "id": r.id, "type": "songs", "href": f"/v1/catalog/{sf}/songs/{r.id}",
                "attributes": {
                    "albumName": r.album_name, "artistName": " & ".join(c.artists[a].name for a in r.artist_idxs),
                    "artwork": artwork(r.album_id), "composerName": artist.name, "discNumber": 1,
                    "durationInMillis": r.duration_ms, "genreNames": self.genres(artist.idx), "hasLyrics": True,
                    "isAppleDigitalMaster": False, "isrc": r.isrc, "name": r.name,
                    "playParams": {"id": r.id, "kind": "song"},
                    "previews": [{"url": f"https://audio-ssl.itunes.apple.com/preview/{r.id}.m4a"}],
                    "releaseDate": r.release_date, "trackNumber": r.track_number,
                    "url": f"https://music.apple.com/{sf}/album/{r.album_id}?i={r.id}",
                    **({"contentRating": "explicit"} if r.explicit else {}),
                },
                "relationships": {
                    "albums": {"href": f"/v1/catalog/{sf}/songs/{r.id}/albums",
                               "data": [{"id": r.album_id, "type": "albums", "href": f"/v1/catalog/{sf}/albums/{r.album_id}"}]},
                    "artists": {"href": f"/v1/catalog/{sf}/songs/{r.id}/artists",
                                "data": [{"id": artist.apple_id, "type": "artists", "href": f"/v1/catalog/{sf}/artists/{artist.apple_id}"}]},
                },
            })  # fmt: skip
        return hit

    def song_by_catalog_id(self, song_id: str, sf: str) -> bytes | None:
        """Any catalog song (main catalog or crossworld release) by its id; None when unknown."""
        idx = self.world.catalog.track_by_apple.get(song_id)
        if idx is not None:
            return self.catalog_song(idx, sf)
        release = self.world.cross.release("apple", song_id)
        return self.release_song(release.idx, sf) if release is not None else None

    def library_song(self, song: LibrarySong) -> bytes:
        hit = self._library_songs.get(song.id)
        if hit is None:
            c = self.world.catalog
            if song.release is not None:  # a catalog release a published playlist added to the library
                r = self.world.cross.releases[song.release]
                attrs: dict[str, Any] = {
                    "albumName": r.album_name, "artistName": c.artists[r.artist_idxs[0]].name,
                    "artwork": artwork(r.album_id), "discNumber": 1, "durationInMillis": r.duration_ms,
                    "genreNames": self.genres(r.artist_idxs[0])[:1], "hasLyrics": True, "name": r.name,
                    "playParams": {"id": song.id, "kind": "song", "isLibrary": True, "reporting": True,
                                   "catalogId": r.id, "reportingId": r.id},
                    "releaseDate": r.release_date, "trackNumber": r.track_number,
                    **({"contentRating": "explicit"} if r.explicit else {}),
                }  # fmt: skip
            elif song.upload is not None:
                name, artist_name, album_name, duration = song.upload
                attrs = {
                    "albumName": album_name, "artistName": artist_name, "artwork": artwork(song.id),
                    "durationInMillis": duration, "genreNames": [], "hasLyrics": False, "name": name,
                    "playParams": {"id": song.id, "kind": "song", "isLibrary": True, "reporting": False},
                }  # fmt: skip
            else:
                t = c.tracks[song.track_idx]  # type: ignore[index]
                album = c.albums[t.album_idx]
                attrs = {
                    "albumName": album.name, "artistName": c.artists[t.artist_idxs[0]].name,
                    "artwork": artwork(album.apple_id), "discNumber": t.disc_number,
                    "durationInMillis": t.duration_ms, "genreNames": self.genres(t.artist_idxs[0])[:1],
                    "hasLyrics": t.apple_id is not None, "name": t.name,
                    "playParams": {"id": song.id, "kind": "song", "isLibrary": True, "reporting": True},
                    "releaseDate": album.release_date, "trackNumber": t.track_number,
                }  # fmt: skip
                if t.apple_id is not None:  # a catalog twin exists
                    attrs["playParams"].update({"catalogId": t.apple_id, "reportingId": t.apple_id})
                if t.explicit:
                    attrs["contentRating"] = "explicit"
            hit = self._library_songs[song.id] = dumps(
                {
                    "id": song.id,
                    "type": "library-songs",
                    "href": f"/v1/me/library/songs/{song.id}",
                    "attributes": attrs,
                }
            )
        return hit

    def catalog_album(self, idx: int, sf: str) -> dict:
        c = self.world.catalog
        b = c.albums[idx]
        return {"id": b.apple_id, "type": "albums", "href": f"/v1/catalog/{sf}/albums/{b.apple_id}",
                "attributes": {"artistName": c.artists[b.artist_idxs[0]].name, "artwork": artwork(b.apple_id),
                               "genreNames": self.genres(b.artist_idxs[0]), "isComplete": True,
                               "isSingle": b.album_type == "single", "name": b.name, "recordLabel": b.label,
                               "releaseDate": b.release_date, "trackCount": len(b.track_idxs), "upc": b.upc,
                               "playParams": {"id": b.apple_id, "kind": "album"},
                               "url": f"https://music.apple.com/{sf}/album/{b.apple_id}"}}  # fmt: skip

    def catalog_artist(self, idx: int, sf: str) -> dict:
        a = self.world.catalog.artists[idx]
        return {"id": a.apple_id, "type": "artists", "href": f"/v1/catalog/{sf}/artists/{a.apple_id}",
                "attributes": {"name": a.name, "genreNames": self.genres(idx),
                               "url": f"https://music.apple.com/{sf}/artist/{a.apple_id}"}}  # fmt: skip

    def library_playlist(self, pl: Any) -> dict:
        """A library playlist: `lastModifiedDate` moves on every edit; `versionHash` on few of them."""
        play = {"id": pl.id, "kind": "playlist", "isLibrary": True,
                "globalId": f"pl.u-{ids.base62(ids.digest(pl.id), 14)}"}  # fmt: skip
        if pl.version_hash is not None:
            play["versionHash"] = pl.version_hash
        return {"id": pl.id, "type": "library-playlists", "href": f"/v1/me/library/playlists/{pl.id}",
                "attributes": {"canEdit": pl.can_edit, "dateAdded": ms_to_iso(pl.date_added_ms),
                               "lastModifiedDate": ms_to_iso(pl.modified_ms),
                               "description": {"standard": pl.description}, "hasCatalog": True,
                               "isPublic": pl.is_public, "name": pl.name, "playParams": play}}  # fmt: skip

    # --- plumbing -------------------------------------------------------------------------------

    def _developer(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not self.auth.check_developer_token(header[7:]):
            raise AppleError(401, "40100", "Unauthorized", "Invalid developer token")

    def _handler(self, fn: Callable[..., bytes], needs_user: bool = True) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                self._developer(request)
                user = None
                if needs_user:
                    uid = self.auth.user_for(request.headers.get("music-user-token"))
                    if uid is None:
                        raise forbidden()
                    request.scope["sim.user"] = uid
                    user = self.world.by_uid[uid]
                with self.world.lock:
                    body = fn(request, user) if needs_user else fn(request)
            except AppleError as e:
                return apple_error_response(e.status, e.code, e.title, e.detail, e.parameter)
            return Response(body, 200, None, JSON)

        return endpoint

    @staticmethod
    def _collection(items: list[bytes], next_link: str | None, total: int | None = None) -> bytes:
        out = b'{"data":[' + b",".join(items) + b"]"
        if next_link:
            out += b',"next":"' + next_link.encode() + b'"'
        if total is not None:
            out += b',"meta":{"total":' + str(total).encode() + b"}"
        return out + b"}"

    def _paged(self, path: str, rendered: Callable[[Any], bytes], items: list, limit: int, offset: int,
               extra: str = "") -> bytes:  # fmt: skip
        chunk = items[offset : offset + limit]
        nxt = f"{path}?offset={offset + limit}{extra}" if offset + limit < len(items) else None
        return self._collection([rendered(i) for i in chunk], nxt, len(items))

    # --- endpoints ------------------------------------------------------------------------------

    def library(self, what: str) -> Callable[[Request, SimUser], bytes]:
        def handler(request: Request, user: SimUser) -> bytes:
            limit, offset = _limit(request, 25, 100), _offset(request)
            items = self.world.apple_sorted(user, what)
            if what == "playlists":  # a new playlist is listed only after a few seconds
                now = time.monotonic()
                items = [p for p in items if p.listed_after <= now]
            render: Callable[[Any], bytes]
            if what == "songs":
                render = self.library_song
            elif what == "albums":
                render = self._library_album
            elif what == "artists":
                render = self._library_artist
            else:
                render = self._library_playlist_bytes
            return self._paged(f"/v1/me/library/{what}", render, items, limit, offset)

        return handler

    def _library_artist(self, a: dict) -> bytes:
        return dumps({"id": a["id"], "type": "library-artists", "href": f"/v1/me/library/artists/{a['id']}",
                      "attributes": {"name": a["name"]}})  # fmt: skip

    def _library_playlist_bytes(self, playlist: Any) -> bytes:
        return dumps(self.library_playlist(playlist))

    def _library_album(self, a: dict) -> bytes:
        attrs: dict[str, Any] = {"artistName": a["artist_name"], "artwork": artwork(a["id"]),
                                 "dateAdded": ms_to_iso(a["added_ms"]), "name": a["name"], "trackCount": a["songs"],
                                 "playParams": {"id": a["id"], "kind": "album", "isLibrary": True}}  # fmt: skip
        if a["album_idx"] is not None:
            b = self.world.catalog.albums[a["album_idx"]]
            attrs["genreNames"] = self.genres(b.artist_idxs[0])[:1]
            attrs["releaseDate"] = b.release_date
        else:
            attrs["genreNames"] = []
        return dumps({"id": a["id"], "type": "library-albums", "href": f"/v1/me/library/albums/{a['id']}",
                      "attributes": attrs})  # fmt: skip

    def recently_added(self, request: Request, user: SimUser) -> bytes:
        """Library albums and playlists, most recently added to first; default 10 (max taken as 25)."""
        limit, offset = _limit(request, 10, 25), _offset(request)

        def render(item: tuple[str, Any]) -> bytes:
            kind, obj = item
            return self._library_album(obj) if kind == "library-albums" else self._library_playlist_bytes(obj)

        now = time.monotonic()
        items = [i for i in self.world.apple_sorted(user, "recently_added")
                 if i[0] != "library-playlists" or i[1].listed_after <= now]  # fmt: skip
        chunk = items[offset : offset + limit]
        nxt = (
            f"/v1/me/library/recently-added?offset={offset + limit}" if offset + limit < len(items) else None
        )
        return self._collection([render(i) for i in chunk], nxt)

    def playlist_tracks(self, request: Request, user: SimUser) -> bytes:
        pid = request.path_params["playlist_id"]
        pl = next((p for p in user.apple.playlists if p.id == pid), None)  # type: ignore[union-attr]
        if pl is None or not pl.song_ids:  # Apple answers 404 for an empty playlist's tracks too
            raise AppleError(404, "40400", "Resource Not Found", "Resource with requested id was not found")
        limit, offset = _limit(request, 100, 100), _offset(request)
        songs = [user.apple.songs[s] for s in pl.song_ids]  # type: ignore[union-attr]
        return self._paged(f"/v1/me/library/playlists/{pid}/tracks", self.library_song, songs, limit, offset)

    def recent_tracks(self, request: Request, user: SimUser) -> bytes:
        types = request.query_params.get("types")
        if not types:
            raise AppleError(
                400, "40005", "Invalid Parameter Value", "Parameter 'types' is required", "types"
            )
        wanted = set(types.split(","))
        limit, offset = _limit(request, 30, 30), _offset(request)
        sf = user.apple.storefront  # type: ignore[union-attr]
        items = [(k, i) for k, i in user.apple.recent if k in wanted]  # type: ignore[union-attr]

        def render(item: tuple[str, str]) -> bytes:
            kind, item_id = item
            if kind == "songs":
                return self.catalog_song(self.world.catalog.track_by_apple[item_id], sf)
            return self.library_song(user.apple.songs[item_id])  # type: ignore[union-attr]

        chunk = items[offset : offset + limit]
        nxt = (
            f"/v1/me/recent/played/tracks?offset={offset + limit}&types={types}"
            if offset + limit < len(items)
            else None
        )
        return self._collection([render(i) for i in chunk], nxt)

    def heavy_rotation(self, request: Request, user: SimUser) -> bytes:
        limit, offset = _limit(request, 10, 25), _offset(request)
        sf = user.apple.storefront  # type: ignore[union-attr]
        items = self.world.heavy_rotation(user)

        def render(item: tuple[str, Any]) -> bytes:
            kind, obj = item
            return dumps(self.catalog_album(obj.idx, sf) if kind == "albums" else self.library_playlist(obj))

        chunk = items[offset : offset + limit]
        nxt = (
            f"/v1/me/history/heavy-rotation?offset={offset + limit}" if offset + limit < len(items) else None
        )
        return self._collection([render(i) for i in chunk], nxt)

    @staticmethod
    def included(request: Request, kind: str) -> bool:
        """Whether the request asks for a period summary's `kind` (song, album, artist) in full.

        Apple answers related resources as bare identifiers unless `include` names the relationship:
        plainly (`include=song,artist`, as MusadoraKit sends it) or scoped to the resource type that
        holds it (`include[song-period-summaries]=song`).
        """
        q = request.query_params
        for name in ("include", f"include[{kind}-period-summaries]"):
            if kind in (v.strip() for value in q.getlist(name) for v in value.split(",")):
                return True
        return False

    def music_summaries(self, request: Request, user: SimUser) -> bytes:
        if request.query_params.get("filter[year]") != "latest":
            raise AppleError(
                400, "40005", "Invalid Parameter Value", "filter[year] must be 'latest'", "filter[year]"
            )
        views = [v for v in request.query_params.get("views", "").split(",") if v]
        for v in views:
            if v not in ("top-artists", "top-albums", "top-songs"):
                raise AppleError(400, "40005", "Invalid Parameter Value", f"Unknown view: {v}", "views")
        sf = user.apple.storefront  # type: ignore[union-attr]
        year = self.world.now.year
        summary = self.world.music_summary(user)
        c = self.world.catalog
        out_views: dict[str, Any] = {}
        for v in views:
            kind = v.split("-")[1][:-1]  # artist | album | song
            full = self.included(request, kind)
            data = []
            for rank, idx in enumerate(summary[kind + "s"]):
                if kind == "song":
                    key = c.tracks[idx].apple_id
                    obj = json.loads(self.catalog_song(idx, sf)) if full else None
                elif kind == "album":
                    key = c.albums[idx].apple_id
                    obj = self.catalog_album(idx, sf) if full else None
                else:
                    key = c.artists[idx].apple_id
                    obj = self.catalog_artist(idx, sf) if full else None
                related = obj or {"id": key, "type": f"{kind}s", "href": f"/v1/catalog/{sf}/{kind}s/{key}"}
                data.append({"id": f"year-{year}-{kind}-{key}", "type": f"{kind}-period-summaries",
                             "attributes": {"rank": rank + 1},
                             "relationships": {kind: {"data": [related]}}})  # fmt: skip
            out_views[v] = {"href": f"/v1/me/music-summaries/year-{year}/view/{v}",
                            "attributes": {"title": v.replace("-", " ").title()}, "data": data}  # fmt: skip
        resource = {"id": f"year-{year}", "type": "music-summaries", "href": f"/v1/me/music-summaries/year-{year}",
                    "attributes": {"period": "year", "year": year}, "views": out_views}  # fmt: skip
        return dumps({"data": [resource]})

    def storefront(self, request: Request, user: SimUser) -> bytes:
        sf = user.apple.storefront  # type: ignore[union-attr]
        return dumps({"data": [{"id": sf, "type": "storefronts", "href": f"/v1/storefronts/{sf}",
                                "attributes": {"name": STOREFRONTS.get(sf, sf.upper()), "defaultLanguageTag": "en-US",
                                               "supportedLanguageTags": ["en-US", "es-MX"],
                                               "explicitContentPolicy": "allowed"}}]})  # fmt: skip

    def catalog_songs(self, request: Request) -> bytes:
        sf = request.path_params["storefront"]
        q = request.query_params
        c = self.world.catalog
        if "ids" in q:
            wanted = [i for i in q["ids"].split(",") if i]
            if len(wanted) > 300:
                raise AppleError(400, "40005", "Invalid Parameter Value",
                                 f"Value must be a list of at most 300 ids, but was: {len(wanted)}", "ids")  # fmt: skip
            found = [self.song_by_catalog_id(i, sf) for i in wanted]
            return self._collection([song for song in found if song is not None], None)
        if "filter[isrc]" in q:
            isrcs = [i for i in q["filter[isrc]"].split(",") if i]
            if len(isrcs) > 25:
                raise AppleError(400, "40005", "Invalid Parameter Value",
                                 f"Value must be a list of at most 25 ISRCs, but was: {len(isrcs)}", "filter[isrc]")  # fmt: skip
            data: list[bytes] = []
            meta: dict[str, list] = {}
            for code in isrcs:
                hits = [i for i in c.tracks_by_isrc.get(code.upper(), []) if c.tracks[i].apple_id]
                releases = self.world.cross.with_isrc("apple", code)  # the same recording on other releases
                meta[code] = [{"id": song_id, "type": "songs", "href": f"/v1/catalog/{sf}/songs/{song_id}"}
                              for song_id in [c.tracks[i].apple_id for i in hits] + [r.id for r in releases]]  # fmt: skip
                data.extend(self.catalog_song(i, sf) for i in hits)
                data.extend(self.release_song(r.idx, sf) for r in releases)
            return b'{"data":[' + b",".join(data) + b'],"meta":{"filters":{"isrc":' + dumps(meta) + b"}}}"
        raise AppleError(
            400, "40005", "Invalid Parameter Value", "One of ids or filter[isrc] is required", "ids"
        )

    def catalog_song_by_id(self, request: Request) -> bytes:
        sf, song_id = request.path_params["storefront"], request.path_params["song_id"]
        song = self.song_by_catalog_id(song_id, sf)
        if song is None:
            raise AppleError(404, "40400", "Resource Not Found", "Resource with requested id was not found")
        return self._collection([song], None)

    def routes(self) -> list[Route]:
        h = self._handler
        return [
            Route("/v1/me/library/songs", h(self.library("songs"))),
            Route("/v1/me/library/albums", h(self.library("albums"))),
            Route("/v1/me/library/artists", h(self.library("artists"))),
            Route("/v1/me/library/playlists", h(self.library("playlists"))),
            Route("/v1/me/library/playlists/{playlist_id}/tracks", h(self.playlist_tracks)),
            Route("/v1/me/library/recently-added", h(self.recently_added)),
            Route("/v1/me/recent/played/tracks", h(self.recent_tracks)),
            Route("/v1/me/history/heavy-rotation", h(self.heavy_rotation)),
            Route("/v1/me/music-summaries", h(self.music_summaries)),
            Route("/v1/me/storefront", h(self.storefront)),
            Route("/v1/catalog/{storefront}/songs", h(self.catalog_songs, needs_user=False)),
            Route("/v1/catalog/{storefront}/songs/{song_id}", h(self.catalog_song_by_id, needs_user=False)),
        ]
