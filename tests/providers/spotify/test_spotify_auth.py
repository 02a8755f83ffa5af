"""Spotify token handling: PKCE helpers, refresh styles, rotation, proactive refresh, invalid_grant."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens
from blendify_assets.providers.errors import NeedsReauth
from blendify_assets.providers.http import RetryPolicy
from blendify_assets.providers.spotify.auth import (
    SCOPES,
    SpotifyApp,
    authorize_url,
    code_challenge,
    exchange_code,
    make_code_verifier,
)
from blendify_assets.providers.spotify.client import SpotifyClient, spotify_http
from blendify_assets.providers.tokens import InMemoryTokenSource

pytestmark = pytest.mark.anyio

ACCESS, REFRESH = "old-access-token-xyz", "old-refresh-token-xyz"
FAST = RetryPolicy(transient_attempts=2, backoff_initial=0.001, backoff_max=0.002)


class FakeSpotify:
    """Accounts + API handler: /api/token issues tokens; /v1/me answers only the current token."""

    def __init__(self, *, rotate: bool = False, revoked: bool = False) -> None:
        self.rotate, self.revoked = rotate, revoked
        self.valid = ACCESS
        self.token_requests: list[httpx.Request] = []
        self.api_requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/token":
            self.token_requests.append(request)
            if self.revoked:
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
                )
            self.valid = f"access-{len(self.token_requests)}"
            body = {
                "access_token": self.valid,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "user-top-read",
            }
            if self.rotate:
                body["refresh_token"] = f"rotated-{len(self.token_requests)}"
            return httpx.Response(200, json=body)
        self.api_requests += 1
        if request.headers.get("Authorization") != f"Bearer {self.valid}":
            return httpx.Response(401, json={"error": {"status": 401, "message": "The access token expired"}})
        return httpx.Response(200, json={"id": "u1", "account_id": "acc-1"})


def make_client(fake: FakeSpotify, tokens: Tokens, *, secret: str | None = None):
    source = InMemoryTokenSource(tokens)
    app = SpotifyApp(client_id="cid", client_secret=secret, accounts_url="https://accounts.test")
    http = spotify_http(policy=FAST, transport=httpx.MockTransport(fake))
    return SpotifyClient(source, app, api_url="https://api.test/v1", http=http), source


def fresh(minutes: float = 30) -> Tokens:
    return Tokens(ACCESS, REFRESH, datetime.now(UTC) + timedelta(minutes=minutes))


def test_pkce_challenge_matches_rfc7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    made = make_code_verifier()
    assert 43 <= len(made) <= 128 and made != make_code_verifier()


def test_authorize_url_asks_for_every_pipeline_scope() -> None:
    app = SpotifyApp("cid", redirect_uri="http://127.0.0.1:8765/callback")
    url = urlsplit(authorize_url(app, state="st", challenge="ch"))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/authorize"
    assert query["scope"].split() == list(SCOPES) and "user-follow-read" in query["scope"]
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] == "ch"
    assert query["response_type"] == "code" and query["state"] == "st"


async def test_exchange_code_sends_verifier_not_secret() -> None:
    fake = FakeSpotify(rotate=True)
    app = SpotifyApp(
        "cid", redirect_uri="http://127.0.0.1:8765/callback", accounts_url="https://accounts.test"
    )
    async with spotify_http(transport=httpx.MockTransport(fake)) as http:
        tokens = await exchange_code(http, app, code="the-code", verifier="v" * 50)
    form = parse_qs(fake.token_requests[0].content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code_verifier"] == ["v" * 50]
    assert form["client_id"] == ["cid"] and "Authorization" not in fake.token_requests[0].headers
    assert tokens.refresh_token == "rotated-1" and tokens.expires_at > datetime.now(UTC)


async def test_pkce_refresh_sends_client_id_and_keeps_refresh_token_when_none_returned() -> None:
    fake = FakeSpotify()
    client, source = make_client(fake, fresh(minutes=0.5))  # expires within 60 s: refresh first
    stats = FetchStats()
    assert (await client.me(stats))["id"] == "u1"
    form = parse_qs(fake.token_requests[0].content.decode())
    assert form == {"grant_type": ["refresh_token"], "refresh_token": [REFRESH], "client_id": ["cid"]}
    assert source.current().refresh_token == REFRESH and source.current().access_token == "access-1"
    assert stats.token_refreshes == 1 and fake.api_requests == 1  # no 401 round trip


async def test_confidential_refresh_uses_basic_auth_and_stores_rotated_token() -> None:
    fake = FakeSpotify(rotate=True)
    client, source = make_client(fake, fresh(minutes=0.5), secret="shh")
    await client.me(FetchStats())
    request = fake.token_requests[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:shh").decode()
    assert "client_secret" not in request.content.decode() and "client_id" not in request.content.decode()
    assert source.current().refresh_token == "rotated-1"


async def test_no_refresh_while_token_is_fresh() -> None:
    fake = FakeSpotify()
    client, source = make_client(fake, fresh(minutes=30))
    await client.me(FetchStats())
    assert fake.token_requests == [] and source.refresh_calls == 0


async def test_the_token_store_is_read_once_per_session_not_per_request() -> None:
    """The database store costs a query (and a decryption) per read: 20 requests, one read."""

    class CountingSource(InMemoryTokenSource):
        reads = 0

        def current(self) -> Tokens:
            CountingSource.reads += 1
            return super().current()

    fake = FakeSpotify()
    source = CountingSource(fresh(minutes=30))
    app = SpotifyApp(client_id="cid", accounts_url="https://accounts.test")
    http = spotify_http(policy=FAST, transport=httpx.MockTransport(fake))
    client = SpotifyClient(source, app, api_url="https://api.test/v1", http=http)
    stats = FetchStats()
    for _ in range(20):
        await client.get("/me", stats)
    assert fake.api_requests == 20 and CountingSource.reads == 1


async def test_401_refreshes_once_even_for_many_concurrent_requests() -> None:
    fake = FakeSpotify()
    fake.valid = "server-side-expired"  # the stored token looks fresh but the server rejects it
    client, source = make_client(fake, fresh(minutes=30))
    stats = FetchStats()
    await asyncio.gather(*(client.get("/me", stats) for _ in range(8)))
    assert len(fake.token_requests) == 1 and source.refresh_calls == 1


async def test_invalid_grant_marks_reauth_and_never_retries() -> None:
    fake = FakeSpotify(revoked=True)
    client, source = make_client(fake, fresh(minutes=0))
    stats = FetchStats()
    results = await asyncio.gather(*(client.get("/me", stats) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, NeedsReauth) for r in results)
    assert len(fake.token_requests) == 1 and fake.api_requests == 0
    assert source.needs_reauth and "invalid_grant" in source.needs_reauth
    message = str(results[0])
    assert "reconnect" in message and REFRESH not in message and ACCESS not in message
    assert not results[0].retryable


def test_secrets_never_in_reprs() -> None:
    tokens = fresh()
    source = InMemoryTokenSource(tokens)
    app = SpotifyApp("cid", client_secret="top-secret")
    client = SpotifyClient(source, app)
    for text in (repr(tokens), str(tokens), repr(source), repr(app), repr(client), repr(client.auth)):
        assert ACCESS not in text and REFRESH not in text and "top-secret" not in text
