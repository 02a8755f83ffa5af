"""An Apple Music session for one connection, on the shared HTTP layer.

Every request carries the developer token; `/v1/me/*` requests also carry the user's
Music-User-Token (MUT). Apple has no refresh: a 403 on `/v1/me/*` marks the connection as needing
re-authorisation and fails at once. A 401 is the developer token's problem: it is re-signed once,
and a second 401 fails with a message naming the settings to check. Apple's 429 carries no
Retry-After, so this layer backs off exponentially with jitter (the shared layer is told to give up
on the first 429 and hand it here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens, TokenSource
from blendify_assets.providers.apple_music.developer_token import DeveloperToken
from blendify_assets.providers.apple_music.settings import DEFAULT_API_URL
from blendify_assets.providers.errors import Forbidden, NeedsReauth
from blendify_assets.providers.http import (
    ErrorInfo,
    HttpClient,
    Params,
    ProviderProfile,
    ProviderSession,
    RetryPolicy,
    Unauthorized,
    json_body,
)

USER_PATHS = "/v1/me/"


class AppleProfile(ProviderProfile):
    """Reads Apple's `{"errors": [{id, title, detail, status, code, source}]}` bodies."""

    name = "apple"

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        body = json_body(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list):
            return ErrorInfo()
        codes: list[str] = []
        messages: list[str] = []
        for error in errors:
            if not isinstance(error, dict):
                continue
            if isinstance(error.get("code"), str):
                codes.append(error["code"])
            words = [error[k] for k in ("title", "detail") if isinstance(error.get(k), str) and error[k]]
            source = error.get("source")
            if isinstance(source, dict) and isinstance(source.get("parameter"), str):
                words.append(f"parameter {source['parameter']}")
            if words:
                messages.append(" - ".join(words))
        return ErrorInfo(code=",".join(codes) or None, message="; ".join(messages) or None)

    def permanent(self, status: int, info: ErrorInfo) -> bool:
        """50001 "Unable to update tracks": the playlist is not editable; a retry fails the same way."""
        return "50001" in (info.code or "").split(",")


# Apple's 429s carry no Retry-After and observed ones recover within 0.5-3.5 s (reference §5): the
# shared layer backs off from 0.5 s, doubling with jitter, for at most 8 tries or 120 s.
APPLE_POLICY = RetryPolicy(
    backoff_initial=0.5, rate_limit_max_wait=30.0, rate_limit_total_wait=120.0, rate_limit_attempts=8
)


def apple_http(
    *,
    concurrency: int = 8,
    timeout: float = 20.0,
    policy: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpClient:
    """The shared HTTP layer configured for Apple."""
    return HttpClient(
        AppleProfile(),
        concurrency=concurrency,
        timeout=timeout,
        policy=policy or APPLE_POLICY,
        transport=transport,
    )


class _AppleAuth:
    """Authorization (developer token) and, for user paths, Music-User-Token headers."""

    def __init__(self, developer: DeveloperToken, user_token: str | None) -> None:
        self._developer = developer
        self._user_token = user_token

    async def headers(self, stats: FetchStats) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._developer.get()}"}
        if self._user_token is not None:
            headers["Music-User-Token"] = self._user_token
        return headers

    async def on_unauthorized(self, sent: Mapping[str, str], stats: FetchStats) -> None:
        rejected = sent.get("Authorization", "").removeprefix("Bearer ")
        self._developer.renew(rejected)
        stats.token_refreshes += 1


class AppleClient(ProviderSession):
    """One user's Apple Music session. Use as `async with AppleClient(...) as client:`."""

    def __init__(
        self,
        tokens: TokenSource,
        developer: DeveloperToken,
        *,
        api_url: str = DEFAULT_API_URL,
        http: HttpClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.developer = developer
        self._tokens = tokens
        self._owns_http = http is None
        self.http = http or apple_http()
        self._user_auth: _AppleAuth | None = None
        self._user_tokens: Tokens | None = None  # the Music-User-Token this session sends
        self._catalog_auth = _AppleAuth(developer, None)
        self._reauth: NeedsReauth | None = None
        self._storefront: str | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AppleClient(api_url={self.api_url!r})"

    async def _auth_for(self, path: str) -> _AppleAuth:
        if not path.startswith(USER_PATHS):
            return self._catalog_auth
        if self._user_auth is None:
            async with self._lock:
                if self._user_auth is None:  # read once: the database source costs a query per call
                    tokens = await asyncio.to_thread(self._tokens.current)
                    self._user_tokens = tokens
                    self._user_auth = _AppleAuth(self.developer, tokens.access_token)
        return self._user_auth

    def split(self, path_or_next: str) -> tuple[str, dict[str, str]]:
        """A root-relative `next` link ('/v1/me/library/songs?offset=100') as (path, query)."""
        parts = urlsplit(path_or_next)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    async def get(self, path: str, stats: FetchStats, params: Params | None = None) -> Any:
        """GET an API path (root-relative, e.g. '/v1/me/storefront'); returns the JSON body.

        Raises NeedsReauth on a 403 from /v1/me/*; 429s are waited out by the shared layer.
        """
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
        """Any method on an API path, with `get`'s auth and error rules; `json` is the request body."""
        if self._reauth is not None and path.startswith(USER_PATHS):
            raise self._reauth
        auth = await self._auth_for(path)
        try:
            return await self.http.request_json(
                method,
                self.api_url + path,
                params=params,
                json=json,
                stats=stats,
                auth=auth,
                label=path,
                idempotent=idempotent,
            )
        except Forbidden as exc:
            if not path.startswith(USER_PATHS):
                raise
            await self._needs_reauth(exc)
            assert self._reauth is not None
            raise self._reauth from None
        except Unauthorized as exc:
            raise Unauthorized(
                f"{exc}: Apple rejected the developer token even after re-signing it; check "
                "APPLE_MUSIC_TEAM_ID, APPLE_MUSIC_KEY_ID and APPLE_MUSIC_PRIVATE_KEY_PATH "
                "(on /v1/me paths a 401 can also mean the user has no Apple Music subscription)"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _needs_reauth(self, exc: Forbidden) -> None:
        """Mark the connection once, however many requests were refused at the same time."""
        async with self._lock:
            if self._reauth is not None:
                return
            self._reauth = NeedsReauth(
                f"{exc}: Apple refused the Music-User-Token (it expired or was revoked, and Apple has "
                "no refresh); the user must connect Apple Music again"
            )
            if self._user_tokens is not None:  # only the token Apple refused: a new one stays active
                await asyncio.to_thread(self._tokens.mark_needs_reauth, str(exc), self._user_tokens)

    async def storefront(self, stats: FetchStats) -> str:
        """The user's storefront ('us'), once per session: catalog paths embed it."""
        if self._storefront is None:
            body = await self.get("/v1/me/storefront", stats)
            data = body.get("data") if isinstance(body, dict) else None
            first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
            storefront = first.get("id")
            self._storefront = storefront if isinstance(storefront, str) and storefront else "us"
        return self._storefront
