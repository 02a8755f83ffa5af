"""A backfill launched from the Dagster UI against the connection sensor's batched run, same work.

    python benchmarks/ui_backfill.py [--users 50] [--profile light] [--repeat 1]

A private BLENDIFY_HOME (embedded PostgreSQL), the simulator and `dagster dev` (webserver, daemon,
QueuedRunCoordinator) as `blendify dev` runs them. Two sets of `--users` Spotify users, each synced
for the first time (equal work):

- ui: the connection sensor is stopped (`dagster sensor stop`), the users are connected and their
  partitions added, and a backfill of every Spotify asset over those partitions is launched through
  the webserver's GraphQL `launchPartitionBackfill`, the mutation the UI's Materialize / Backfill
  dialog sends. The backfill daemon plans it (BackfillPolicy.multi_run(250)) and the run coordinator
  launches its runs.
- sensor: the sensor is started and the other users are connected; its tick batches them into a
  partition-range run.

Each wall time runs from the request (the GraphQL call; the connection rows' commit) to the last run
finished. Prints one JSON line: both walls, their ratio, run counts, run durations (median and
spread), CPU seconds of this process tree and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children (dagster dev, after it stops)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def wait_for_webserver(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("the webserver did not come up")


def wait_runs(instance, run_filter, expected_users: set[str], timeout: float):
    """Runs matching `run_filter` that together cover `expected_users`, once all are finished."""
    import dagster as dg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = instance.get_run_records(run_filter)
        covered: set[str] = set()
        for r in records:
            tags = r.dagster_run.tags
            if "dagster/partition" in tags:
                covered.add(tags["dagster/partition"])
            elif "dagster/asset_partition_range_start" in tags:
                keys = instance.get_dynamic_partitions("spotify_users")
                lo = keys.index(tags["dagster/asset_partition_range_start"])
                hi = keys.index(tags["dagster/asset_partition_range_end"])
                covered |= set(keys[lo : hi + 1])
        if records and expected_users <= covered and all(r.dagster_run.is_finished for r in records):
            return records
        time.sleep(1)
    states = [r.dagster_run.status for r in instance.get_run_records(run_filter)]
    raise SystemExit(f"timed out after {timeout:.0f} s; runs: {states} ({dg.__version__})")


def dagster_cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "dagster", *args, "-w", str(REPO / "workspace.yaml")],
        env=env, cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--profile", default="light", choices=["tiny", "light", "medium", "heavy"])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="blendify-ui-backfill-"))
    for name in [n for n in os.environ if n.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))]:
        del os.environ[name]
    os.environ["BLENDIFY_HOME"] = str(home)

    import dagster as dg

    from blendify_assets.core.settings import WarehouseSettings
    from blendify_assets.db import migrations
    from blendify_assets.db.engine import open_engine, open_owner_engine, warehouse_url
    from blendify_assets.demo.world import connect_users, simulator_env, simulator_values
    from blendify_assets.orchestration.dev_server import child_env, start_dagster, stop_group
    from blendify_assets.orchestration.runner import dagster_instance
    from blendify_assets.providers.registry import PROVIDERS
    from blendify_assets.security.vault import vault_from_settings
    from blendify_assets.simulator import Simulator, SimulatorConfig

    spotify = next(p for p in PROVIDERS if p.name == "spotify")
    settings = WarehouseSettings.from_env()
    owner = open_owner_engine(settings)
    migrations.upgrade(owner)
    owner.dispose()
    engine = open_engine(settings)
    vault = vault_from_settings(settings)
    instance = dagster_instance(settings, PROVIDERS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    load_before, cpu_before = loadavg(), cpu_seconds()
    config = SimulatorConfig(users=3 * args.users, seed=args.seed, profile_mix=args.profile)
    with Simulator.running(config) as sim:
        values = simulator_values(sim, settings.home, PROVIDERS)
        env = child_env(settings, warehouse_url(settings), simulator_env(values, PROVIDERS))
        spotify_people = sim.world.spotify_users  # the comparison is one provider's
        ui_people, sensor_people = spotify_people[: args.users], spotify_people[args.users : 2 * args.users]
        process = start_dagster(settings, env, "127.0.0.1", port, stdout=subprocess.DEVNULL)
        try:
            wait_for_webserver(url)
            dagster_cli(env, "sensor", "stop", "connection_sensor")

            # ui: connect with the sensor stopped, add the partitions, launch the UI's backfill
            ui_users = [
                u.user_id for u in connect_users(engine, vault, sim, [spotify], only=ui_people) if u.providers
            ]
            instance.add_dynamic_partitions(spotify.partitions_name, ui_users)
            keys = [{"path": list(spotify.asset_key_path(e))} for e in spotify.endpoint_names]
            t0 = time.time()
            answer = httpx.post(
                f"{url}/graphql",
                json={
                    "query": LAUNCH,
                    "variables": {"params": {"partitionNames": ui_users, "assetSelection": keys}},
                },
                timeout=120,
            ).json()
            launched = answer["data"]["launchPartitionBackfill"]
            if launched["__typename"] != "LaunchBackfillSuccess":
                raise SystemExit(f"backfill not launched: {launched}")
            backfill_id = launched["backfillId"]
            ui_runs = wait_runs(
                instance, dg.RunsFilter(tags={"dagster/backfill": backfill_id}), set(ui_users), args.timeout
            )
            ui_wall = max(r.end_time for r in ui_runs) - t0

            # sensor: the same amount of new work, through the connection sensor
            dagster_cli(env, "sensor", "start", "connection_sensor")
            t1 = time.time()
            sensor_users = [
                u.user_id for u in connect_users(engine, vault, sim, [spotify], only=sensor_people)
            ]
            sensor_runs = wait_runs(
                instance,
                dg.RunsFilter(tags={"blendify/trigger": "connection_sensor"}, job_name=spotify.job_name),
                set(sensor_users),
                args.timeout,
            )
            sensor_wall = max(r.end_time for r in sensor_runs) - t1
        finally:
            stop_group(process)
    load_after, cpu = loadavg(), cpu_seconds() - cpu_before

    def durations(records) -> list[float]:
        return [r.end_time - r.start_time for r in records if r.start_time and r.end_time]

    def spread(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 1),
            "min": round(min(values), 1),
            "max": round(max(values), 1),
        }

    failed = [r.dagster_run.run_id for r in [*ui_runs, *sensor_runs] if not r.dagster_run.is_success]
    print(
        json.dumps(
            {
                "benchmark": "ui_backfill",
                "users": [len(ui_users), len(sensor_users)],
                "profile": args.profile,
                "ui_backfill_runs": len(ui_runs),
                "sensor_runs": len(sensor_runs),
                "ui_backfill_wall_seconds": round(ui_wall, 1),
                "sensor_wall_seconds": round(sensor_wall, 1),
                "ratio_ui_over_sensor": round(ui_wall / sensor_wall, 2),
                "ui_run_seconds": spread(durations(ui_runs)),
                "sensor_run_seconds": spread(durations(sensor_runs)),
                "failed_runs": failed,
                "cpu_seconds": round(cpu, 1),
                "loadavg_before": load_before,
                "loadavg_after": load_after,
                "machine_cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
