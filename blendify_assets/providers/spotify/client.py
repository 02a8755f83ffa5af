"""A Spotify session for one connection: base URLs, the shared HTTP layer, tokens and /me.

Several `SpotifyClient`s (one per user) can share one `HttpClient`, so the per-provider concurrency
bound and connection pool cover a whole multi-user run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import TokenSource
from blendify_assets.providers.http import (
    ErrorInfo,
    HttpClient,
    Params,
    ProviderProfile,
    ProviderSession,
    RetryPolicy,
    json_body,
)
from blendify_assets.providers.spotify.auth import SpotifyApp, SpotifyAuth
from blendify_assets.providers.spotify.settings import DEFAULT_API_URL

PAGE_LIMIT = 50  # the maximum page size of every endpoint we read (/items included)


class SpotifyProfile(ProviderProfile):
    """Reads Spotify's two error shapes: Web API `{"error": {status, message, reason}}` and
    accounts `{"error": "invalid_grant", "error_description": ...}`."""

    name = "spotify"

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        body = json_body(response)
        if not isinstance(body, dict):
            return ErrorInfo()
        error = body.get("error")
        if isinstance(error, dict):
            reason = error.get("reason") if isinstance(error.get("reason"), str) else None
            message = error.get("message") if isinstance(error.get("message"), str) else None
            return ErrorInfo(code=reason, message=message, quota_exceeded=reason == "QUOTA_EXCEEDED")
        if isinstance(error, str):
            description = body.get("error_description")
            return ErrorInfo(code=error, message=description if isinstance(description, str) else None)
        return ErrorInfo()


def spotify_http(
    *,
    concurrency: int = 8,
    timeout: float = 20.0,
    policy: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpClient:
    """The shared HTTP layer configured for Spotify."""
    return HttpClient(
        SpotifyProfile(), concurrency=concurrency, timeout=timeout, policy=policy, transport=transport
    )


class SpotifyClient(ProviderSession):
    """One user's Spotify session. Use as `async with SpotifyClient(...) as client:`."""

    def __init__(
        self,
        tokens: TokenSource,
        app: SpotifyApp,
        *,
        api_url: str = DEFAULT_API_URL,
        http: HttpClient | None = None,
        concurrency: int = 8,
        timeout: float = 20.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.app = app
        self._owns_http = http is None
        self.http = http or spotify_http(concurrency=concurrency, timeout=timeout, policy=policy)
        self.auth = SpotifyAuth(self.http, app, tokens)
        self._me: dict[str, Any] | None = None
        self._me_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SpotifyClient(api_url={self.api_url!r}, app={self.app!r})"

    def url(self, path_or_url: str) -> str:
        """An absolute URL: paths are joined to the API base; `next` links pass through."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.api_url + "/" + path_or_url.lstrip("/")

    async def get(self, path: str, stats: FetchStats, params: Params | None = None) -> Any:
        """GET a Web API path with auth, retries and counting; returns the JSON body."""
        return await self.request("GET", path, stats, params=params)

    async def request(
        self,
        method: str,
        path: str,
        stats: FetchStats,
        *,
        params: Params | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> Any:
        """Any method on a Web API path (writes send `json` as the body); None for an empty answer."""
        label = "/" + path.lstrip("/") if not path.startswith("http") else None
        return await self.http.request_json(
            method,
            self.url(path),
            params=params,
            json=json,
            stats=stats,
            auth=self.auth,
            label=label,
            idempotent=idempotent,
        )

    async def me(self, stats: FetchStats) -> dict[str, Any]:
        """GET /me, once per session (several endpoints need the user's id)."""
        async with self._me_lock:
            if self._me is None:
                body = await self.get("/me", stats)
                self._me = body if isinstance(body, dict) else {}
            return self._me
