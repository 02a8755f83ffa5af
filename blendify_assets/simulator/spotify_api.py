"""The Spotify Web API endpoints Blendify reads, in their 2026 shapes.

Paging limits follow the reference: 50 everywhere (the deprecated /playlists/{id}/tracks allows
100 and answers 403 in development mode), top lists hold at most 50 items (offset >= 50 gives an
empty page with limit 0), recently played holds only the last 50 plays. Errors use Spotify's
{"error": {"status", "message"}} body.

Recently played with `after=T` returns the `limit` plays closest after T (newest first), so a client
can page forward with `cursors.after`; Spotify does not document which end it returns.

Writes (create playlist, add / replace items, details), `GET /playlists/{id}` and search live in
spotify_publish.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blendify_assets.simulator.jsonenc import dumps
from blendify_assets.simulator.spotify_accounts import SpotifyAuth
from blendify_assets.simulator.spotify_render import SpotifyRenderer
from blendify_assets.simulator.world import TIME_RANGES, SimUser, World, ms_to_iso

JSON = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return Response(dumps({"error": {"status": status, "message": message, **extra}}), status, headers, JSON)


def _int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name}") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"Invalid {name}")
    return value


class SpotifyApi:
    """Route handlers over the world, the token store and the renderer."""

    def __init__(self, world: World, auth: SpotifyAuth, renderer: SpotifyRenderer) -> None:
        self.world = world
        self.auth = auth
        self.r = renderer

    def _user(self, request: Request) -> SimUser:
        header = request.headers.get("authorization")
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "No token provided")
        uid, problem = self.auth.check(header[7:])
        if uid is None:
            raise ApiError(401, problem or "Invalid access token")
        request.scope["sim.user"] = uid
        return self.world.by_uid[uid]

    def _handler(self, fn: Callable[[Request, SimUser], bytes]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                user = self._user(request)
                with self.world.lock:
                    body = fn(request, user)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.headers)
            return Response(body, 200, None, JSON)

        return endpoint

    # --- endpoints ------------------------------------------------------------------------------

    def me(self, request: Request, user: SimUser) -> bytes:
        return self.r.me(user)

    def top(self, kind: str) -> Callable[[Request, SimUser], bytes]:
        def handler(request: Request, user: SimUser) -> bytes:
            time_range = request.query_params.get("time_range", "medium_term")
            if time_range not in TIME_RANGES:
                raise ApiError(400, "Invalid time range")
            limit = _int(request, "limit", 20, 1, 50)
            offset = _int(request, "offset", 0, 0, None)
            ranking = self.world.top(user, kind, time_range)
            query = f"time_range={time_range}"
            if offset >= 50:  # Spotify keeps 50: past that an empty page with limit 0
                return self.r.page(f"/me/top/{kind}", [], 0, offset, len(ranking), query)
            chosen = ranking[offset : offset + limit]
            render = self.r.track if kind == "tracks" else self.r.artist
            return self.r.page(
                f"/me/top/{kind}", [render(i) for i in chosen], limit, offset, len(ranking), query
            )

        return handler

    def recently_played(self, request: Request, user: SimUser) -> bytes:
        q = request.query_params
        limit = _int(request, "limit", 20, 1, 50)
        after = _int(request, "after", -1, 0, None) if "after" in q else None
        before = _int(request, "before", -1, 0, None) if "before" in q else None
        if after is not None and before is not None:
            raise ApiError(400, "Only one of after or before may be given")
        plays = self.world.visible_plays(user)  # oldest first
        if after is not None:
            newer = [p for p in plays if p[0] > after]
            page = newer[:limit]
            more = len(newer) > limit
        else:
            older = [p for p in plays if before is None or p[0] < before]
            page = older[-limit:] if older else []
            more = len(older) > limit
        page = list(reversed(page))  # newest first
        base = self.r.base
        items = []
        for ms, track, context in page:
            ctx = b"null"
            if context:
                kind, cid = context.split(":")[1:3]
                ctx = dumps({"type": kind, "href": f"{base}/{kind}s/{cid}",
                             "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{cid}"}, "uri": context})  # fmt: skip
            items.append(b'{"track":' + self.r.track(track) + b',"played_at":"' + ms_to_iso(ms, millis=True).encode()
                         + b'","context":' + ctx + b"}")  # fmt: skip
        href = f"{base}/me/player/recently-played?limit={limit}"
        if after is not None:
            href += f"&after={after}"
        elif before is not None:
            href += f"&before={before}"
        nxt = None
        cursors = None
        if page:
            cursors = {"after": str(page[0][0]), "before": str(page[-1][0])}
            if more:
                nxt = (f"{base}/me/player/recently-played?after={page[0][0]}&limit={limit}" if after is not None
                       else f"{base}/me/player/recently-played?before={page[-1][0]}&limit={limit}")  # fmt: skip
        tail = dumps({"next": nxt, "cursors": cursors, "limit": limit, "href": href})
        return b'{"items":[' + b",".join(items) + b"]," + tail[1:]

    def my_playlists(self, request: Request, user: SimUser) -> bytes:
        limit = _int(request, "limit", 20, 1, 50)
        offset = _int(request, "offset", 0, 0, 100_000)
        refs = user.spotify.playlists  # type: ignore[union-attr]
        items = [
            self.r.simple_playlist(self.world.playlists[pid]) for pid, _ in refs[offset : offset + limit]
        ]
        return self.r.page("/me/playlists", items, limit, offset, len(refs))

    def playlist_items(self, request: Request, user: SimUser, deprecated_tracks: bool = False) -> bytes:
        pid = request.path_params["playlist_id"]
        pl = self.world.playlists.get(pid)
        if pl is None:
            raise ApiError(404, "Resource not found")
        if deprecated_tracks and not self.world.config.extended_quota:
            raise ApiError(403, "Forbidden")
        if not self.world.playlist_readable(user, pl):
            raise ApiError(403, "Forbidden")
        limit = _int(
            request, "limit", 20 if not deprecated_tracks else 100, 1, 100 if deprecated_tracks else 50
        )
        offset = _int(request, "offset", 0, 0, None)
        additional = request.query_params.get("additional_types", "")
        episodes = "episode" in additional.split(",")
        chunk = pl.entries[offset : offset + limit]
        items = [self.r.playlist_entry(e, episodes, item_key=not deprecated_tracks) for e in chunk]
        query = f"additional_types={additional}" if additional else ""
        path = f"/playlists/{pid}/{'tracks' if deprecated_tracks else 'items'}"
        return self.r.page(path, items, limit, offset, len(pl.entries), query)

    def saved_tracks(self, request: Request, user: SimUser) -> bytes:
        limit = _int(request, "limit", 20, 1, 50)
        offset = _int(request, "offset", 0, 0, None)
        saved = user.spotify.saved_tracks  # type: ignore[union-attr]
        items = [b'{"added_at":"' + ms_to_iso(ms).encode() + b'","track":' + self.r.track(t) + b"}"
                 for t, ms in saved[offset : offset + limit]]  # fmt: skip
        return self.r.page("/me/tracks", items, limit, offset, len(saved))

    def saved_albums(self, request: Request, user: SimUser) -> bytes:
        limit = _int(request, "limit", 20, 1, 50)
        offset = _int(request, "offset", 0, 0, None)
        saved = user.spotify.saved_albums  # type: ignore[union-attr]
        items = [b'{"added_at":"' + ms_to_iso(ms).encode() + b'","album":' + self.r.album_full(a) + b"}"
                 for a, ms in saved[offset : offset + limit]]  # fmt: skip
        return self.r.page("/me/albums", items, limit, offset, len(saved))

    def following(self, request: Request, user: SimUser) -> bytes:
        if request.query_params.get("type") != "artist":
            raise ApiError(400, "Only valid type is artist")
        limit = _int(request, "limit", 20, 1, 50)
        after = request.query_params.get("after")
        artists = self.world.catalog.artists
        ordered = sorted(artists[a].sid for a in user.spotify.followed)  # type: ignore[union-attr]
        by_sid = {artists[a].sid: a for a in user.spotify.followed}  # type: ignore[union-attr]
        rest = [s for s in ordered if after is None or s > after]
        chunk = rest[:limit]
        base = self.r.base
        nxt = (
            f"{base}/me/following?type=artist&after={chunk[-1]}&limit={limit}" if len(rest) > limit else None
        )
        href = f"{base}/me/following?type=artist&limit={limit}" + (f"&after={after}" if after else "")
        tail = dumps({"next": nxt, "total": len(ordered), "cursors": {"after": chunk[-1] if nxt else None},
                      "limit": limit, "href": href})  # fmt: skip
        items = b",".join(self.r.artist(by_sid[s]) for s in chunk)
        return b'{"artists":{"items":[' + items + b"]," + tail[1:] + b"}"

    def routes(self) -> list[Route]:
        h = self._handler
        return [
            Route("/me", h(self.me)),
            Route("/me/top/tracks", h(self.top("tracks"))),
            Route("/me/top/artists", h(self.top("artists"))),
            Route("/me/player/recently-played", h(self.recently_played)),
            Route("/me/playlists", h(self.my_playlists)),
            Route("/playlists/{playlist_id}/items", h(self.playlist_items)),
            Route(
                "/playlists/{playlist_id}/tracks",
                h(lambda r, u: self.playlist_items(r, u, deprecated_tracks=True)),
            ),
            Route("/me/tracks", h(self.saved_tracks)),
            Route("/me/albums", h(self.saved_albums)),
            Route("/me/following", h(self.following)),
        ]
