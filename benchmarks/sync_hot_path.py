"""Our side of a multi-user sync, without Dagster: every Spotify endpoint for N simulated users
through the ingest engine (StepSync: fetch, parse, compare, COPY, sync log) into a scratch warehouse.

The simulator runs in its own process (like a remote API), so this process's CPU is the client's
and the writer's. Prints one JSON line per repeat set: rows/s of the full first sync and of a
re-sync with nothing changed (median and spread), rows, requests, this process's CPU seconds per
1,000 rows. `--profile PATH` runs one full sync under cProfile and prints the top functions: the
place to look before changing the hot path.

    python benchmarks/sync_hot_path.py [--users 40] [--mix medium] [--repeats 3] [--profile sync.prof]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

import sqlalchemy as sa
from _measure import Report, add_options, profiled, spread, timed
from _support import scratch_warehouse
from cryptography.fernet import Fernet

from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.ingest.sync import StepSync
from blendify_assets.providers.spotify.provider import PROVIDER
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import Simulator, SimulatorConfig


def serve(config: SimulatorConfig, conn: Connection) -> None:
    """Child process: run the simulator, hand over URLs and every user's tokens, wait for 'stop'."""
    with Simulator.running(config) as sim:
        users = [
            (u.email, json.dumps(sim.spotify.issue_tokens(u.uid))) for u in sim.world.users if u.on_spotify
        ]
        conn.send({"api_url": sim.spotify_api_url, "accounts_url": sim.spotify_accounts_url, "users": users})
        conn.recv()


def sync_all(engine, vault: Vault, settings: Any, user_ids: list[str]) -> dict[str, int]:
    """One step per endpoint chain, as the Dagster job runs them; returns rows and requests."""
    rows = requests = failed = 0
    for chain in PROVIDER.steps():
        step = StepSync(engine, vault, PROVIDER, settings, user_ids)
        for endpoint in chain:
            for outcome in step.run(endpoint, user_ids):
                rows += outcome.rows_appended
                requests += outcome.stats.requests
                failed += outcome.status != "success"
    return {"rows": rows, "requests": requests, "failed_checks": failed}


def measure_once(args: argparse.Namespace, run: int, report_profile: str | None) -> dict[str, Any]:
    config = SimulatorConfig(users=args.users, seed=args.seed + run, profile_mix=args.mix)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(config, child), daemon=True)
    server.start()
    try:
        sim = parent.recv()
        with scratch_warehouse() as engine:
            vault = Vault([Fernet.generate_key().decode()])
            user_ids = []
            for email, tokens in sim["users"]:
                user_ids.append(str(add_user(engine, email)))
                connections.upsert(engine, vault, email, "spotify", TokenPayload.parse(tokens))
            settings = PROVIDER.settings.from_values(
                {"api_url": sim["api_url"], "accounts_url": sim["accounts_url"], "client_id": "bench"}
            )
            with profiled(report_profile), timed() as first:
                full = sync_all(engine, vault, settings, user_ids)
            with timed() as second:
                again = sync_all(engine, vault, settings, user_ids)
            with engine.connect() as conn:
                stored = conn.execute(
                    sa.text("SELECT count(*) FROM sync_log WHERE status = 'success'")
                ).scalar()
    finally:
        parent.send("stop")
        server.join(10)
    return {
        "users": len(user_ids), "full": full, "again": again, "checks_logged": stored,
        "full_wall": first.wall, "full_cpu": first.cpu, "again_wall": second.wall, "again_cpu": second.cpu,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--mix", default="medium", choices=["tiny", "light", "medium", "heavy"])
    parser.add_argument("--seed", type=int, default=11)
    args = add_options(parser, profile=True).parse_args()
    report = Report("sync_hot_path", args.repeats)
    runs = [measure_once(args, i, args.profile if i == 0 else None) for i in range(args.repeats)]
    rows = [r["full"]["rows"] for r in runs]
    report.emit(
        {
            "users": runs[0]["users"],
            "mix": args.mix,
            "rows": spread(rows, 0),
            "requests": spread([r["full"]["requests"] for r in runs], 0),
            "failed_checks": sum(r["full"]["failed_checks"] + r["again"]["failed_checks"] for r in runs),
            "full_rows_per_s": spread([r["full"]["rows"] / r["full_wall"] for r in runs], 0),
            "full_wall_s": spread([r["full_wall"] for r in runs]),
            "full_cpu_s": spread([r["full_cpu"] for r in runs]),
            "cpu_ms_per_1000_rows": spread(
                [1e6 * r["full_cpu"] / max(r["full"]["rows"], 1) for r in runs], 1
            ),
            "resync_wall_s": spread([r["again_wall"] for r in runs]),
            "resync_cpu_s": spread([r["again_cpu"] for r in runs]),
            "profiled_run": 0 if args.profile else None,
        }
    )


if __name__ == "__main__":
    main()
