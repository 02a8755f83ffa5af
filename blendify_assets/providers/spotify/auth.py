"""Spotify OAuth: PKCE helpers for `blendify connect spotify`, and token refresh for syncs.

Small functions on httpx rather than authlib/httpx-oauth: the flow is four form fields and a
SHA-256, and routing the token POST through our `HttpClient` gives it the same retries, error
messages and request counts as every other call.

Refresh rules (reference/spotify-web-api.md section 8): refresh when the access token expires within
60 s, or once after a 401; persist through `TokenSource.refresh` (serialised per connection); keep the
old refresh token when none comes back, store a rotated one; `invalid_grant` means the user must
authorise again: mark the connection and stop, no retries.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens, TokenSource
from blendify_assets.providers.errors import NeedsReauth, ProviderError
from blendify_assets.providers.http import ClientError, HttpClient
from blendify_assets.providers.spotify.settings import DEFAULT_ACCOUNTS_URL, SpotifySettings

SCOPES: tuple[str, ...] = (
    "user-read-private",
    "user-top-read",
    "user-read-recently-played",
    "playlist-read-private",
    "playlist-read-collaborative",
    "user-library-read",
    "user-follow-read",
)
REFRESH_MARGIN = timedelta(seconds=60)
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600  # a longer lifetime is a broken response: treat it as unknown


@dataclass(frozen=True)
class SpotifyApp:
    """The OAuth client. No secret = PKCE style (client_id in the form); a secret = Basic auth."""

    client_id: str
    client_secret: str | None = None
    redirect_uri: str | None = None
    accounts_url: str = DEFAULT_ACCOUNTS_URL

    @classmethod
    def from_settings(cls, settings: SpotifySettings, purpose: str = "sync Spotify") -> SpotifyApp:
        """The OAuth client from the settings; SettingsError when SPOTIFY_CLIENT_ID is missing."""
        return cls(
            client_id=settings.require_client_id(purpose),
            client_secret=settings.client_secret,
            redirect_uri=settings.redirect_uri,
            accounts_url=settings.accounts_url,
        )

    def __repr__(self) -> str:
        secret = "<hidden>" if self.client_secret else None
        return (
            f"SpotifyApp(client_id={self.client_id!r}, client_secret={secret}, "
            f"accounts_url={self.accounts_url!r})"
        )

    @property
    def token_url(self) -> str:
        return self.accounts_url.rstrip("/") + "/api/token"

    def client_auth(self, form: dict[str, str]) -> dict[str, str]:
        """Add client authentication: Basic header for a confidential client, else client_id in the form."""
        if self.client_secret:
            raw = f"{self.client_id}:{self.client_secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        form["client_id"] = self.client_id
        return {}


# --- PKCE -------------------------------------------------------------------------------------------------


def make_code_verifier() -> str:
    """86 random URL-safe characters (within PKCE's 43-128 from [A-Za-z0-9-._~])."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    app: SpotifyApp,
    *,
    state: str,
    challenge: str,
    scopes: tuple[str, ...] = SCOPES,
    show_dialog: bool = False,
) -> str:
    """The URL to open in the browser for Authorization Code + PKCE. `show_dialog` makes Spotify ask
    again even if the user already approved the app (so a shared browser can switch accounts)."""
    if not app.redirect_uri:
        raise ValueError("SPOTIFY_REDIRECT_URI is required for the authorization flow")
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge_method": "S256",
        "code_challenge": challenge,
    }
    if show_dialog:
        query["show_dialog"] = "true"
    return app.accounts_url.rstrip("/") + "/authorize?" + urlencode(query)


