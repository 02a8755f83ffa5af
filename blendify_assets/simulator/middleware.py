"""The layer in front of every provider route: latency, faults and the request log.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware) so that it costs microseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blendify_assets.simulator.apple_api import apple_error_response
from blendify_assets.simulator.apple_auth import AppleAuth
from blendify_assets.simulator.faults import Fault, Faults
from blendify_assets.simulator.jsonenc import dumps
from blendify_assets.simulator.request_log import RequestLog, RequestRecord
from blendify_assets.simulator.spotify_accounts import SpotifyAuth
from blendify_assets.simulator.spotify_api import error_response

PREFIXES = (("/spotify/v1", "spotify"), ("/spotify-accounts", "spotify-accounts"), ("/apple", "apple"))


def classify(path: str) -> tuple[str | None, str]:
    """(provider, path below its base) for a request path; provider None for admin/unknown paths."""
    for prefix, provider in PREFIXES:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return provider, path[len(prefix) :] or "/"
    return None, path


class SimMiddleware:
    def __init__(self, app: ASGIApp, *, faults: Faults, log: RequestLog, spotify: SpotifyAuth, apple: AppleAuth,
                 latency_ms: int, timeout_seconds: float, sim_now: Callable[[], datetime]) -> None:  # fmt: skip
        self.app = app
        self.faults = faults
        self.log = log
        self.spotify = spotify
        self.apple = apple
        self.latency_ms = latency_ms
        self.timeout_seconds = timeout_seconds
        self.sim_now = sim_now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        provider, api_path = classify(path)
        if provider is None:
            await self.app(scope, receive, send)
            return
        started_wall, started = time.time(), time.perf_counter()
        sim_time = self.sim_now()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        decision = self.faults.decide(api_path, path, provider, scope["method"])
        latency = self.latency_ms + decision.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        fault = decision.fault
        if fault is None:
            await self.app(scope, receive, send_status)
        elif fault.after:  # the API does the work; its response is lost on the way back

            async def lost(message: Message) -> None:
                return None

            await self.app(scope, receive, lost)
            response = await self._fault_response(fault, provider, scope)
            await response(scope, receive, send_status)
        else:
            response = await self._fault_response(fault, provider, scope)
            await response(scope, receive, send_status)
        self.log.append(RequestRecord(
            method=scope["method"], path=api_path, query=scope["query_string"].decode("latin-1"), status=status,
            time=started_wall, sim_time=sim_time, provider=provider,
            user=scope.get("sim.user") or self._user(scope, provider), fault=fault.kind if fault else None,
            duration_ms=(time.perf_counter() - started) * 1000,
        ))  # fmt: skip

    def _user(self, scope: Scope, provider: str) -> str | None:
        headers = dict(scope["headers"])
        if provider == "apple":
            token = headers.get(b"music-user-token")
            return self.apple.user_of(token.decode()) if token else None
        auth = headers.get(b"authorization", b"")
        return self.spotify.user_of(auth[7:].decode()) if auth.startswith(b"Bearer ") else None

    async def _fault_response(self, fault: Fault, provider: str, scope: Scope) -> Response:
        apple = provider == "apple"
        kind = fault.kind
        if kind in ("rate_limit", "quota_exceeded"):
            if apple:  # Apple sends no Retry-After
                return apple_error_response(429, "42900", "Too Many Requests", "Rate limit exceeded")
            if kind == "rate_limit":
                headers = {"Retry-After": str(max(1, round(fault.retry_after or 1)))}
                return error_response(429, "API rate limit exceeded", headers)
            quota: dict[str, str] | None = (
                {"Retry-After": str(max(1, round(fault.retry_after)))} if fault.retry_after else None
            )
            return error_response(429, "Too many requests", quota, reason="QUOTA_EXCEEDED")
        if kind.startswith("http_"):
            code = int(kind[5:])
            title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[code]
            if apple:
                return apple_error_response(code, f"{code}00", title, title)
            return error_response(code, title)
        if kind == "timeout":
            await asyncio.sleep(fault.seconds if fault.seconds is not None else self.timeout_seconds)
            return error_response(504, "Gateway Timeout")
        if kind == "malformed_json":
            return Response(
                b'{"href":"x","items":[{"added_at":"2026-01-0', 200, media_type="application/json"
            )
        if kind == "malformed_items":
            if apple:
                items = [{"id": f"i.unreadable{n}", "type": "library-songs"} for n in range(3)]
                return Response(
                    dumps({"data": items, "meta": {"total": 3}}), 200, media_type="application/json"
                )
            body = {"href": scope["path"], "items": [{"unexpected": n} for n in range(3)], "limit": 50,
                    "offset": 0, "total": 3, "next": None, "previous": None}  # fmt: skip
            return Response(dumps(body), 200, media_type="application/json")
        if kind == "revoke_token":
            user = scope.get("sim.user") or self._user(scope, provider)
            if apple:
                if user:
                    self.apple.revoke(user)
                return apple_error_response(403, "40300", "Forbidden", "Invalid authentication")
            if user:
                self.spotify.revoke(user)
            return error_response(401, "Invalid access token")
        raise AssertionError(f"unhandled fault kind {kind}")  # pragma: no cover


def not_found_spotify(scope: Scope, receive: Receive, send: Send) -> Any:
    return error_response(404, "Service not found")(scope, receive, send)


def not_found_apple(scope: Scope, receive: Receive, send: Send) -> Any:
    return apple_error_response(404, "40400", "Resource Not Found", "Resource Not Found")(
        scope, receive, send
    )
