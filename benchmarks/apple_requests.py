"""Apple Music provider layer: request economy and ISRC coverage for a heavy user, against the simulator.

Prints one JSON line:
- full_requests_ratio: requests of a full fetch of the 8 Apple endpoints / the minimum possible.
  Target 1.00. The minimum, per endpoint (each endpoint is its own asset and must run alone):
  library lists ceil(n/100) pages each, plus for songs, albums and artists the one request for the
  recently added head that lets later checks skip an unchanged list; playlist tracks
  max(1, ceil(n/100)) per playlist (an empty playlist still costs its 404); recently played
  ceil(window/30); Replay one request per view; and where ISRCs are resolved (library songs,
  playlist tracks) one storefront request plus ceil(distinct catalog ids/300) catalog lookups.
- isrc_coverage: library songs stored with an ISRC / library songs that have a catalog match.
  Target 1.00.
- resync_requests_ratio: requests of a re-sync with nothing changed (fed the versions and notes the
  warehouse keeps after the full sync) / the full sync. Target <= 0.15. The library is realistic:
  most playlists carry no versionHash (`playlists_with_version_hash`), only lastModifiedDate.
- week_of_daily_syncs_ratio: a week of daily syncs with nothing changed (the weekly full read and six
  re-syncs) / seven full syncs: what the weekly full read costs on top.

Request counts are deterministic for a seed; each repeat runs the whole benchmark again (the wall
and CPU seconds of a run are reported as median and range).

Run: python benchmarks/apple_requests.py [--seed 7] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import math
from typing import Any

from _fetch import playlist_refs
from _measure import Report, add_options, spread, timed
from cryptography.hazmat.primitives import serialization

from blendify_assets.core.fetch import EndpointFetch, SyncState
from blendify_assets.core.tokens import Tokens
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import DeveloperToken
from blendify_assets.providers.apple_music.provider import PROVIDER
from blendify_assets.providers.apple_music.settings import SigningKey
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile

ENDPOINTS = {e.name: e for e in PROVIDER.endpoints}


def pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


def lookups(catalog_ids: set[str]) -> int:
    """One storefront request plus the catalog batches, or nothing when there is nothing to look up."""
    return 1 + math.ceil(len(catalog_ids) / 300) if catalog_ids else 0


def minimal_requests(truth: dict[str, Any]) -> dict[str, int]:
    songs = {s["id"]: s for s in truth["library_songs"]}
    playlist_ids = {songs[t]["catalog_id"] for p in truth["library_playlists"] for t in p["track_ids"]}
    head = 1  # the recently added head, read with every library list
    return {
        "library_songs": pages(len(songs), 100)
        + head
        + lookups({s["catalog_id"] for s in songs.values()} - {None}),
        "library_albums": pages(len(truth["library_albums"]), 100) + head,
        "library_artists": pages(len(truth["library_artists"]), 100) + head,
        "library_playlists": pages(len(truth["library_playlists"]), 100),
        "playlist_tracks": sum(pages(len(p["track_ids"]), 100) for p in truth["library_playlists"])
        + lookups(playlist_ids - {None}),
        "recently_played": pages(len(truth["recently_played"]), 30),
        "replay_top_songs": 1,
        "replay_top_artists": 1,
    }


def resync_state(fetch: EndpointFetch) -> SyncState:
    """The SyncState the ingest engine reads back after storing `fetch`: the scopes' versions, the
    newest play, and the poll state it keeps for the next check."""
    state = SyncState(
        scope_versions={s.scope: s.version for s in fetch.scopes if s.version is not None},
        poll_state=fetch.next_state or {},
    )
    if fetch.events:
        state.last_played_at = max(row["played_at"] for row in fetch.events)
    return state


async def run(seed: int) -> dict[str, Any]:
    config = SimulatorConfig(users=1, seed=seed, profiles=(UserProfile.heavy(apple=True),))
    with Simulator.running(config) as sim:
        uid = sim.world.apple_users[0].uid
        truth = sim.world.apple_truth(uid)
        key = serialization.load_pem_private_key(sim.apple.private_key_pem.encode(), None)
        developer = DeveloperToken(SigningKey(sim.apple.team_id, sim.apple.key_id, key))  # type: ignore[arg-type]
        source = InMemoryTokenSource(Tokens(sim.apple.issue_user_token(uid)))
        async with apple_http() as http:

            async def fetch(name: str, state: SyncState | None = None) -> EndpointFetch:
                """One endpoint with its own client, as the ingest engine runs them."""
                async with AppleClient(
                    source, developer, api_url=sim.apple_music_api_url, http=http
                ) as client:
                    return await ENDPOINTS[name].fetch(client, state or SyncState())

            async def playlists_then_tracks() -> list[EndpointFetch]:
                playlists = await fetch("library_playlists")
                refs = playlist_refs(playlists.scopes[0].rows)
                return [playlists, await fetch("playlist_tracks", SyncState(playlists=refs))]

            independent = [n for n in ENDPOINTS if n not in ("library_playlists", "playlist_tracks")]
            results = await asyncio.gather(playlists_then_tracks(), *(fetch(n) for n in independent))
            full = {f.endpoint: f for f in [*results[0], *results[1:]]}

            # Nothing changed: each endpoint gets what the warehouse would hand it after the full sync.
            states = {name: resync_state(f) for name, f in full.items()}
            states["playlist_tracks"].playlists = playlist_refs(full["library_playlists"].scopes[0].rows)
            again = await asyncio.gather(*(fetch(name, states[name]) for name in full))
            resync = {f.endpoint: f.stats.requests for f in again}
    minimal = minimal_requests(truth)
    used = {name: fetch.stats.requests for name, fetch in full.items()}
    full_total, resync_total = sum(used.values()), sum(resync.values())
    songs = full["library_songs"].scopes[0].rows
    matched = [s for s in truth["library_songs"] if s["catalog_id"]]
    stored_isrc = {r["track_id"] for r in songs if r["isrc"]}
    return {
        "full_requests": sum(used.values()),
        "minimal_requests": sum(minimal.values()),
        "full_requests_ratio": round(sum(used.values()) / sum(minimal.values()), 3),
        "per_endpoint": {name: [used[name], minimal[name]] for name in used},
        "library_songs": len(truth["library_songs"]),
        "catalog_matched": len(matched),
        "isrc_coverage": round(
            sum(1 for s in matched if s["catalog_id"] in stored_isrc) / max(1, len(matched)), 4
        ),
        "resync_requests": resync_total,
        "resync_requests_ratio": round(resync_total / full_total, 3),
        "resync_per_endpoint": resync,
        "week_of_daily_syncs_ratio": round((full_total + 6 * resync_total) / (7 * full_total), 3),
        "playlists_with_version_hash": [
            sum(1 for p in truth["library_playlists"] if p["version_hash"]),
            len(truth["library_playlists"]),
        ],
        "rows": sum(len(s.rows) for f in full.values() for s in f.scopes)
        + len(full["recently_played"].events or []),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = add_options(parser).parse_args()
    report = Report("apple_requests", args.repeats)
    results, walls, cpus = [], [], []
    for _ in range(args.repeats):
        with timed() as sample:
            results.append(asyncio.run(run(args.seed)))
        walls.append(sample.wall)
        cpus.append(sample.cpu)
    report.emit(
        results[0]
        | {
            "same_figures_every_repeat": all(r == results[0] for r in results),
            "run_wall_s": spread(walls),
            "run_cpu_s": spread(cpus),
        }
    )


if __name__ == "__main__":
    main()
