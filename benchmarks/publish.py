"""Benchmark: publishing blends to each member's own service, on the simulator over HTTP.

Three figures (issue 14), each printed as one JSON line:

- `match_rate`: every catalogue entry of each service of the simulator's cross-provider world
  matched to the other service with the real lookups (`analytics.matching`): the share of tracks
  that have a twin that find it (target >= 95 %) and false matches (target 0), decoys included.
- `publish`: a 10-member, 50-track cross-provider blend (5 Spotify members, 5 Apple Music members,
  synced from the simulator into a scratch warehouse) published end to end, cold (no match cached);
  then a regeneration published (cache warm, Spotify in place). For each Spotify member, requests
  sent ÷ the minimum (one create + ceil(n/100) item requests + its lookups; target 1.00).

Each `--repeat` builds a fresh warehouse and world; the JSON gives the median and the spread (min,
max) of the wall times, the process's CPU seconds (the simulator serves from threads of this same
process, so its work is included) and the load average before and after.

    python benchmarks/publish.py [--repeat 3] [--members 10] [--size 50] [--catalog 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import scratch_warehouse

from blendify_assets.analytics.blends import create_and_generate, generate_blend_tracks
from blendify_assets.analytics.matching import match_on_apple, match_on_spotify
from blendify_assets.analytics.publish import publish_blend
from blendify_assets.blend.matching import SourceTrack
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.demo.world import connect_users, simulator_values
from blendify_assets.ingest.sync import StepSync
from blendify_assets.providers import registry
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import DeveloperToken, SigningKey
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.providers.spotify.auth import SpotifyApp, tokens_from_response
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from blendify_assets.simulator.spotify_accounts import PUBLISH_SCOPE

SYNCED = {"spotify": ("top_tracks", "saved_tracks"), "apple": ("library_songs",)}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def spread(values: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(values), 2), "min_s": round(min(values), 2),
            "max_s": round(max(values), 2)}  # fmt: skip


# --- match rate ------------------------------------------------------------------------------------


def match_rate(catalog: int, seed: int) -> dict[str, Any]:
    config = SimulatorConfig(users=1, seed=seed, catalog_tracks=catalog,
                             profiles=(UserProfile.tiny(spotify=True, apple=True),))  # fmt: skip
    with Simulator.running(config) as sim:
        cross, uid = sim.world.cross, sim.world.users[0].uid
        tokens = InMemoryTokenSource(
            tokens_from_response(sim.spotify.issue_tokens(uid), previous_refresh=None, now=datetime.now(UTC))
        )
        key = serialization.load_pem_private_key(sim.apple.private_key_pem.encode(), None)
        developer = DeveloperToken(SigningKey(sim.apple.team_id, sim.apple.key_id, key))  # type: ignore[arg-type]

        async def everything() -> dict[str, Any]:
            spotify = SpotifyClient(tokens, SpotifyApp("blendify-bench", accounts_url=sim.spotify_accounts_url),
                                    api_url=sim.spotify_api_url)  # fmt: skip
            async with apple_http() as http, spotify:
                apple = AppleClient(InMemoryTokenSource(Tokens(sim.apple.issue_user_token(uid))), developer,
                                    api_url=sim.apple_music_api_url, http=http)  # fmt: skip
                out = {}
                for service, match, client in (
                    ("spotify", match_on_apple, apple),
                    ("apple", match_on_spotify, spotify),
                ):
                    listings = list(cross.listings(service))
                    sources = [SourceTrack(x.name, x.artist_name, x.album_name, x.duration_ms, x.isrc, x.explicit)
                               for x in listings]  # fmt: skip
                    out[service] = (listings, await match(client, sources, FetchStats()))
                return out

        results = asyncio.run(everything())
    tally: Counter[str] = Counter()
    for service, (listings, choices) in results.items():
        target = "apple" if service == "spotify" else "spotify"
        for listing, choice in zip(listings, choices, strict=True):
            has_twin = listing.role != "decoy" and bool(cross.copies(listing.recording, target))
            false = choice.matched and cross.recording(target, choice.track_id) != listing.recording
            tally[f"{service}_twins"] += has_twin
            tally[f"{service}_found"] += bool(has_twin and choice.matched and not false)
            tally[f"{service}_false"] += bool(false)
            tally["decoys"] += listing.role == "decoy"
            tally["decoys_matched_falsely"] += bool(listing.role == "decoy" and false)
    twins = tally["spotify_twins"] + tally["apple_twins"]
    found = tally["spotify_found"] + tally["apple_found"]
    return {**tally, "rate": round(found / twins, 4), "target_rate": 0.95}


# --- publish end to end ----------------------------------------------------------------------------


def world_config(members: int) -> SimulatorConfig:
    half = members // 2
    profiles = tuple(UserProfile.tiny(spotify=True, apple=False) for _ in range(members - half)) + tuple(
        UserProfile.tiny(spotify=False, apple=True) for _ in range(half)
    )
    return SimulatorConfig(users=members, seed=11, catalog_tracks=3_000, profiles=profiles,
                           apple_listing_delay_seconds=0.5)  # fmt: skip


def publish_once(members: int, size: int) -> dict[str, Any]:
    with scratch_warehouse() as engine, tempfile.TemporaryDirectory() as home, \
            Simulator.running(world_config(members)) as sim:  # fmt: skip
        vault = Vault([Fernet.generate_key().decode()])
        users = connect_users(engine, vault, sim, PROVIDERS)
        for sim_user, user in zip(sim.world.users, users, strict=True):
            if "spotify" in user.providers:
                issued = sim.spotify.issue_tokens(sim_user.uid, scope=PUBLISH_SCOPE)
                connections.upsert(
                    engine, vault, user.email, "spotify", TokenPayload.parse(json.dumps(issued))
                )
        values = simulator_values(sim, Path(home), PROVIDERS)
        settings = {name: registry.get(name).settings.from_values(v) for name, v in values.items()}
        for name, endpoints in SYNCED.items():
            ids = [u.user_id for u in users if name in u.providers]
            spec = registry.get(name)
            for endpoint in endpoints:
                StepSync(engine, vault, spec, settings[name], ids).run(spec.endpoint(endpoint), ids)
        blend = create_and_generate(engine, "Bench blend", [u.email for u in users], "balanced", size=size,
                                    creator_email=users[0].email)  # fmt: skip
        out: dict[str, Any] = {"tracks": blend.tracks, "cross_provider": blend.cross_provider}
        for phase in ("cold", "regeneration"):
            if phase == "regeneration":
                generate_blend_tracks(engine, blend.blend_id)
            logged, started, cpu0 = len(sim.request_log), time.perf_counter(), cpu()
            report = publish_blend(engine, vault, settings, blend.blend_id)
            wall, cpu_s = time.perf_counter() - started, cpu() - cpu0
            spotify = [m for m in report.members if m.provider == "spotify"]
            minimum = [1 + math.ceil(m.tracks_published / 100) + m.lookups if phase == "cold"
                       else math.ceil(m.tracks_published / 100) + 1 + m.lookups for m in spotify]  # fmt: skip
            out[phase] = {
                "wall_s": round(wall, 2), "cpu_s": round(cpu_s, 2),
                "statuses": dict(Counter(m.status for m in report.members)),
                "published_per_member": [m.tracks_published for m in report.members],
                "matched": dict(sum((Counter(m.matched) for m in report.members), Counter())),
                "unmatched": sum(len(m.unmatched) for m in report.members),
                "requests": len(sim.request_log) - logged,
                "spotify_requests_over_minimum": [round(m.requests / n, 2) for m, n in zip(spotify, minimum, strict=True)],
                "lookups": sum(m.lookups for m in report.members),
            }  # fmt: skip
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--catalog", type=int, default=3_000)
    args = parser.parse_args()

    load0, started, cpu0 = os.getloadavg(), time.perf_counter(), cpu()
    rate = match_rate(args.catalog, seed=7)
    print(json.dumps({"benchmark": "publish.match_rate", "catalog": args.catalog, **rate,
                      "wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(cpu() - cpu0, 2),
                      "loadavg_before": load0, "loadavg_after": os.getloadavg()}))  # fmt: skip

    load0 = os.getloadavg()
    runs = [publish_once(args.members, args.size) for _ in range(args.repeat)]
    ratios = [r for run in runs for r in run["cold"]["spotify_requests_over_minimum"]]
    print(json.dumps({
        "benchmark": "publish.end_to_end", "members": args.members, "size": args.size, "repeat": args.repeat,
        "cold": spread([r["cold"]["wall_s"] for r in runs]),
        "cold_cpu_s": statistics.median(r["cold"]["cpu_s"] for r in runs),
        "regeneration": spread([r["regeneration"]["wall_s"] for r in runs]),
        "regeneration_cpu_s": statistics.median(r["regeneration"]["cpu_s"] for r in runs),
        "spotify_requests_over_minimum": {"max": max(ratios), "min": min(ratios), "target": 1.0},
        "runs": runs, "loadavg_before": load0, "loadavg_after": os.getloadavg(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
