"""/_simulator/*: helpers for demos and other processes (tokens, users, clock). Not a provider API.

They let a process that did not start the simulator (e.g. `blendify demo` against
`blendify simulator serve`) get tokens and move time. They are not logged and never faulted.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from blendify_assets.simulator.apple_auth import AppleAuth
from blendify_assets.simulator.clock import SimClock
from blendify_assets.simulator.spotify_accounts import SpotifyAuth
from blendify_assets.simulator.world import World


def admin_routes(world: World, spotify: SpotifyAuth, apple: AppleAuth, clock: SimClock) -> list[Route]:
    def user_param(request: Request) -> str:
        return request.query_params.get("user") or world.users[0].uid

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def users(request: Request) -> JSONResponse:
        return JSONResponse([{"sim_user_id": u.uid, "email": u.email, "display_name": u.display_name,
                              "spotify": u.on_spotify, "apple": u.on_apple, "profile": u.profile.name}
                             for u in world.users])  # fmt: skip

    async def spotify_tokens(request: Request) -> JSONResponse:
        try:
            return JSONResponse(spotify.issue_tokens(user_param(request)))
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    async def apple_user_token(request: Request) -> JSONResponse:
        try:
            return JSONResponse({"music_user_token": apple.issue_user_token(user_param(request))})
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    async def apple_developer_token(request: Request) -> JSONResponse:
        try:
            return JSONResponse({"developer_token": apple.developer_token(), "team_id": apple.team_id,
                                 "key_id": apple.key_id})  # fmt: skip
        except RuntimeError as exc:
            return JSONResponse({"error": str(exc)}, 400)

    async def advance(request: Request) -> JSONResponse:
        q = request.query_params
        events = clock.advance(days=float(q.get("days", 0)), hours=float(q.get("hours", 0)),
                                   minutes=float(q.get("minutes", 0)))  # fmt: skip
        return JSONResponse({"now": clock.now().isoformat(), "events": events})

    return [
        Route("/health", health),
        Route("/users", users),
        Route("/spotify/tokens", spotify_tokens, methods=["POST"]),
        Route("/apple/user-token", apple_user_token, methods=["POST"]),
        Route("/apple/developer-token", apple_developer_token),
        Route("/clock/advance", advance, methods=["POST"]),
    ]
