"""The Spotify Web API write paths and search, as development-mode apps meet them in 2026.

- `POST /me/playlists` {name, public?, collaborative?, description?} -> 201 and the full playlist
  object. `public` defaults to true and needs `playlist-modify-public`; `public: false` needs
  `playlist-modify-private`; collaborative needs both and `public: false` (400 otherwise). Names need
  not be unique and the call is not idempotent: two creates make two playlists.
- `POST /playlists/{id}/items` {uris, position?} (or `?uris=&position=`, the query wins) -> 201
  {snapshot_id}; at most 100 URIs ("You can add a maximum of 100 tracks per request."), inserted in
  the given order at `position` (0-based) or appended; an unknown id is 400 "Payload contains a
  non-existing ID"; a playlist holds at most 10,000 items (403 past that).
- `PUT /playlists/{id}/items` {uris} replaces everything (at most 100; [] clears) -> 200
  {snapshot_id}; with {range_start, insert_before, range_length?} it reorders instead.
- `DELETE /playlists/{id}/items` {items: [{uri}]} removes every occurrence of each URI -> 200.
- `PUT /playlists/{id}` {name?, description?, public?, collaborative?} -> 200 with no body.
- `GET /playlists/{id}` -> the full playlist object (items only for owners and collaborators;
  Spotify-owned editorial playlists answer 404 in development mode).
- Writes need the playlist's scope (`playlist-modify-public` for a public playlist,
  `playlist-modify-private` for a private one): 403 "Insufficient client scope" without it, 403
  "Forbidden" on someone else's playlist. Every write moves the snapshot_id (details edits too).
- The paths development-mode apps lost in February 2026 answer a bare 403: `POST
  /users/{id}/playlists`, `GET /users/{id}/playlists`, and POST/PUT/DELETE `/playlists/{id}/tracks`
  (extended quota mode keeps them).
- `GET /search?q=…&type=track`: `limit` 1-10 (default 5; more is 400 "Invalid limit"), `offset`
  0-1000; `isrc:` is exact and case-blind, `track:`/`artist:` are fuzzy (see search.py).
- `GET /tracks/{id}` -> the full TrackObject (with `external_ids.isrc`), 404 for an unknown id; the
  batch `GET /tracks?ids=` (at most 50) is a bare 403 for development-mode apps (Feb 2026, reference §9).

Descriptions are stored HTML-escaped, as Spotify returns them. Written playlists are ordinary world
playlists: `/me/playlists`, `/playlists/{id}/items` and the truth read them back. Not simulated:
the snapshot_id lag (~30 s) and `public: false` being ignored now and then (reference §1.1).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blendify_assets.simulator import ids
from blendify_assets.simulator.jsonenc import dumps
from blendify_assets.simulator.search import CatalogSearch
from blendify_assets.simulator.spotify_api import JSON, ApiError, SpotifyApi, error_response
from blendify_assets.simulator.world import PlaylistEntry, SimUser, SpotifyPlaylist

MAX_ITEMS_PER_REQUEST = 100
MAX_PLAYLIST_ITEMS = 10_000
MODIFY_PUBLIC, MODIFY_PRIVATE = "playlist-modify-public", "playlist-modify-private"
SEARCH_TYPES = {"album", "artist", "playlist", "track", "show", "episode", "audiobook"}
TOO_MANY = "You can add a maximum of 100 tracks per request."

Handler = Callable[[Request, SimUser, Any], tuple[int, bytes | None]]


class SpotifyWrites:
    """Write routes and search over the same world, tokens and renderer as `SpotifyApi`."""

    def __init__(self, api: SpotifyApi) -> None:
        self.api = api
        self.world = api.world
        self.r = api.r
        self.search_index = CatalogSearch(api.world)
        self._created = 0

    # --- plumbing -------------------------------------------------------------------------------

    def _route(self, fn: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                user = self.api._user(request)
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw.strip() else None
                except ValueError:
                    raise ApiError(400, "Error parsing json") from None
                with self.world.lock:
                    status, payload = fn(request, user, body)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.headers)
            return Response(payload, status, None, JSON if payload is not None else None)

        return endpoint

    def _scopes(self, request: Request) -> frozenset[str]:
        return self.api.auth.scopes_of(request.headers.get("authorization", "")[7:])

    def _need(self, request: Request, *scopes: str) -> None:
        if not set(scopes) <= self._scopes(request):
            raise ApiError(403, "Insufficient client scope")

    def _playlist(self, request: Request) -> SpotifyPlaylist:
        pl = self.world.playlists.get(request.path_params["playlist_id"])
        if pl is None:
            raise ApiError(404, "Resource not found")
        return pl

    def _editable(self, request: Request, user: SimUser) -> SpotifyPlaylist:
        pl = self._playlist(request)
        if pl.owner_uid != user.uid and not (pl.collaborative and user.uid in pl.collaborators):
            raise ApiError(403, "Forbidden")
        self._need(request, MODIFY_PUBLIC if pl.public else MODIFY_PRIVATE)
        return pl

    def _entries(self, uris: Any, user: SimUser) -> list[PlaylistEntry]:
        """URIs -> playlist entries; 400 for more than 100, a malformed URI or an unknown id."""
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise ApiError(400, "uris must be a list of Spotify URIs")
        if len(uris) > MAX_ITEMS_PER_REQUEST:
            raise ApiError(400, TOO_MANY)
        c, cross, now = self.world.catalog, self.world.cross, self.world.now_ms
        episodes = {e.sid: e.idx for e in c.episodes}
        out: list[PlaylistEntry] = []
        for uri in uris:
            parts = uri.strip().split(":")
            if len(parts) != 3 or parts[0] != "spotify" or parts[1] not in ("track", "episode"):
                raise ApiError(400, f"Invalid track uri: {uri}")
            kind, sid = parts[1], parts[2]
            if kind == "episode":
                if sid not in episodes:
                    raise ApiError(400, "Payload contains a non-existing ID")
                out.append(PlaylistEntry("episode", episodes[sid], now, user.spotify_id))
            elif sid in c.track_by_sid:
                out.append(PlaylistEntry("track", c.track_by_sid[sid], now, user.spotify_id))
            elif (release := cross.release("spotify", sid)) is not None:
                out.append(PlaylistEntry("track", None, now, user.spotify_id, release=release.idx))
            else:
                raise ApiError(400, "Payload contains a non-existing ID")
        return out

    @staticmethod
    def _uris(request: Request, body: Any) -> Any:
        """The `uris` of a request: the query string wins over the body."""
        query = request.query_params.get("uris")
        if query is not None:
            return [u for u in query.split(",") if u.strip()]
        return body.get("uris") if isinstance(body, dict) else None

    def _changed(self, pl: SpotifyPlaylist) -> bytes:
        pl.version += 1
        self.world.change_counter += 1
        return dumps({"snapshot_id": pl.snapshot_id})

    def _dev_mode_gone(self) -> None:
        if not self.world.config.extended_quota:
            raise ApiError(403, "Forbidden")

    # --- playlists ------------------------------------------------------------------------------

    def create(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError(400, "Missing required field: name")
        public, collaborative = body.get("public", True), body.get("collaborative", False)
        if not isinstance(public, bool) or not isinstance(collaborative, bool):
            raise ApiError(400, "public and collaborative must be booleans")
        if collaborative and public:
            raise ApiError(400, "Collaborative playlists can only be private.")
        self._need(request, *((MODIFY_PUBLIC, MODIFY_PRIVATE) if collaborative else
                              (MODIFY_PUBLIC,) if public else (MODIFY_PRIVATE,)))  # fmt: skip
        description = body.get("description")
        pid = ids.spotify_id(self.world.seed, f"published-{user.index}", self._created)
        self._created += 1
        pl = SpotifyPlaylist(
            id=pid,
            name=body["name"],
            description=html.escape(description, quote=False) if isinstance(description, str) else "",
            owner_uid=user.uid,
            owner_sid=user.spotify_id,
            owner_name=user.display_name,
            collaborative=collaborative,
            public=public,
            created_ms=self.world.now_ms,
        )
        self.world.playlists[pid] = pl
        user.spotify.playlists.insert(0, (pid, self.world.now_ms))  # type: ignore[union-attr]
        self.world.change_counter += 1
        return 201, self.r.playlist_full(pl, readable=True)

    def create_for_user(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        """The old `POST /users/{id}/playlists`: 403 in development mode."""
        self._dev_mode_gone()
        if request.path_params["user_id"] != user.spotify_id:
            raise ApiError(403, "You cannot create a playlist for another user")
        return self.create(request, user, body)

    def user_playlists(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        """The old `GET /users/{id}/playlists`: 403 in development mode; public ones otherwise."""
        self._dev_mode_gone()
        owner = self.world.by_spotify_id.get(request.path_params["user_id"])
        if owner is None or owner.spotify is None:
            raise ApiError(404, "Resource not found")
        refs = [pid for pid, _ in owner.spotify.playlists
                if self.world.playlists[pid].owner_uid == owner.uid and self.world.playlists[pid].public]  # fmt: skip
        items = [self.r.simple_playlist(self.world.playlists[pid]) for pid in refs[:50]]
        return 200, self.r.page(f"/users/{owner.spotify_id}/playlists", items, 50, 0, len(refs))

    def get_playlist(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        pl = self._playlist(request)
        if pl.owner_uid is None and not self.world.config.extended_quota:
            raise ApiError(404, "Resource not found")  # Spotify-owned editorial: gone for new apps
        episodes = "episode" in request.query_params.get("additional_types", "").split(",")
        return 200, self.r.playlist_full(pl, self.world.playlist_readable(user, pl), episodes)

    def change_details(self, request: Request, user: SimUser, body: Any) -> tuple[int, None]:
        pl = self._editable(request, user)
        if not isinstance(body, dict):
            raise ApiError(400, "Error parsing json")
        public = body.get("public", pl.public)
        collaborative = body.get("collaborative", pl.collaborative)
        if not isinstance(public, bool) or not isinstance(collaborative, bool):
            raise ApiError(400, "public and collaborative must be booleans")
        if collaborative and public:
            raise ApiError(400, "Collaborative playlists can only be private.")
        self._need(request, MODIFY_PUBLIC if public else MODIFY_PRIVATE)
        if isinstance(body.get("name"), str):
            if not body["name"].strip():
                raise ApiError(400, "Playlist name cannot be empty")
            pl.name = body["name"]
        if isinstance(body.get("description"), str):
            pl.description = html.escape(body["description"], quote=False)
        pl.public, pl.collaborative = public, collaborative
        self._changed(pl)
        return 200, None

    def add_items(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        pl = self._editable(request, user)
        uris = self._uris(request, body)
        if uris is None:
            raise ApiError(400, "No uris provided")
        entries = self._entries(uris, user)
        raw = request.query_params.get("position")
        position: Any = raw if raw is not None else (body.get("position") if isinstance(body, dict) else None)
        if position is None:
            position = len(pl.entries)
        try:
            position = int(position)
        except (TypeError, ValueError):
            raise ApiError(400, "Invalid position") from None
        if not 0 <= position <= len(pl.entries):
            raise ApiError(400, "Index out of bounds")
        if len(pl.entries) + len(entries) > MAX_PLAYLIST_ITEMS:
            raise ApiError(403, "Playlist size limit reached")
        pl.entries[position:position] = entries
        return 201, self._changed(pl)

    def update_items(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        pl = self._editable(request, user)
        uris = self._uris(request, body)
        if uris is not None:  # replace
            pl.entries = self._entries(uris, user)
            return 200, self._changed(pl)
        if not isinstance(body, dict) or "range_start" not in body or "insert_before" not in body:
            raise ApiError(400, "Either uris or range_start and insert_before are required")
        start, before, length = body["range_start"], body["insert_before"], body.get("range_length", 1)
        n = len(pl.entries)
        if not all(isinstance(v, int) for v in (start, before, length)) or not (
            0 <= start < n and 0 <= before <= n and 1 <= length <= n - start
        ):
            raise ApiError(400, "Index out of bounds")
        moved = pl.entries[start : start + length]
        rest = pl.entries[:start] + pl.entries[start + length :]
        at = before if before <= start else before - length
        pl.entries = rest[:at] + moved + rest[at:]
        return 200, self._changed(pl)

    def remove_items(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        pl = self._editable(request, user)
        items = body.get("items", body.get("tracks")) if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("uri"), str) for i in items
        ):
            raise ApiError(400, "items must be a list of {uri} objects")
        if len(items) > MAX_ITEMS_PER_REQUEST:
            raise ApiError(400, "You can remove a maximum of 100 tracks per request.")
        gone = {i["uri"] for i in items}
        truth = self.world._entry_truth  # the entry's URI, as the read side shows it
        pl.entries = [e for pos, e in enumerate(pl.entries) if truth(pos, e)["uri"] not in gone]
        return 200, self._changed(pl)

    def legacy_tracks(self, handler: Handler) -> Handler:
        """`/playlists/{id}/tracks` writes: a bare 403 for development-mode apps since Feb 2026."""

        def wrapped(request: Request, user: SimUser, body: Any) -> tuple[int, bytes | None]:
            self._dev_mode_gone()
            return handler(request, user, body)

        return wrapped

    # --- search ---------------------------------------------------------------------------------

    def search(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        q = request.query_params.get("q", "").strip()
        if not q:
            raise ApiError(400, "No search query")
        types = [t for t in request.query_params.get("type", "").split(",") if t]
        if not types:
            raise ApiError(400, "Missing parameter type")
        if not set(types) <= SEARCH_TYPES:
            raise ApiError(400, "Bad search type field")
        limit = _bounded(request, "limit", 5, 1, 10)
        offset = _bounded(request, "offset", 0, 0, 1000)
        query = f"q={quote(q)}&type={','.join(types)}"
        parts: list[bytes] = []
        for kind in types:
            items: list[bytes] = []
            total = 0
            if kind == "track":
                refs = self.search_index.spotify_tracks(q)
                total = len(refs)
                items = [
                    self.r.track(i) if k == "main" else self.r.release(i)
                    for k, i in refs[offset : offset + limit]
                ]
            parts.append(f'"{kind}s":'.encode() + self.r.page("/search", items, limit, offset, total, query))
        return 200, b"{" + b",".join(parts) + b"}"

    # --- track lookups ---------------------------------------------------------------------------

    def _track_bytes(self, sid: str) -> bytes | None:
        c = self.world.catalog
        if sid in c.track_by_sid:
            return self.r.track(c.track_by_sid[sid])
        release = self.world.cross.release("spotify", sid)
        return self.r.release(release.idx) if release is not None else None

    def get_track(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        """`GET /tracks/{id}`: still open to development-mode apps (one request per track)."""
        found = self._track_bytes(request.path_params["track_id"])
        if found is None:
            raise ApiError(404, "Resource not found")
        return 200, found

    def several_tracks(self, request: Request, user: SimUser, body: Any) -> tuple[int, bytes]:
        """`GET /tracks?ids=`: removed for development-mode apps in Feb 2026 (a bare 403); at most 50
        ids otherwise, an unknown id giving `null` in its place."""
        self._dev_mode_gone()
        wanted = [i for i in request.query_params.get("ids", "").split(",") if i.strip()]
        if not wanted:
            raise ApiError(400, "invalid request")
        if len(wanted) > 50:
            raise ApiError(400, "Too many ids requested")
        items = [self._track_bytes(i) or b"null" for i in wanted]
        return 200, b'{"tracks":[' + b",".join(items) + b"]}"

    # --- routes ---------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        r = self._route
        return [
            Route("/me/playlists", r(self.create), methods=["POST"]),
            Route("/users/{user_id}/playlists", r(self.create_for_user), methods=["POST"]),
            Route("/users/{user_id}/playlists", r(self.user_playlists), methods=["GET"]),
            Route("/playlists/{playlist_id}", r(self.get_playlist), methods=["GET"]),
            Route("/playlists/{playlist_id}", r(self.change_details), methods=["PUT"]),
            Route("/playlists/{playlist_id}/items", r(self.add_items), methods=["POST"]),
            Route("/playlists/{playlist_id}/items", r(self.update_items), methods=["PUT"]),
            Route("/playlists/{playlist_id}/items", r(self.remove_items), methods=["DELETE"]),
            Route("/playlists/{playlist_id}/tracks", r(self.legacy_tracks(self.add_items)), methods=["POST"]),
            Route(
                "/playlists/{playlist_id}/tracks", r(self.legacy_tracks(self.update_items)), methods=["PUT"]
            ),
            Route(
                "/playlists/{playlist_id}/tracks",
                r(self.legacy_tracks(self.remove_items)),
                methods=["DELETE"],
            ),
            Route("/search", r(self.search), methods=["GET"]),
            Route("/tracks", r(self.several_tracks), methods=["GET"]),
            Route("/tracks/{track_id}", r(self.get_track), methods=["GET"]),
        ]


def _bounded(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name}") from None
    if not low <= value <= high:
        raise ApiError(400, f"Invalid {name}")
    return value
