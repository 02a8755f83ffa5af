"""Fixtures for tests that talk to the simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from blendify_assets.core.fetch import EndpointFetch, SyncState
from blendify_assets.providers.http import RetryPolicy
from blendify_assets.providers.spotify.auth import SpotifyApp, tokens_from_response
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.spotify.provider import PROVIDER
from blendify_assets.providers.tokens import InMemoryTokenSource

ENDPOINTS = {e.name: e for e in PROVIDER.endpoints}

try:
    from blendify_assets.simulator import Simulator, SimulatorConfig
except ImportError:  # the simulator is optional for the parser and HTTP-layer tests
    Simulator = SimulatorConfig = None  # type: ignore[assignment,misc]

FAST = RetryPolicy(
    transient_attempts=4, backoff_initial=0.01, backoff_max=0.05, rate_limit_max_wait=2,
    rate_limit_total_wait=3,
)  # fmt: skip


def start(**config: Any):
    if Simulator is None:
        pytest.skip("blendify_assets.simulator does not export Simulator yet")
    return Simulator.running(SimulatorConfig(**config))


@pytest.fixture
def sim() -> Iterator[Any]:
    """A fresh small world per test (tests change it: clock, faults, revocations)."""
    with start(users=2, seed=11, profile_mix="tiny") as running:
        yield running


def connect(
    sim: Any,
    uid: str,
    *,
    policy: RetryPolicy = FAST,
    timeout: float = 5.0,
    concurrency: int = 8,
    expires_in: int | None = None,
):
    """A SpotifyClient for `uid` with freshly issued simulator tokens, and its token source."""
    issued = sim.spotify.issue_tokens(uid, expires_in=expires_in)
    source = InMemoryTokenSource(tokens_from_response(issued, previous_refresh=None, now=datetime.now(UTC)))
    app = SpotifyApp(client_id="blendify-test", accounts_url=sim.spotify_accounts_url)
    client = SpotifyClient(
        source, app, api_url=sim.spotify_api_url, policy=policy, timeout=timeout, concurrency=concurrency
    )
    return client, source


def first_user(sim: Any) -> str:
    return sim.world.spotify_users[0].uid


@pytest.fixture
def spotify_connect():
    """`spotify_connect(sim, uid, **options) -> (SpotifyClient, InMemoryTokenSource)`."""
    return connect


@pytest.fixture
def uid(sim: Any) -> str:
    """The first Spotify user of the `sim` world."""
    return first_user(sim)


@pytest.fixture
def start_simulator():
    """`with start_simulator(**SimulatorConfig fields) as sim:` for tests that need their own world."""
    return start


@pytest.fixture
def fast_policy() -> RetryPolicy:
    """The millisecond retry timings the simulator tests use."""
    return FAST


@pytest.fixture
def fetch_all(playlist_refs):
    """`await fetch_all(client, states=None)`: every endpoint of one user, one after another, playlist
    tracks reading the playlists just fetched (what one sync of every step does)."""

    async def _fetch_all(
        client: SpotifyClient, states: dict[str, SyncState] | None = None
    ) -> dict[str, EndpointFetch]:
        states = states or {}
        results: dict[str, EndpointFetch] = {}
        for name, endpoint in ENDPOINTS.items():
            state = states.get(name) or SyncState()
            if name == "playlist_tracks":
                state.playlists = playlist_refs(results["playlists"].scopes[0].rows)
            results[name] = await endpoint.fetch(client, state)
        return results

    return _fetch_all
