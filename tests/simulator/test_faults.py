"""Each fault switch, the rolling-window rate limit and the request log."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from blendify_assets.simulator import Simulator, SimulatorConfig
from tests.simulator.conftest import apple_client, spotify_client


def test_http_errors_fire_count_times(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    with spotify_client(simulator, uid) as client:
        for kind, status in (("http_500", 500), ("http_502", 502), ("http_503", 503)):
            fault = simulator.faults.add("/me/tracks", kind, count=2)
            got = [client.get("/me/tracks").status_code for _ in range(3)]
            assert got == [status, status, 200], kind
            assert fault.hits == 2
        assert client.get("/me/tracks").json()["items"]
        assert simulator.request_log.count("/me/tracks", status=500) == 2
        assert simulator.request_log.filter("/me/tracks", status=502)[0].fault == "http_502"


def test_rate_limit_and_quota(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    with spotify_client(simulator, uid) as client:
        simulator.faults.add("*", "rate_limit", count=1, retry_after=7)
        limited = client.get("/me")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
        simulator.faults.add("/me/top/*", "quota_exceeded", count=1)
        quota = client.get("/me/top/tracks")
        assert quota.status_code == 429
        assert quota.json() == {
            "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
        }
        assert client.get("/me/top/tracks").status_code == 200
    apple_uid = simulator.world.apple_users[0].uid
    with apple_client(simulator, apple_uid) as client:
        simulator.faults.add("/v1/me/library/*", "rate_limit", count=1, retry_after=5)
        apple_limited = client.get("/v1/me/library/songs")
        assert apple_limited.status_code == 429 and "retry-after" not in apple_limited.headers
        assert apple_limited.json()["errors"][0]["status"] == "429"


def test_rolling_window_rate_limit(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    simulator.faults.rate_limit_window(3, window_seconds=0.5, route="/me/playlists")
    with spotify_client(simulator, uid) as client:
        got = [client.get("/me/playlists").status_code for _ in range(4)]
        assert got == [200, 200, 200, 429]
        assert client.get("/me").status_code == 200  # other routes unaffected
        time.sleep(0.55)
        assert client.get("/me/playlists").status_code == 200


def test_latency_and_timeout(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    with spotify_client(simulator, uid) as client:
        simulator.faults.add("/me", "latency", ms=150, count=1)
        started = time.perf_counter()
        assert client.get("/me").status_code == 200
        assert time.perf_counter() - started >= 0.15
        simulator.faults.add("/me/albums", "timeout", count=1, seconds=1.5)
        with pytest.raises(httpx.ReadTimeout):
            client.get("/me/albums", timeout=0.3)
        assert client.get("/me/albums").status_code == 200


def test_malformed_json(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    simulator.faults.add("/me/tracks", "malformed_json", count=1)
    with spotify_client(simulator, uid) as client:
        broken = client.get("/me/tracks")
        assert broken.status_code == 200 and broken.headers["content-type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            broken.json()
        assert client.get("/me/tracks").json()["items"]


def test_revoke_token_fault(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    tokens = simulator.spotify.issue_tokens(uid)
    simulator.faults.add("/me/playlists", "revoke_token", count=1)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{simulator.spotify_api_url}/me/playlists", headers=headers).status_code == 401
    assert httpx.get(f"{simulator.spotify_api_url}/me", headers=headers).status_code == 401
    refresh = httpx.post(
        f"{simulator.spotify_accounts_url}/api/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "c"},
    )
    assert refresh.json()["error"] == "invalid_grant"
    apple_uid = simulator.world.apple_users[0].uid
    simulator.faults.add("/v1/me/*", "revoke_token", count=1, provider="apple")
    with apple_client(simulator, apple_uid) as client:
        assert client.get("/v1/me/library/songs").status_code == 403
        assert client.get("/v1/me/storefront").json()["errors"][0]["code"] == "40300"


def test_probability_is_seeded() -> None:
    def run() -> list[int]:
        config = SimulatorConfig(users=1, profiles=("tiny",), catalog_tracks=3000, profile_mix="tiny")
        with Simulator.running(config) as sim:
            sim.faults.add("*", "http_503", probability=0.5)
            with spotify_client(sim, sim.world.users[0].uid) as client:
                return [client.get("/me").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert 5 < first.count(503) < 25


def test_request_log_and_clear(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    simulator.request_log.clear()
    with spotify_client(simulator, uid) as client:
        client.get("/me/tracks?limit=5")
        client.get("/me/tracks?limit=5&offset=5")
        client.get("/me")
    records = list(simulator.request_log)
    assert [r.path for r in records] == ["/me/tracks", "/me/tracks", "/me"]
    assert (
        records[1].query == "limit=5&offset=5" and records[0].user == uid and records[0].provider == "spotify"
    )
    assert records[0].sim_time == simulator.clock.now()
    assert simulator.request_log.count("/me/tracks") == 2 and simulator.request_log.count("/me") == 3
    assert simulator.request_log.counts_by_path()["/me/tracks"] == 2
    simulator.faults.add("/me", "http_500")
    simulator.faults.clear()
    with spotify_client(simulator, uid) as client:
        assert client.get("/me").status_code == 200
    simulator.request_log.clear()
    assert len(simulator.request_log) == 0
    with pytest.raises(ValueError):
        simulator.faults.add("*", "explode")
