"""The Apple Music API write paths and catalogue search, as the official host answers them in 2026.

Apple's API can create library playlists and append tracks to them, nothing else (reference:
publishing-and-history.md §1.2):

- `POST /v1/me/library/playlists` {attributes: {name, description?, isPublic?}, relationships?:
  {tracks: {data: [{id, type}]}}} -> 201 {data: [the library playlist]}. Tracks are optional.
- `POST /v1/me/library/playlists/{id}/tracks` {data: [{id, type}]} -> 204, appended to the end
  (there is no position). `type` is `songs` (a catalog id) or `library-songs` (an `i.` id); a
  reference WITHOUT `type` is answered 204 and silently dropped, as observed live. Catalog songs
  added to a playlist enter the user's library too (the playlist then lists `i.` library songs).
  Writing to a playlist the user cannot edit (`canEdit: false`: Apple-curated, Favorite Songs,
  collaborative) is 500 with code 50001 "Unable to update tracks", not 403.
- DELETE, PUT and PATCH on a library playlist or its tracks are 401: only the web player's private
  host does them.
- `GET /v1/me/library/playlists/{id}` answers at once, but a new playlist appears in
  `GET /v1/me/library/playlists` (and recently added) only `apple_listing_delay_seconds` later
  (wall time; observed 4-9 s), so "list, then create if missing" makes duplicates.
- `GET /v1/catalog/{sf}/search?term=…&types=songs`: `limit` 1-25 (default 5), fuzzy (search.py).

The per-request track cap of the append is undocumented (the community says 100) and not enforced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blendify_assets.simulator import ids
from blendify_assets.simulator.apple_api import (
    JSON,
    AppleApi,
    AppleError,
    _limit,
    _offset,
    apple_error_response,
    forbidden,
)
from blendify_assets.simulator.jsonenc import dumps
from blendify_assets.simulator.search import CatalogSearch
from blendify_assets.simulator.world import ApplePlaylist, LibrarySong, SimUser, World

Handler = Callable[[Request, SimUser, Any], tuple[int, bytes | None]]


def add_library_playlist(world: World, user: SimUser, name: str, description: str = "", *, is_public: bool = False,
                         can_edit: bool = True, listed_after: float = 0.0) -> ApplePlaylist:  # fmt: skip
    """A new, empty library playlist of `user` (the create route; tests use it for canEdit:false ones)."""
    assert user.apple is not None
    with world.lock:
        pid = ids.apple_library_id(world.seed, "p", user.index, "published", len(user.apple.playlists))
        pl = ApplePlaylist(id=pid, name=name, description=description, song_ids=[], date_added_ms=world.now_ms,
                           is_public=is_public, modified_ms=world.now_ms, can_edit=can_edit,
                           listed_after=listed_after)  # fmt: skip
        user.apple.playlists.append(pl)
        user.apple.version += 1
        world.change_counter += 1
        return pl


class AppleWrites:
    """Write routes and catalogue search over the same world and auth as `AppleApi`."""

    def __init__(self, api: AppleApi) -> None:
        self.api = api
        self.world = api.world
        self.search_index = CatalogSearch(api.world)

    # --- plumbing -------------------------------------------------------------------------------

    def _route(self, fn: Handler, needs_user: bool = True) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                self.api._developer(request)
                user = None
                if needs_user:
                    uid = self.api.auth.user_for(request.headers.get("music-user-token"))
                    if uid is None:
                        raise forbidden()
                    request.scope["sim.user"] = uid
                    user = self.world.by_uid[uid]
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw.strip() else None
                except ValueError:
                    raise AppleError(
                        400, "40001", "Invalid Request Body", "The request body is not valid JSON"
                    ) from None
                with self.world.lock:
                    status, payload = fn(request, user, body)  # type: ignore[arg-type]
            except AppleError as e:
                return apple_error_response(e.status, e.code, e.title, e.detail, e.parameter)
            return Response(payload, status, None, JSON if payload is not None else None)

        return endpoint

    def _playlist(self, request: Request, user: SimUser) -> ApplePlaylist:
        pid = request.path_params["playlist_id"]
        pl = next((p for p in user.apple.playlists if p.id == pid), None)  # type: ignore[union-attr]
        if pl is None:
            raise AppleError(404, "40400", "Resource Not Found", "Resource with requested id was not found")
        return pl

    def _library_ids(self, user: SimUser, refs: Any) -> list[str]:
        """Track references -> the user's library song ids, adding catalog songs to the library.

        References without `type` are dropped without a word (Apple answers 2xx and adds nothing).
        """
        if not isinstance(refs, list):
            raise AppleError(400, "40005", "Invalid Parameter Value", "data must be a list of {id, type}")
        lib = user.apple
        assert lib is not None
        c, cross, now = self.world.catalog, self.world.cross, self.world.now_ms
        out: list[str] = []
        for ref in refs:
            if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
                raise AppleError(400, "40005", "Invalid Parameter Value", "each track needs an id")
            kind, song_id = ref.get("type"), ref["id"]
            if kind is None:
                continue
            if kind == "library-songs":
                if song_id not in lib.songs:
                    raise AppleError(
                        404, "40400", "Resource Not Found", f"Library song {song_id} was not found"
                    )
                out.append(song_id)
                continue
            if kind != "songs":
                raise AppleError(400, "40005", "Invalid Parameter Value", f"Unsupported type: {kind}")
            track = c.track_by_apple.get(song_id)
            release = cross.release("apple", song_id) if track is None else None
            if track is None and release is None:
                raise AppleError(404, "40400", "Resource Not Found", f"Song {song_id} was not found")
            key = ("t", track) if track is not None else ("x", release.idx)  # type: ignore[union-attr]
            lib_id = ids.apple_library_id(self.world.seed, "i", user.index, *key)
            if lib_id not in lib.songs:
                lib.songs[lib_id] = LibrarySong(lib_id, track, None, now, release.idx if release else None)
                lib.version += 1
            out.append(lib_id)
        return out

    # --- playlists ------------------------------------------------------------------------------

    def create(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        attrs = body.get("attributes") if isinstance(body, dict) else None
        name = attrs.get("name") if isinstance(attrs, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise AppleError(400, "40005", "Invalid Parameter Value", "attributes.name is required")
        description = attrs.get("description", "") if isinstance(attrs, dict) else ""
        tracks = ((body.get("relationships") or {}).get("tracks") or {}).get("data", [])
        song_ids = self._library_ids(user, tracks)
        delay = self.world.config.apple_listing_delay_seconds
        pl = add_library_playlist(self.world, user, name, description if isinstance(description, str) else "",
                                  is_public=bool(attrs.get("isPublic", False)),  # type: ignore[union-attr]
                                  listed_after=time.monotonic() + delay)  # fmt: skip
        if song_ids:
            pl.song_ids.extend(song_ids)
            pl.edited(self.world.now_ms)
        return 201, dumps({"data": [self.api.library_playlist(pl)]})

    def get_playlist(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        return 200, dumps({"data": [self.api.library_playlist(self._playlist(request, user))]})

    def append(self, request: Request, user: SimUser, body: Any) -> tuple[int, None]:
        pl = self._playlist(request, user)
        if not pl.can_edit:
            raise AppleError(500, "50001", "Unable to update tracks", "Unable to update tracks")
        song_ids = self._library_ids(user, body.get("data") if isinstance(body, dict) else None)
        if song_ids:
            pl.song_ids.extend(song_ids)
            pl.edited(self.world.now_ms)
            user.apple.version += 1  # type: ignore[union-attr]
            self.world.change_counter += 1
        return 204, None

    def not_on_this_host(self, request: Request, user: SimUser, body: Any) -> tuple[int, None]:
        """Rename, reorder, remove and delete exist only on the web player's private host."""
        raise AppleError(401, "40100", "Unauthorized", "Unauthorized")

    # --- search ---------------------------------------------------------------------------------

    def search(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        sf = request.path_params["storefront"]
        term = request.query_params.get("term", "")
        if not term.strip():
            raise AppleError(400, "40005", "Invalid Parameter Value", "Parameter 'term' is required", "term")
        types = [t for t in request.query_params.get("types", "").split(",") if t]
        if not types:
            raise AppleError(
                400, "40005", "Invalid Parameter Value", "Parameter 'types' is required", "types"
            )
        limit, offset = _limit(request, 5, 25), _offset(request)
        results: dict[str, bytes] = {}
        if "songs" in types:
            refs = self.search_index.apple_songs(term)
            chunk = refs[offset : offset + limit]
            data = [
                self.api.catalog_song(i, sf) if k == "main" else self.api.release_song(i, sf)
                for k, i in chunk
            ]
            path = f"/v1/catalog/{sf}/search?term={quote(term)}&types=songs&limit={limit}"
            out = b'{"href":"' + f"{path}&offset={offset}".encode() + b'"'
            if offset + limit < len(refs):
                out += b',"next":"' + f"{path}&offset={offset + limit}".encode() + b'"'
            results["songs"] = out + b',"data":[' + b",".join(data) + b"]}"
        order = list(results)
        inner = b",".join(f'"{k}":'.encode() + v for k, v in results.items())
        meta = dumps({"results": {"order": order, "rawOrder": order}})
        return 200, b'{"results":{' + inner + b'},"meta":' + meta + b"}"

    # --- routes ---------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        r = self._route
        gone = ["DELETE", "PUT", "PATCH"]
        return [
            Route("/v1/me/library/playlists", r(self.create), methods=["POST"]),
            Route("/v1/me/library/playlists/{playlist_id}", r(self.get_playlist), methods=["GET"]),
            Route("/v1/me/library/playlists/{playlist_id}", r(self.not_on_this_host), methods=gone),
            Route("/v1/me/library/playlists/{playlist_id}/tracks", r(self.append), methods=["POST"]),
            Route("/v1/me/library/playlists/{playlist_id}/tracks", r(self.not_on_this_host), methods=gone),
            Route("/v1/catalog/{storefront}/search", r(self.search, needs_user=False), methods=["GET"]),
        ]
