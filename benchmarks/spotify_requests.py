"""Spotify provider layer: request economy and wall time for a heavy user, against the simulator.

Prints one JSON line:
- full_requests_ratio: requests of a full fetch of the 8 endpoints (+ /me) / the minimum possible
  (per endpoint ceil(total/50) pages at the maximum page size, one /me). Target 1.00.
- refetch_requests_ratio: requests of a re-fetch with nothing changed (feeding back the versions and
  last_played_at of the first fetch) / the full fetch. Target <= 0.15.
- wall_ratio: wall time of the full fetch with 50 ms simulated latency (median and range over
  `--repeats`, with the client's CPU seconds beside it) / the critical-path lower bound. Target <= 1.3. naive_wall_ratio: the same for a client that follows
  `next` links one by one, measured in the same run.

The lower bound is latency x max(longest chain of dependent requests, ceil(requests / concurrency)):
no schedule can beat either, given the per-provider concurrency bound.

Run: python benchmarks/spotify_requests.py [--concurrency 8] [--latency-ms 50] [--repeats 3] [--profile f.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import multiprocessing
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from _fetch import fetch_all_spotify
from _measure import Report, add_options, profiled, spread, timed

from blendify_assets.core.fetch import FetchStats, SyncState
from blendify_assets.providers.errors import Forbidden
from blendify_assets.providers.spotify.auth import SpotifyApp, tokens_from_response
from blendify_assets.providers.spotify.client import SpotifyClient, spotify_http
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator import Simulator, SimulatorConfig

PAGE = 50


def minimal_requests(truth: dict[str, Any]) -> tuple[int, int]:
    """(fewest requests for a full fetch, longest chain of requests that must run one after another)."""

    def pages(n: int) -> int:
        return max(1, math.ceil(n / PAGE))

    readable = [p for p in truth["playlists"] if p["readable"]]
    counts = {
        "me": 1,
        "top": 6,  # 3 time ranges x (<= 50 items)
        "recently_played": 1,
        "playlists": pages(len(truth["playlists"])),
        "playlist_tracks": sum(pages(p["total"]) for p in readable),
        "saved_tracks": pages(len(truth["saved_tracks"])),
        "saved_albums": pages(len(truth["saved_albums"])),
        "followed_artists": pages(len(truth["followed_artists"])),
    }
    offset_chain = lambda n: 1 if pages(n) == 1 else 2  # noqa: E731 - first page, then the rest at once
    longest_playlist = max((p["total"] for p in readable), default=0)
    chain = max(
        offset_chain(len(truth["saved_tracks"])),
        offset_chain(len(truth["saved_albums"])),
        pages(len(truth["followed_artists"])),  # cursor paging is sequential by nature
        offset_chain(len(truth["playlists"])) + (offset_chain(longest_playlist) if readable else 0),
    )
    return sum(counts.values()), chain


def _client(sim: dict[str, Any], tokens: dict, http: Any) -> SpotifyClient:
    source = InMemoryTokenSource(tokens_from_response(tokens, previous_refresh=None, now=datetime.now(UTC)))
    app = SpotifyApp(client_id="blendify-bench", accounts_url=sim["accounts_url"])
    return SpotifyClient(source, app, api_url=sim["api_url"], http=http)


def refetch_states(results: dict[str, Any]) -> dict[str, SyncState]:
    """The SyncState an ingest engine would read back after storing `results`."""
    states: dict[str, SyncState] = {}
    for name, fetch in results.items():
        versions = {s.scope: s.version for s in fetch.scopes if s.version is not None}
        state = SyncState(scope_versions=versions)
        if fetch.events:
            state.last_played_at = max(row["played_at"] for row in fetch.events)
        states[name] = state
    return states


async def naive_fetch(client: SpotifyClient) -> int:
    """A client that reads every list by following `next` links, one request at a time."""
    stats = FetchStats()

    async def follow(path: str, params: dict[str, Any], unwrap: str | None = None) -> list[Any]:
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = {**params, "limit": PAGE}
        while url:
            body = await client.get(url, stats, query)
            page = body[unwrap] if unwrap else body
            items.extend(page.get("items") or [])
            url, query = page.get("next"), None
            if not page.get("items"):
                break
        return items

    me = await client.get("/me", stats)
    for time_range in ("short_term", "medium_term", "long_term"):
        await follow("/me/top/tracks", {"time_range": time_range})
        await follow("/me/top/artists", {"time_range": time_range})
    await client.get("/me/player/recently-played", stats, {"limit": PAGE})
    playlists = await follow("/me/playlists", {})
    for playlist in playlists:
        if playlist["owner"]["id"] == me["id"] or playlist.get("collaborative"):
            with contextlib.suppress(Forbidden):  # a naive client shrugs off a forbidden playlist
                await follow(f"/playlists/{playlist['id']}/items", {"additional_types": "track,episode"})
    await follow("/me/tracks", {})
    await follow("/me/albums", {})
    await follow("/me/following", {"type": "artist"}, unwrap="artists")
    return stats.requests


def serve(config: SimulatorConfig, conn: Connection) -> None:
    """Child process: run the simulator, hand over what the client needs, wait to be told to stop."""
    with Simulator.running(config) as sim:
        uid = sim.world.spotify_users[0].uid
        conn.send(
            {
                "api_url": sim.spotify_api_url,
                "accounts_url": sim.spotify_accounts_url,
                "truth": sim.world.spotify_truth(uid),
                "tokens": sim.spotify.issue_tokens(uid),
            }
        )
        conn.recv()


async def run(
    concurrency: int, latency_ms: int, seed: int, repeats: int, profile: str | None
) -> dict[str, Any]:
    # The simulator runs in its own process, like a remote API: in a thread of this process its
    # CPU would compete with the client's for the GIL and blur what the client's schedule costs.
    config = SimulatorConfig(users=1, seed=seed, profiles=("heavy",), latency_ms=latency_ms)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(config, child), daemon=True)
    server.start()
    try:
        sim = parent.recv()
        truth, tokens = sim["truth"], sim["tokens"]
        minimal, chain = minimal_requests(truth)

        async with spotify_http(concurrency=concurrency) as http:
            client = _client(sim, tokens, http)
            await client.get("/me", FetchStats())  # warm the connection pool; not counted
            walls, cpus = [], []
            full: dict[str, Any] = {}
            for i in range(repeats):
                # Each repeat starts from the state the first one had: the previous repeat's rows
                # (~26 MB of decoded pages) released and collected. Kept, they doubled what the
                # garbage collector walks and added ~0.4 s of CPU to every repeat but the first;
                # a sync holds one user's fetch at a time, not the last one's too.
                full = {}
                gc.collect()
                client = _client(sim, tokens, http)
                with profiled(profile if i == 0 else None), timed() as sample:
                    full = await fetch_all_spotify(client)
                walls.append(sample.wall)
                cpus.append(sample.cpu)
            full_requests = sum(f.stats.requests for f in full.values())

            client = _client(sim, tokens, http)
            again = await fetch_all_spotify(client, refetch_states(full))
            refetch_requests = sum(f.stats.requests for f in again.values())

            client = _client(sim, tokens, http)
            started = time.perf_counter()
            naive_requests = await naive_fetch(client)
            naive_wall = time.perf_counter() - started
    finally:
        parent.send("stop")
        server.join(10)

    latency = latency_ms / 1000
    bound = max(latency * max(chain, math.ceil(minimal / concurrency)), 1e-9)
    return {
        "full_requests": full_requests,
        "minimal_requests": minimal,
        "full_requests_ratio": round(full_requests / minimal, 3),
        "refetch_requests": refetch_requests,
        "refetch_requests_ratio": round(refetch_requests / full_requests, 3),
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "critical_path_requests": chain,
        "lower_bound_s": round(bound, 3),
        "full_wall_s": spread(walls),
        "full_client_cpu_s": spread(cpus),
        "wall_ratio": spread([w / bound for w in walls]),
        "naive_requests": naive_requests,
        "naive_wall_s": round(naive_wall, 3),
        "naive_wall_ratio": round(naive_wall / bound, 3),
        "rows": sum(len(s.rows) for f in full.values() for s in f.scopes)
        + len(full["recently_played"].events or []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = add_options(parser, profile=True).parse_args()
    report = Report("spotify_requests", args.repeats)
    report.emit(asyncio.run(run(args.concurrency, args.latency_ms, args.seed, args.repeats, args.profile)))


if __name__ == "__main__":
    main()
