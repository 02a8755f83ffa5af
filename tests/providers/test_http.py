"""The shared HTTP layer: retries, rate limits, quota stops, 401 recovery, the concurrency bound.

The server side is scripted with httpx.MockTransport (our client code runs unmodified); the
simulator-backed tests in tests/providers/spotify/ cover the same faults over real HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Mapping

import httpx
import pytest

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.errors import Forbidden, QuotaExceeded, RateLimited, TransientError
from blendify_assets.providers.http import (
    ClientError,
    HttpClient,
    RetryPolicy,
    Unauthorized,
    decode_json,
)
from blendify_assets.providers.spotify.client import SpotifyProfile

pytestmark = pytest.mark.anyio

SECRET = "BQD-secret-access-token"
FAST = RetryPolicy(
    transient_attempts=4, backoff_initial=0.01, backoff_max=0.05, rate_limit_max_wait=5,
    rate_limit_total_wait=6,
)  # fmt: skip


class Script:
    """Serves queued responses (or raises queued exceptions), then 200 {"ok": true}."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.steps:
            step = self.steps.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        return httpx.Response(200, json={"ok": True})


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class StaticAuth:
    def __init__(self) -> None:
        self.token = SECRET
        self.refreshes = 0

    async def headers(self, stats: FetchStats) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def on_unauthorized(self, sent: Mapping[str, str], stats: FetchStats) -> None:
        self.refreshes += 1
        self.token = SECRET + "-fresh"


def client_for(handler: Callable, sleeps: Sleeps | None = None, concurrency: int = 4) -> HttpClient:
    return HttpClient(
        SpotifyProfile(), policy=FAST, transport=httpx.MockTransport(handler), sleep=sleeps or Sleeps(),
        concurrency=concurrency,
    )  # fmt: skip


async def get(client: HttpClient, stats: FetchStats, auth=None):
    return await client.request_json(
        "GET", "https://api.test/v1/me/tracks", stats=stats, auth=auth or StaticAuth()
    )


def spotify_error(status: int, message: str, reason: str | None = None, **headers: str) -> httpx.Response:
    error = {"status": status, "message": message, **({"reason": reason} if reason else {})}
    return httpx.Response(status, json={"error": error}, headers=headers)


async def test_429_waits_retry_after_then_succeeds() -> None:
    sleeps, stats = Sleeps(), FetchStats()
    script = Script(spotify_error(429, "API rate limit exceeded", **{"Retry-After": "2"}))
    assert await get(client_for(script, sleeps), stats) == {"ok": True}
    assert sleeps.calls == [2.0]
    assert (stats.requests, stats.rate_limit_waits, stats.rate_limit_wait_seconds, stats.retries) == (
        2,
        1,
        2.0,
        0,
    )


async def test_429_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    """Apple never sends Retry-After: waits grow (equal jitter) instead of hammering at a fixed pace."""
    sleeps, stats = Sleeps(), FetchStats()
    script = Script(*[spotify_error(429, "slow down") for _ in range(4)])
    assert await get(client_for(script, sleeps), stats) == {"ok": True}
    assert len(sleeps.calls) == 4 and stats.rate_limit_waits == 4
    for tries, wait in enumerate(sleeps.calls, start=1):
        ceiling = FAST.backoff_initial * 2 ** (tries - 1)
        assert ceiling / 2 <= wait <= ceiling


async def test_429_gives_up_when_total_wait_cap_reached() -> None:
    sleeps, stats = Sleeps(), FetchStats()
    script = Script(*[spotify_error(429, "slow down", **{"Retry-After": "4"}) for _ in range(5)])
    with pytest.raises(RateLimited) as err:
        await get(client_for(script, sleeps), stats)
    assert sleeps.calls == [4.0]  # a second 4 s wait would pass the 6 s total cap
    assert (
        err.value.retry_after == 4.0 and "spotify /v1/me/tracks" in str(err.value) and "429" in str(err.value)
    )


async def test_429_with_retry_after_beyond_the_cap_fails_without_sleeping() -> None:
    sleeps = Sleeps()
    script = Script(spotify_error(429, "slow down", **{"Retry-After": "86400"}))
    with pytest.raises(RateLimited) as err:
        await get(client_for(script, sleeps), FetchStats())
    assert sleeps.calls == [] and err.value.retry_after == 86400


async def test_quota_exceeded_fails_fast() -> None:
    sleeps, stats = Sleeps(), FetchStats()
    script = Script(spotify_error(429, "Too many requests", "QUOTA_EXCEEDED", **{"Retry-After": "1"}))
    with pytest.raises(QuotaExceeded) as err:
        await get(client_for(script, sleeps), stats)
    assert stats.requests == 1 and sleeps.calls == []
    assert "QUOTA_EXCEEDED" in str(err.value) and not err.value.retryable


async def test_5xx_retried_with_bounded_backoff() -> None:
    sleeps, stats = Sleeps(), FetchStats()
    script = Script(spotify_error(502, "Bad gateway"), spotify_error(503, "Service unavailable"))
    assert await get(client_for(script, sleeps), stats) == {"ok": True}
    assert stats.retries == 2 and stats.requests == 3
    assert len(sleeps.calls) == 2 and all(0 <= s <= FAST.backoff_max for s in sleeps.calls)


