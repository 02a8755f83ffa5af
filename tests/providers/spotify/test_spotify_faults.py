"""Every fault the issue names, injected by the simulator over real HTTP, ends as a user would expect."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from blendify_assets.core.fetch import EndpointFetch, FetchStats, SyncState
from blendify_assets.providers.errors import NeedsReauth, QuotaExceeded, RateLimited, TransientError
from blendify_assets.providers.spotify.auth import (
    SpotifyApp,
    authorize_url,
    code_challenge,
    exchange_code,
    make_code_verifier,
)
from blendify_assets.providers.spotify.client import spotify_http
from blendify_assets.providers.spotify.provider import PROVIDER

ENDPOINTS = {e.name: e for e in PROVIDER.endpoints}

pytestmark = pytest.mark.anyio


async def fetch_endpoint(client, name: str) -> EndpointFetch:
    return await ENDPOINTS[name].fetch(client, SyncState())


def saved_ids(sim, uid: str) -> list[str]:
    return [t["track_id"] for t in sim.world.spotify_truth(uid)["saved_tracks"]]


async def test_429_waits_retry_after_then_completes(sim, uid, spotify_connect) -> None:
    sim.faults.add("/me/tracks", "rate_limit", count=1, retry_after=1)
    client, _ = spotify_connect(sim, uid)
    started = time.monotonic()
    async with client:
        fetch = await fetch_endpoint(client, "saved_tracks")
    assert time.monotonic() - started >= 1.0  # it really waited Retry-After
    assert fetch.stats.rate_limit_waits == 1 and fetch.stats.rate_limit_wait_seconds == 1.0
    assert [r["track_id"] for r in fetch.scopes[0].rows] == saved_ids(sim, uid)


async def test_429_beyond_the_wait_cap_raises_rate_limited(sim, uid, spotify_connect) -> None:
    sim.faults.add("/me/tracks", "rate_limit", retry_after=600)
    client, _ = spotify_connect(sim, uid)
    started = time.monotonic()
    async with client:
        with pytest.raises(RateLimited) as err:
            await fetch_endpoint(client, "saved_tracks")
    assert time.monotonic() - started < 1.0 and err.value.retry_after == 600
    assert "/me/tracks" in str(err.value)


async def test_quota_exceeded_fails_fast(sim, uid, spotify_connect) -> None:
    sim.faults.add("/me/tracks", "quota_exceeded", retry_after=5)
    client, _ = spotify_connect(sim, uid)
    async with client:
        with pytest.raises(QuotaExceeded) as err:
            await fetch_endpoint(client, "saved_tracks")
    assert sim.request_log.count("/me/tracks") == 1  # no waiting, no retry
    assert "QUOTA_EXCEEDED" in str(err.value) and not err.value.retryable


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503", "malformed_json"])
async def test_server_errors_and_malformed_json_are_retried(sim, uid, spotify_connect, kind: str) -> None:
    sim.faults.add("/me/tracks", kind, count=2)
    client, _ = spotify_connect(sim, uid)
    async with client:
        fetch = await fetch_endpoint(client, "saved_tracks")
    assert fetch.stats.retries == 2
    assert [r["track_id"] for r in fetch.scopes[0].rows] == saved_ids(sim, uid)


async def test_persistent_server_errors_end_as_transient_error(
    sim, uid, spotify_connect, fast_policy
) -> None:
    sim.faults.add("/me/albums", "http_503")
    client, source = spotify_connect(sim, uid)
    async with client:
        with pytest.raises(TransientError) as err:
            await fetch_endpoint(client, "saved_albums")
    assert sim.request_log.count("/me/albums") == fast_policy.transient_attempts
    message = str(err.value)
    assert "spotify /me/albums" in message and "503" in message
    assert source.current().access_token not in message


async def test_timeouts_are_retried(sim, uid, spotify_connect) -> None:
    sim.faults.add("/me/following", "timeout", count=1, seconds=3)
    client, _ = spotify_connect(sim, uid, timeout=0.5)
    async with client:
        fetch = await fetch_endpoint(client, "followed_artists")
    assert fetch.stats.retries == 1
    assert len(fetch.scopes[0].rows) == len(sim.world.spotify_truth(uid)["followed_artists"])


async def test_expired_access_token_is_refreshed_once(sim, uid, spotify_connect) -> None:
    client, source = spotify_connect(sim, uid)
    old = source.current().access_token
    sim.spotify.expire_access_tokens(uid)
    async with client:
        fetch = await fetch_endpoint(client, "top_tracks")  # three concurrent requests all get 401
    assert fetch.stats.token_refreshes == 1 and source.refresh_calls == 1
    assert sim.request_log.count("/api/token") == 1
    assert source.current().access_token != old and source.current().refresh_token  # old one kept
    assert [len(s.rows) for s in fetch.scopes] == [
        len(v) for v in sim.world.spotify_truth(uid)["top_tracks"].values()
    ]


async def test_token_near_expiry_is_refreshed_before_the_call(sim, uid, spotify_connect) -> None:
    client, source = spotify_connect(sim, uid, expires_in=30)  # within the 60 s margin
    async with client:
        await fetch_endpoint(client, "recently_played")
    assert sim.request_log.count("/me/player/recently-played", status=401) == 0
    assert source.refresh_calls == 1


async def test_revoked_refresh_token_needs_reauth_without_retry(sim, uid, spotify_connect) -> None:
    client, source = spotify_connect(sim, uid)
    sim.spotify.revoke(uid)
    async with client:
        with pytest.raises(NeedsReauth) as err:
            await fetch_endpoint(client, "saved_tracks")
        with pytest.raises(NeedsReauth):  # later calls fail at once, without asking Spotify again
            await fetch_endpoint(client, "saved_albums")
    assert sim.request_log.count("/api/token") == 1
    assert source.needs_reauth is not None and "invalid_grant" in source.needs_reauth
    tokens = source.current()
    assert tokens.access_token not in str(err.value) and tokens.refresh_token not in str(err.value)


async def test_rotated_refresh_token_is_stored(start_simulator, spotify_connect) -> None:
    with start_simulator(users=1, seed=5, profile_mix="tiny", rotate_refresh_tokens=True) as sim:
        uid = sim.world.spotify_users[0].uid
        client, source = spotify_connect(sim, uid)
        first_refresh = source.current().refresh_token
        sim.spotify.expire_access_tokens(uid)
        async with client:
            await fetch_endpoint(client, "recently_played")
            assert source.current().refresh_token not in (None, first_refresh)
            sim.spotify.expire_access_tokens(uid)
            await fetch_endpoint(client, "recently_played")  # works only with the rotated token
        assert source.refresh_calls == 2 and source.needs_reauth is None


async def test_pkce_authorization_code_flow(sim, uid, fast_policy) -> None:
    app = SpotifyApp(
        "blendify-test", redirect_uri="http://127.0.0.1:9/callback", accounts_url=sim.spotify_accounts_url
    )
    verifier = make_code_verifier()
    url = authorize_url(app, state="s1", challenge=code_challenge(verifier)) + f"&login_hint={uid}"
    async with spotify_http(policy=fast_policy) as http:
        async with httpx.AsyncClient() as browser:
            redirect = await browser.get(url)
        assert redirect.status_code == 302
        query = parse_qs(urlsplit(redirect.headers["location"]).query)
        assert query["state"] == ["s1"]
        tokens = await exchange_code(http, app, code=query["code"][0], verifier=verifier)
        me = await http.request_json(
            "GET", f"{sim.spotify_api_url}/me", stats=FetchStats(),
            headers={"Authorization": f"Bearer {tokens.access_token}"},
        )  # fmt: skip
    assert me["account_id"] == sim.world.spotify_truth(uid)["user"]["account_id"]
    assert tokens.refresh_token