def tokens_from_response(body: Any, *, previous_refresh: str | None, now: datetime) -> Tokens:
    """Token endpoint JSON -> Tokens, keeping `previous_refresh` when no new one is returned."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ProviderError("spotify /api/token: response has no access_token")
    expires_in = body.get("expires_in")
    expires_at = (  # not NaN, not 1e300; unknown: refreshed after a 401
        now + timedelta(seconds=expires_in)
        if isinstance(expires_in, int | float) and 0 < expires_in <= MAX_EXPIRES_IN
        else None
    )
    refresh = body.get("refresh_token")
    return Tokens(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh,
        expires_at=expires_at,
        scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
    )


async def _post_token(http: HttpClient, app: SpotifyApp, form: dict[str, str], stats: FetchStats) -> Any:
    headers = app.client_auth(form)
    return await http.request_json(
        "POST", app.token_url, data=form, headers=headers, stats=stats, label="/api/token"
    )


async def exchange_code(
    http: HttpClient, app: SpotifyApp, *, code: str, verifier: str, stats: FetchStats | None = None
) -> Tokens:
    """Trade the authorization code (plus the PKCE verifier) for tokens."""
    if not app.redirect_uri:
        raise ValueError("SPOTIFY_REDIRECT_URI is required for the authorization flow")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
    }
    body = await _post_token(http, app, form, stats or FetchStats())
    return tokens_from_response(body, previous_refresh=None, now=datetime.now(UTC))


async def refresh_tokens(http: HttpClient, app: SpotifyApp, current: Tokens, stats: FetchStats) -> Tokens:
    """One refresh_token grant. `invalid_grant` (revoked or 6-month expiry) -> NeedsReauth."""
    if not current.refresh_token:
        raise NeedsReauth("spotify: connection has no refresh token; the user must reconnect Spotify")
    form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
    try:
        body = await _post_token(http, app, form, stats)
    except ClientError as exc:
        if exc.code == "invalid_grant":
            raise NeedsReauth(f"{exc}; the user must reconnect Spotify") from None
        raise
    stats.token_refreshes += 1
    return tokens_from_response(body, previous_refresh=current.refresh_token, now=datetime.now(UTC))


class SpotifyAuth:
    """Bearer headers for one connection, refreshing before expiry and once after a 401.

    An in-process lock stops concurrent requests of this connection from refreshing twice;
    `TokenSource.refresh` does the same across processes. After `invalid_grant` every later call
    fails at once with the same NeedsReauth, without asking Spotify again.
    """

    def __init__(self, http: HttpClient, app: SpotifyApp, source: TokenSource) -> None:
        self._http = http
        self._app = app
        self._source = source
        self._lock = asyncio.Lock()
        self._reauth: NeedsReauth | None = None
        self._tokens: Tokens | None = None

    def __repr__(self) -> str:
        return f"SpotifyAuth(client_id={self._app.client_id!r})"

    def _current(self, *, reload: bool = False) -> Tokens:
        """The tokens, read from the store once per session and again only when they may have
        changed elsewhere (a 401, a refresh): the database store costs a query per read."""
        if reload or self._tokens is None:
            self._tokens = self._source.current()
        return self._tokens

    async def headers(self, stats: FetchStats) -> dict[str, str]:
        tokens = self._current()
        if _expires_soon(tokens):
            tokens = await self.refresh(tokens, stats)
        return {"Authorization": f"Bearer {tokens.access_token}"}

    async def on_unauthorized(self, sent: Mapping[str, str], stats: FetchStats) -> None:
        current = self._current(reload=True)
        if sent.get("Authorization") == f"Bearer {current.access_token}":
            await self.refresh(current, stats)
        # else another request already refreshed: resending with the stored token is enough

    async def refresh(self, stale: Tokens, stats: FetchStats) -> Tokens:
        """Refresh unless someone already replaced `stale`; mark the connection on invalid_grant."""
        if self._reauth is not None:
            raise self._reauth
        async with self._lock:
            if self._reauth is not None:
                raise self._reauth
            current = self._current(reload=True)
            if current.access_token != stale.access_token:
                return current
            tried: list[Tokens] = []

            async def exchange(tokens: Tokens) -> Tokens:
                tried.append(tokens)
                return await refresh_tokens(self._http, self._app, tokens, stats)

            try:
                self._tokens = await self._source.refresh(exchange, stale)
                return self._tokens
            except NeedsReauth as exc:
                self._reauth = exc
                # Only the grant that failed: a re-authorisation since then is left active.
                await asyncio.to_thread(
                    self._source.mark_needs_reauth, str(exc), tried[-1] if tried else current
                )
                raise


def _expires_soon(tokens: Tokens) -> bool:
    return tokens.expires_at is not None and tokens.expires_at - datetime.now(UTC) < REFRESH_MARGIN