async def test_5xx_forever_becomes_transient_error_naming_endpoint_not_token() -> None:
    stats = FetchStats()
    script = Script(*[spotify_error(500, "Server error") for _ in range(10)])
    with pytest.raises(TransientError) as err:
        await get(client_for(script), stats)
    assert stats.requests == FAST.transient_attempts
    message = str(err.value)
    assert "spotify" in message and "/v1/me/tracks" in message and "500" in message and SECRET not in message


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.Response(200, content=b"{not json")],
    ids=["timeout", "connection", "bad-json"],
)
async def test_timeouts_connection_errors_and_bad_json_are_retried(failure) -> None:
    stats = FetchStats()
    assert await get(client_for(Script(failure)), stats) == {"ok": True}
    assert stats.retries == 1 and stats.requests == 2


async def test_401_refreshes_once_and_resends() -> None:
    auth, stats = StaticAuth(), FetchStats()
    script = Script(spotify_error(401, "The access token expired"))
    assert await get(client_for(script), stats, auth) == {"ok": True}
    assert auth.refreshes == 1
    assert script.requests[1].headers["Authorization"] == f"Bearer {SECRET}-fresh"


async def test_second_401_is_final() -> None:
    auth = StaticAuth()
    script = Script(spotify_error(401, "Invalid access token"), spotify_error(401, "Invalid access token"))
    with pytest.raises(Unauthorized) as err:
        await get(client_for(script), FetchStats(), auth)
    assert auth.refreshes == 1 and SECRET not in str(err.value)


async def test_403_and_404_are_not_retried() -> None:
    stats = FetchStats()
    with pytest.raises(Forbidden):
        await get(client_for(Script(spotify_error(403, "Forbidden"))), stats)
    with pytest.raises(ClientError) as err:
        await get(client_for(Script(spotify_error(404, "Not found"))), stats)
    assert err.value.status == 404 and stats.requests == 2 and stats.retries == 0


async def test_concurrency_is_bounded() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, content=json.dumps({"ok": True}).encode())

    client = client_for(handler, concurrency=3)
    stats = FetchStats()
    await asyncio.gather(*(get(client, stats) for _ in range(12)))
    assert peak == 3 and stats.requests == 12


async def test_next_links_keep_their_query_string() -> None:
    script = Script()
    client = client_for(script)
    url = "https://api.test/v1/me/playlists?offset=50&limit=50"
    await client.request_json("GET", url, stats=FetchStats(), auth=StaticAuth())
    await client.request_json("GET", url, stats=FetchStats(), params={"market": None}, auth=StaticAuth())
    assert [str(r.url) for r in script.requests] == [url, url]


async def test_nul_characters_never_leave_the_http_layer() -> None:
    body = b'{"items": [{"name": "A\\u0000B", "nested": {"k\\u0000": ["x\\u0000"]}}]}'
    script = Script(httpx.Response(200, content=body))
    got = await get(client_for(script), FetchStats())
    assert got == {"items": [{"name": "AB", "nested": {"k": ["x"]}}]}


async def test_undecodable_text_is_repaired_per_item_not_retried() -> None:
    """Bytes that are not UTF-8 and escaped lone surrogates cost a character each, not the page."""
    sleeps, stats = Sleeps(), FetchStats()
    page = (
        b'{"items":[{"name":"ok"},{"name":"bad \xff byte","album":{"name":"\\ud800"}},'
        b'{"name":"\\udc00 lone"}],"total":3}'
    )
    script = Script(httpx.Response(200, content=page, headers={"content-type": "application/json"}))
    body = await get(client_for(script, sleeps), stats)
    assert [i["name"] for i in body["items"]] == ["ok", "bad \ufffd byte", "\ufffd lone"]
    assert body["items"][1]["album"]["name"] == "\ufffd"
    assert (stats.requests, stats.retries, stats.repaired_items) == (1, 0, 2)


async def test_decoding_a_large_page_runs_no_garbage_collection() -> None:
    """A 2,000-item page is ~30,000 objects and no cycles: with the collector on, decoding it ran
    dozens of collections (with the rest, a third of a heavy sync's client CPU, issue 17)."""
    page = json.dumps(
        {
            "items": [
                {"track": {"id": str(i), "artists": [{"name": "a"}], "images": [{"w": 1}]}}
                for i in range(2000)
            ]
        }
    ).encode()
    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        decoded = decode_json(page)
    finally:
        gc.callbacks.remove(count)
    assert decoded is not None and len(decoded[0]["items"]) == 2000
    assert collections in ([], [0]) and gc.isenabled()  # at most the young one put off till after


async def test_a_waiting_request_is_sent_before_the_previous_page_is_handed_on() -> None:
    """With the connection bound full, the request waiting for a slot goes out as soon as a
    response is read, not after that response has been decoded and parsed by its caller: pages
    arriving together would otherwise keep the provider's concurrency idle for that long."""
    order: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        order.append("sent " + request.url.path[-1])
        await asyncio.sleep(0.01)
        return httpx.Response(200, content=b'{"items": []}')

    client = client_for(handler, concurrency=1)

    async def one(i: int) -> None:
        await client.request_json("GET", f"https://api.test/v1/page/{i}", stats=FetchStats())
        order.append(f"got {i}")  # where a caller decodes and parses the page

    await asyncio.gather(*(one(i) for i in range(3)))
    assert order == ["sent 0", "sent 1", "got 0", "sent 2", "got 1", "got 2"]
