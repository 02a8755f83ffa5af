"""Shared helpers for the simulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from blendify_assets.simulator import Simulator, SimulatorConfig


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def spotify_client(sim: Simulator, uid: str, **tokens: object) -> httpx.Client:
    access = sim.spotify.issue_tokens(uid, **tokens)["access_token"]  # type: ignore[arg-type]
    return httpx.Client(base_url=sim.spotify_api_url, headers=bearer(access), timeout=10)


def apple_client(sim: Simulator, uid: str) -> httpx.Client:
    headers = {**bearer(sim.apple.developer_token()), "Music-User-Token": sim.apple.issue_user_token(uid)}
    return httpx.Client(base_url=sim.apple_music_api_url, headers=headers, timeout=10)


def follow_spotify(client: httpx.Client, first: str, key: str | None = None) -> list[dict]:
    """Every item of an offset- or cursor-paged Spotify list, following absolute `next` URLs."""
    items: list[dict] = []
    url: str | None = first
    for _ in range(1000):
        if url is None:
            return items
        body = client.get(url).raise_for_status().json()
        page = body[key] if key else body
        items.extend(page["items"])
        url = page["next"]
    raise AssertionError("paging did not end")


@pytest.fixture(scope="module")
def world_sim() -> Iterator[Simulator]:
    """A module-wide simulator with varied users (read-only tests only)."""
    with Simulator.running(SimulatorConfig(users=8, seed=11, catalog_tracks=3_000,
                                           profiles=("medium", "light", "tiny", "tiny"),
                                           profile_mix="tiny")) as sim:  # fmt: skip
        yield sim
