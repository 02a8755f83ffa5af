"""Spotify Web API objects as pre-encoded JSON bytes, built once and cached.

Serving a 50-item page then means joining cached fragments, which keeps the simulator far from
being the bottleneck. Development mode (the default) leaves out the fields Spotify removed in
February 2026 (popularity, followers, available_markets, linked_from, label; user email, country,
product, explicit_content); `extended_quota` puts them back.
"""

from __future__ import annotations

from typing import Any

from blendify_assets.simulator import ids
from blendify_assets.simulator.jsonenc import dumps
from blendify_assets.simulator.world import PlaylistEntry, SimUser, SpotifyPlaylist, World, ms_to_iso

OPEN = "https://open.spotify.com"
MARKETS = ["CA", "DE", "FR", "GB", "JP", "SE", "US"]


def images(kind: str, key: str, sizes: tuple[int, ...] = (640, 300, 64)) -> list[dict]:
    h = f"{ids.digest('img', kind, key, size=12):024x}"
    return [
        {"url": f"https://i.scdn.co/image/ab67616d0000{s:04d}{h}", "height": s, "width": s} for s in sizes
    ]


class SpotifyRenderer:
    """Builds and caches JSON fragments for one simulator instance (fixed base URL and mode)."""

    def __init__(self, world: World, base_url: str, extended: bool) -> None:
        self.world = world
        self.base = base_url.rstrip("/")
        self.extended = extended
        self._tracks: dict[int, bytes] = {}
        self._artists: dict[int, bytes] = {}
        self._albums_full: dict[int, bytes] = {}
        self._episodes: dict[tuple[int, bool], bytes] = {}
        self._users: dict[str, bytes] = {}
        self._releases: dict[int, bytes] = {}

    # --- small objects ----------------------------------------------------------------------------

    def simple_artist(self, idx: int) -> dict:
        a = self.world.catalog.artists[idx]
        return {"external_urls": {"spotify": f"{OPEN}/artist/{a.sid}"}, "href": f"{self.base}/artists/{a.sid}",
                "id": a.sid, "name": a.name, "type": "artist", "uri": f"spotify:artist:{a.sid}"}  # fmt: skip

    def simple_album(self, idx: int) -> dict:
        b = self.world.catalog.albums[idx]
        out = {
            "album_type": b.album_type,
            "artists": [self.simple_artist(a) for a in b.artist_idxs],
            "external_urls": {"spotify": f"{OPEN}/album/{b.sid}"},
            "href": f"{self.base}/albums/{b.sid}",
            "id": b.sid,
            "images": images("album", b.sid),
            "name": b.name,
            "release_date": b.release_date,
            "release_date_precision": b.release_date_precision,
            "total_tracks": len(b.track_idxs),
            "type": "album",
            "uri": f"spotify:album:{b.sid}",
        }
        if self.extended:
            out["available_markets"] = MARKETS
        return out

    def track_dict(self, idx: int) -> dict:
        t = self.world.catalog.tracks[idx]
        out = {
            "album": self.simple_album(t.album_idx),
            "artists": [self.simple_artist(a) for a in t.artist_idxs],
            "disc_number": t.disc_number,
            "duration_ms": t.duration_ms,
            "explicit": t.explicit,
            "external_ids": {"isrc": t.spotify_isrc},
            "external_urls": {"spotify": f"{OPEN}/track/{t.sid}"},
            "href": f"{self.base}/tracks/{t.sid}",
            "id": t.sid,
            "is_local": False,
            "name": t.name,
            "preview_url": None,
            "track_number": t.track_number,
            "type": "track",
            "uri": f"spotify:track:{t.sid}",
        }
        if self.extended:
            out["available_markets"] = MARKETS
            out["popularity"] = t.popularity
        return out

    def track(self, idx: int) -> bytes:
        hit = self._tracks.get(idx)
        if hit is None:
            hit = self._tracks[idx] = dumps(self.track_dict(idx))
        return hit

    def release(self, idx: int) -> bytes:
        """A TrackObject for a crossworld release on Spotify (a single, a compilation, a decoy)."""
        hit = self._releases.get(idx)
        if hit is None:
            r = self.world.cross.releases[idx]
            album: dict[str, Any] = {
                "album_type": r.album_type,
                "artists": [self.simple_artist(a) for a in r.artist_idxs],
                "external_urls": {"spotify": f"{OPEN}/album/{r.album_id}"},
                "href": f"{self.base}/albums/{r.album_id}",
                "id": r.album_id,
                "images": images("album", r.album_id),
                "name": r.album_name,
                "release_date": r.release_date,
                "release_date_precision": "day",
                "total_tracks": 1 if r.album_type == "single" else 12,
                "type": "album",
                "uri": f"spotify:album:{r.album_id}",
            }
            out: dict = {
                "album": album,
                "artists": [self.simple_artist(a) for a in r.artist_idxs],
                "disc_number": 1,
                "duration_ms": r.duration_ms,
                "explicit": r.explicit,
                "external_ids": {"isrc": r.isrc},
                "external_urls": {"spotify": f"{OPEN}/track/{r.id}"},
                "href": f"{self.base}/tracks/{r.id}",
                "id": r.id,
                "is_local": False,
                "name": r.name,
                "preview_url": None,
                "track_number": r.track_number,
                "type": "track",
                "uri": f"spotify:track:{r.id}",
            }
            if self.extended:
                album["available_markets"] = MARKETS
                out["available_markets"] = MARKETS
                out["popularity"] = 20
            hit = self._releases[idx] = dumps(out)
        return hit

    def artist(self, idx: int) -> bytes:
        hit = self._artists.get(idx)
        if hit is None:
            a = self.world.catalog.artists[idx]
            out = self.simple_artist(idx)
            out["genres"] = list(a.genres)
            out["images"] = images("artist", a.sid)
            if self.extended:
                out["followers"] = {"href": None, "total": a.followers}
                out["popularity"] = a.popularity
            hit = self._artists[idx] = dumps(out)
        return hit

    def album_full(self, idx: int) -> bytes:
        """AlbumObject with the first page (50) of its tracks, as /me/albums embeds it."""
        hit = self._albums_full.get(idx)
        if hit is None:
            b = self.world.catalog.albums[idx]
            out = self.simple_album(idx)
            simple_tracks = []
            for t_idx in b.track_idxs[:50]:
                t = self.track_dict(t_idx)
                for key in ("album", "external_ids", "popularity"):
                    t.pop(key, None)
                simple_tracks.append(t)
            total = len(b.track_idxs)
            href = f"{self.base}/albums/{b.sid}/tracks"
            out.update({
                "copyrights": [{"text": f"℗ {b.release_date[:4]} {b.label}", "type": "P"}],
                "external_ids": {"upc": b.upc},
                "genres": [],  # Spotify: "Deprecated. The array is always empty."
                "tracks": {"href": f"{href}?offset=0&limit=50", "items": simple_tracks, "limit": 50,
                           "next": f"{href}?offset=50&limit=50" if total > 50 else None, "offset": 0,
                           "previous": None, "total": total},
            })  # fmt: skip
            if self.extended:
                out["label"] = b.label
                out["popularity"] = b.popularity
            hit = self._albums_full[idx] = dumps(out)
        return hit

    def episode(self, idx: int, as_track: bool) -> bytes:
        """An EpisodeObject; without additional_types=episode it also carries the undocumented
        `episode: true, track: false` flags, as in the captured real responses."""
        key = (idx, as_track)
        hit = self._episodes.get(key)
        if hit is not None:
            return hit
        ep = self.world.catalog.episodes[idx]
        show = self.world.catalog.shows[ep.show_idx]
        show_obj = {
            "copyrights": [], "description": f"{show.name} by {show.publisher}",
            "explicit": False, "external_urls": {"spotify": f"{OPEN}/show/{show.sid}"},
            "href": f"{self.base}/shows/{show.sid}", "html_description": f"<p>{show.name} by {show.publisher}</p>",
            "id": show.sid, "images": images("show", show.sid), "is_externally_hosted": False,
            "languages": ["en"], "media_type": "audio", "name": show.name,
            "total_episodes": len(show.episode_idxs), "type": "show", "uri": f"spotify:show:{show.sid}",
        }  # fmt: skip
        if self.extended:
            show_obj["available_markets"] = MARKETS
            show_obj["publisher"] = show.publisher
        out: dict = {
            "audio_preview_url": None, "description": ep.description, "duration_ms": ep.duration_ms,
            "explicit": False, "external_urls": {"spotify": f"{OPEN}/episode/{ep.sid}"},
            "href": f"{self.base}/episodes/{ep.sid}", "html_description": f"<p>{ep.description}</p>",
            "id": ep.sid, "images": images("episode", ep.sid), "is_externally_hosted": False,
            "is_playable": True, "language": "en", "languages": ["en"], "name": ep.name,
            "release_date": ep.release_date, "release_date_precision": "day",
            "show": show_obj, "type": "episode", "uri": f"spotify:episode:{ep.sid}",
        }  # fmt: skip
        if as_track:  # the undocumented flags the captured real responses carry
            out["episode"], out["track"] = True, False
        hit = self._episodes[key] = dumps(out)
        return hit

    def local_track(self, entry: PlaylistEntry) -> dict:
        """A local file as Spotify returns it: null ids/hrefs, spotify:local: URI."""
        assert entry.local is not None
        artist, album, title, secs = entry.local
        out = {
            "album": {"album_type": None, "artists": [], "external_urls": {}, "href": None, "id": None,
                      "images": [], "name": album, "release_date": None, "release_date_precision": None,
                      "type": "album", "uri": None},
            "artists": [{"external_urls": {}, "href": None, "id": None, "name": artist, "type": "artist", "uri": None}],
            "disc_number": 0, "duration_ms": secs * 1000, "explicit": False, "external_ids": {},
            "external_urls": {}, "href": None, "id": None, "is_local": True, "name": title,
            "preview_url": None, "track_number": 0, "type": "track", "uri": entry.local_uri,
        }  # fmt: skip
        if self.extended:
            out["album"]["available_markets"] = []  # type: ignore[index]
            out["available_markets"] = []
            out["popularity"] = 0
        return out

    def user_ref(self, spotify_id: str) -> bytes:
        """PlaylistUserObject for added_by."""
        hit = self._users.get(spotify_id)
        if hit is None:
            hit = self._users[spotify_id] = dumps({
                "external_urls": {"spotify": f"{OPEN}/user/{spotify_id}"}, "href": f"{self.base}/users/{spotify_id}",
                "id": spotify_id, "type": "user", "uri": f"spotify:user:{spotify_id}"})  # fmt: skip
        return hit

    def me(self, user: SimUser) -> bytes:
        out = {
            "account_id": user.account_id,
            "display_name": user.display_name,
            "external_urls": {"spotify": f"{OPEN}/user/{user.spotify_id}"},
            "href": f"{self.base}/users/{user.spotify_id}",
            "id": user.spotify_id,
            "images": [],
            "type": "user",
            "uri": f"spotify:user:{user.spotify_id}",
        }
        if self.extended:
            out.update({"country": "US", "email": user.email, "product": "premium",
                        "explicit_content": {"filter_enabled": False, "filter_locked": False},
                        "followers": {"href": None, "total": user.index % 17}})  # fmt: skip
        return dumps(out)

    # --- composite objects ------------------------------------------------------------------------

    def simple_playlist(self, pl: SpotifyPlaylist) -> bytes:
        return dumps(self._playlist_fields(pl))

    def playlist_full(self, pl: SpotifyPlaylist, readable: bool, episodes: bool = False) -> bytes:
        """A PlaylistObject (GET /playlists/{id}, POST /me/playlists): the simple fields, followers
        and, when the user may read the contents, the first page (50) of `items` (also under the
        deprecated `tracks`). Without read access the items field is absent, as in development mode."""
        fields = self._playlist_fields(pl)
        del fields["items"], fields["tracks"]
        fields["followers"] = {"href": None, "total": pl.followers}
        head = dumps(fields)[:-1]
        if not readable:
            return head + b"}"
        chunk = [self.playlist_entry(e, episodes) for e in pl.entries[:50]]
        page = self.page(f"/playlists/{pl.id}/items", chunk, 50, 0, len(pl.entries))
        return head + b',"items":' + page + b',"tracks":' + page + b"}"

    def _playlist_fields(self, pl: SpotifyPlaylist) -> dict:
        total = len(pl.entries)
        href = f"{self.base}/playlists/{pl.id}"
        return {
            "collaborative": pl.collaborative,
            "description": pl.description,
            "external_urls": {"spotify": f"{OPEN}/playlist/{pl.id}"},
            "href": href,
            "id": pl.id,
            "images": [{"url": f"https://mosaic.scdn.co/640/{ids.digest(pl.id, pl.version, size=10):020x}",
                        "height": None, "width": None}] if total else [],
            "items": {"href": f"{href}/items", "total": total},
            "name": pl.name,
            "owner": {"display_name": pl.owner_name, "external_urls": {"spotify": f"{OPEN}/user/{pl.owner_sid}"},
                      "href": f"{self.base}/users/{pl.owner_sid}", "id": pl.owner_sid, "type": "user",
                      "uri": f"spotify:user:{pl.owner_sid}"},
            "primary_color": None,
            "public": pl.public,
            "snapshot_id": pl.snapshot_id,
            "tracks": {"href": f"{href}/tracks", "total": total},
            "type": "playlist",
            "uri": f"spotify:playlist:{pl.id}",
        }  # fmt: skip

    def playlist_entry(self, entry: PlaylistEntry, episodes: bool, item_key: bool = True) -> bytes:
        if entry.kind == "track" and entry.release is not None:
            obj = self.release(entry.release)
        elif entry.kind == "track":
            obj = self.track(entry.ref)  # type: ignore[arg-type]
        elif entry.kind == "episode":
            obj = self.episode(entry.ref, as_track=not episodes)  # type: ignore[arg-type]
        elif entry.kind == "local":
            obj = dumps(self.local_track(entry))
        else:
            obj = b"null"
        head = (
            b'{"added_at":"'
            + ms_to_iso(entry.added_at_ms).encode()
            + b'","added_by":'
            + self.user_ref(entry.added_by)
        )
        local = b"true" if entry.kind == "local" else b"false"
        body = head + b',"is_local":' + local + b',"primary_color":null,'
        if item_key:
            body += b'"item":' + obj + b","
        return body + b'"track":' + obj + b',"video_thumbnail":{"url":null}}'

    def page(
        self, path: str, items: list[bytes], limit: int, offset: int, total: int, query: str = ""
    ) -> bytes:
        """An offset PagingObject; `next`/`previous` are absolute URLs on this simulator."""
        base = f"{self.base}{path}?{query}{'&' if query else ''}"
        nxt = f'"{base}offset={offset + limit}&limit={limit}"' if offset + limit < total else "null"
        prev = f'"{base}offset={max(0, offset - limit)}&limit={limit}"' if offset > 0 else "null"
        return (f'{{"href":"{base}offset={offset}&limit={limit}","items":['.encode() + b",".join(items)
                + f'],"limit":{limit},"next":{nxt},"offset":{offset},"previous":{prev},"total":{total}}}'.encode())  # fmt: skip
