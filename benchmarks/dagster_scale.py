"""Sync many simulated users through Dagster the way production does, and measure it.

    python benchmarks/dagster_scale.py [--users 250] [--profile medium] [--repeats 3]

Each repeat is a whole fresh measurement: at 250 medium users about 12-15 minutes at load 12-19 on
2 shared cores, so `--repeats 1` for a figure within 10 minutes on an idle machine;
the line gives each figure's median and range, the load average at start and end, and CPU seconds
(`cpu_children_s`: `dagster dev`'s processes, the runs, the simulator and the embedded server).

A private BLENDIFY_HOME (embedded PostgreSQL), the simulator, and `dagster dev` (webserver, daemon,
QueuedRunCoordinator, the connection sensor) as in `blendify dev`. All users are connected at once;
the sensor turns the burst into partition-range runs. Figures (one JSON line):

- wall_seconds / rows_per_second: first connection row -> last run finished (connect_seconds of it:
  writing the connection rows, during which the sensor already launches runs).
- dagster_share: per run, the time outside asset bodies (run wall minus the union of the bodies'
  endpoint work, taken from sync_log) over the run's wall time, summed over runs; and
  dagster_share_end_to_end: 1 - (union of all body time) / wall (includes queueing and launch);
  dagster_share_outside_steps: the runs' time outside the steps' own timed work (the step's line
  "... sync W s wall": its user checks and the work around them, e.g. the pause lookup before the
  first user and closing the client after the last), over the runs' wall time. dagster_share counts that step work as
  Dagster's; this one does not. dagster_share_parts splits dagster_share by where in the run the
  time falls (`share_parts`: the steps' lead and tail are our code, the rest Dagster's).
- new_connection_latency_seconds: one more user connected after the bulk is done -> every endpoint of
  that user stored (sensor tick + run launch + sync), with its parts.
- cpu_split_seconds (the bulk only): CPU of the run workers inside the sync bodies (`ours`: the
  step's own line "... sync W s wall, C s CPU" per endpoint, Dagster's events excluded), of the run
  workers outside them (`dagster_in_runs`: start-up, planning, events, checks), of `dagster dev`'s
  long-lived processes (`dagster_services`: daemon, webserver, code servers), of runs that are not
  the sensor's (`other_runs`: a scheduled poll or the analytics the automation starts meanwhile;
  left out of the share), of the embedded PostgreSQL (`postgres`: warehouse and Dagster's storage
  together) and of this process (`simulator`: the simulator's threads). dagster_cpu_share = Dagster's run and service CPU over all the CPU of
  runs and services (PostgreSQL and the simulator left out).
- events_per_connection: Dagster event-log rows per (user, provider) of the bulk, by type.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import sqlalchemy as sa
from _measure import Report, add_options, spread

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def body_intervals(engine, run_ids: list[str]) -> dict[tuple[str, str], tuple[float, float]]:
    """Per (run, endpoint): from its first user's start to its last user's end."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT run_id, endpoint, extract(epoch FROM min(started_at)), extract(epoch FROM max(finished_at)) "
                "FROM sync_log WHERE run_id = ANY(:r) GROUP BY run_id, endpoint"
            ),
            {"r": run_ids},
        ).all()
    return {(run_id, endpoint): (float(start), float(stop)) for run_id, endpoint, start, stop in rows}


class CpuSampler:
    """CPU seconds of `dagster dev`'s process tree and of the PostgreSQL server, by role, sampled
    every `every` seconds (a run worker's last fraction of a second may be missed)."""

    def __init__(self, root: int, postmaster: int | None, every: float = 0.5) -> None:
        self.root, self.postmaster, self.every = root, postmaster, every
        self.latest: dict[int, float] = {}
        self.baseline: dict[int, float] = {}
        self.pg_start = self._postgres()
        self._stop = threading.Event()
        self._sample()
        self.baseline = dict(self.latest)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _postgres(self) -> float:
        if self.postmaster is None:
            return 0.0
        try:
            main = psutil.Process(self.postmaster)
            t = main.cpu_times()  # children_*: the backends that have exited
            total = t.user + t.system + t.children_user + t.children_system
            for child in main.children():
                with_times = child.cpu_times()
                total += with_times.user + with_times.system
            return total
        except psutil.Error:
            return 0.0

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                times = process.cpu_times()
                self.latest[process.pid] = times.user + times.system
            except psutil.Error:
                continue

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.postgres = self._postgres() - self.pg_start

    def split(self, run_pids: set[int], other_pids: set[int]) -> dict[str, float]:
        """CPU seconds since the start: of the sync run workers (`run_pids`), of other runs' workers
        (`other_pids`: a scheduled poll, the analytics the automation starts), of the rest of the
        tree, of PostgreSQL."""
        by_role: Counter[str] = Counter()
        for pid, cpu in self.latest.items():
            role = "run" if pid in run_pids else "other" if pid in other_pids else "service"
            by_role[role] += cpu - self.baseline.get(pid, 0.0)
        return {**{k: by_role[k] for k in ("run", "other", "service")}, "postgres": self.postgres}


STEP_LINE = re.compile(r"sync (?P<wall>[0-9.]+) s wall, (?P<cpu>[0-9.]+) s CPU$")


def body_times(instance, run_ids: list[str]) -> tuple[float, float]:
    """CPU and wall seconds the sync bodies report (one line per endpoint and step,
    assets/ingestion.py: the user checks plus the step's own work around them, such as the pause
    lookup and closing the client; steps of a run execute one after another)."""
    cpu = wall = 0.0
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            found = STEP_LINE.search(record.user_message or "")
            if found and not record.is_dagster_event:
                cpu += float(found["cpu"])
                wall += float(found["wall"])
    return cpu, wall


def share_parts(instance, records, bodies_by_endpoint) -> dict[str, float]:
    """Where the runs' time outside the `sync_log` intervals goes, as shares of the runs' wall:
    `run_start` (run start -> first step), `step_lead` (a step's start, or the previous endpoint's
    line, -> its first user check: selecting users, reading connections, the pause lookup),
    `step_tail` (the last check's end -> the endpoint's line: the writer's commit, closing the
    client, the request tally, the materialisations' metadata), `step_events` (the line -> the next
    endpoint or the step's end: Dagster storing the events and check results), `between_steps` and
    `run_end`. A step's lead and tail are ours; the rest is Dagster's."""
    parts: Counter[str] = Counter()
    total = 0.0
    for record in records:
        run_id = record.dagster_run.run_id
        total += record.end_time - record.start_time
        steps: dict[str, dict] = {}
        for log in instance.all_logs(run_id):
            key = log.step_key
            if not key:
                continue
            step = steps.setdefault(key, {"lines": []})
            if log.is_dagster_event:
                kind = log.dagster_event.event_type_value
                if kind == "STEP_START":
                    step["start"] = log.timestamp
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                    step["end"] = log.timestamp
            elif STEP_LINE.search(log.user_message or ""):
                step["lines"].append((log.timestamp, log.user_message.split(":", 1)[0]))
        ordered = sorted((s for s in steps.values() if "start" in s and "end" in s), key=lambda s: s["start"])
        if not ordered:
            continue
        parts["run_start"] += ordered[0]["start"] - record.start_time
        parts["run_end"] += record.end_time - ordered[-1]["end"]
        for before, after in itertools.pairwise(ordered):
            parts["between_steps"] += after["start"] - before["end"]
        for step in ordered:
            mark = step["start"]
            for stamp, endpoint in sorted(step["lines"]):
                interval = bodies_by_endpoint.get((run_id, endpoint))
                if interval is None:
                    parts["step_lead"] += stamp - mark
                else:
                    parts["step_lead"] += max(0.0, interval[0] - mark)
                    parts["step_tail"] += stamp - max(mark, interval[1])
                mark = stamp
            parts["step_events"] += step["end"] - mark
    return {name: round(seconds / total, 3) for name, seconds in sorted(parts.items())} if total else {}


def event_counts(instance, run_ids: list[str]) -> tuple[Counter[str], set[int]]:
    """Event-log rows of these runs by type, and the pids of their run workers."""
    counts: Counter[str] = Counter()
    pids: set[int] = set()
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            if record.is_dagster_event:
                counts[record.dagster_event.event_type_value] += 1
                if record.dagster_event.step_key and record.dagster_event.pid:
                    pids.add(record.dagster_event.pid)
            else:
                counts["LOG"] += 1
    return counts, pids


def wait_runs_done(instance, since: float, expected_min: int, timeout: float) -> list:
    import dagster as dg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = [
            r
            for r in instance.get_run_records(dg.RunsFilter(tags={"blendify/trigger": "connection_sensor"}))
            if r.create_timestamp.timestamp() >= since
        ]
        if len(records) >= expected_min and all(r.dagster_run.is_finished for r in records):
            return records
        time.sleep(2)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for the sensor's runs")


def measure_once(args: argparse.Namespace) -> dict:
    """One whole measurement on a fresh home: its figures."""
    home = Path(tempfile.mkdtemp(prefix="blendify-dagster-scale-"))
    for name in [n for n in os.environ if n.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))]:
        del os.environ[name]
    os.environ["BLENDIFY_HOME"] = str(home)

    import dagster as dg

    from blendify_assets.core.settings import WarehouseSettings
    from blendify_assets.db import migrations
    from blendify_assets.db.engine import open_engine, open_owner_engine, warehouse_url
    from blendify_assets.definitions import defs
    from blendify_assets.demo.world import connect_users, simulator_env, simulator_values
    from blendify_assets.orchestration.dev_server import child_env, start_dagster, stop_group
    from blendify_assets.orchestration.runner import dagster_instance
    from blendify_assets.providers.registry import PROVIDERS
    from blendify_assets.security.vault import vault_from_settings
    from blendify_assets.simulator import Simulator, SimulatorConfig

    dg.Definitions.validate_loadable(defs)  # fail fast if the code location does not load
    settings = WarehouseSettings.from_env()
    owner = open_owner_engine(settings)
    migrations.upgrade(owner)
    owner.dispose()
    engine = open_engine(settings)
    vault = vault_from_settings(settings)
    instance = dagster_instance(settings, PROVIDERS)
    port = free_port()
    # users + 1: the last one is connected after the bulk, to time a single new connection
    config = SimulatorConfig(users=args.users + 1, seed=args.seed, profile_mix=args.profile)
    with Simulator.running(config) as sim:
        # `dagster dev`'s processes read the simulator's settings from their environment.
        values = simulator_values(sim, settings.home, PROVIDERS)
        env = child_env(settings, warehouse_url(settings), simulator_env(values, PROVIDERS))
        bulk, late = sim.world.users[:-1], sim.world.users[-1]
        process = start_dagster(settings, env, "127.0.0.1", port, stdout=sys.stderr)  # stdout: the JSON line
        try:
            time.sleep(20)  # webserver + daemon + code server up; the sensor ticks every 15 s
            pid_file = home / "postgres" / "postmaster.pid"
            postmaster = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
            sampler = CpuSampler(process.pid, postmaster)
            sim_cpu = time.process_time()
            t0 = time.time()
            users = connect_users(engine, vault, sim, PROVIDERS, only=bulk)
            connected = time.time() - t0
            records = wait_runs_done(instance, t0 - 1, 1, args.timeout)
            # a burst is batched: wait until no run is left and every connection has a sync log
            while True:
                with engine.connect() as conn:
                    done = conn.execute(
                        sa.text("SELECT count(DISTINCT (user_id, provider)) FROM sync_log")
                    ).scalar()
                expected = sum(len(u.providers) for u in users)
                records = wait_runs_done(instance, t0 - 1, 1, args.timeout)
                if done >= expected:
                    break
                time.sleep(5)
            wall = max(r.end_time for r in records) - t0
            sampler.stop()
            sim_cpu = time.process_time() - sim_cpu
            run_ids = [r.dagster_run.run_id for r in records]
            ours, steps_wall = body_times(instance, run_ids)
            events, run_pids = event_counts(instance, run_ids)
            others = [
                r.dagster_run.run_id
                for r in instance.get_run_records(
                    dg.RunsFilter(created_after=datetime.fromtimestamp(t0 - 1, UTC))
                )
                if r.dagster_run.run_id not in run_ids
            ]
            cpu = sampler.split(run_pids, event_counts(instance, others)[1])
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT coalesce(sum(rows_appended), 0) FROM sync_log")).scalar()
                failed = conn.execute(
                    sa.text("SELECT count(*) FROM sync_log WHERE status <> 'success'")
                ).scalar()
            by_endpoint = body_intervals(engine, run_ids)
            bodies: dict[str, list[tuple[float, float]]] = {}
            for (run_id, _endpoint), interval in by_endpoint.items():
                bodies.setdefault(run_id, []).append(interval)
            parts = share_parts(instance, records, by_endpoint)
            run_wall = sum(r.end_time - r.start_time for r in records)
            in_bodies = sum(union_seconds(bodies.get(r.dagster_run.run_id, [])) for r in records)
            all_bodies = union_seconds([i for v in bodies.values() for i in v])

            # one new connection: row -> sensor tick -> run -> data
            t1 = time.time()
            new = connect_users(engine, vault, sim, PROVIDERS, only=[late])[0]
            latest = wait_runs_done(instance, t1, len(new.providers), 600)
            mine = [r for r in latest if r.dagster_run.tags.get("dagster/partition") == new.user_id]
            with engine.connect() as conn:
                stored = conn.execute(
                    sa.text(
                        "SELECT extract(epoch FROM max(finished_at)) FROM sync_log WHERE user_id = CAST(:u AS uuid)"
                    ),
                    {"u": new.user_id},
                ).scalar()
        finally:
            stop_group(process)
    spotify_run = next(
        (r for r in mine if r.dagster_run.job_name == "spotify_sync"), mine[0] if mine else None
    )
    return {
        "users": args.users,
        "profile": args.profile,
        "connections": sum(len(u.providers) for u in users),
        "runs": len(records),
        "wall_seconds": round(wall, 1),
        "connect_seconds": round(connected, 1),
        "rows": int(rows),
        "rows_per_second": round(rows / wall, 1),
        "failed_endpoint_checks": int(failed),
        "dagster_share": round(1 - in_bodies / run_wall, 3),
        "dagster_share_end_to_end": round(1 - all_bodies / wall, 3),
        "dagster_share_outside_steps": round(1 - steps_wall / run_wall, 3),
        "dagster_share_parts": parts,
        "extrapolated_1000_users_wall_seconds": round(wall * 1000 / args.users, 0)
        if args.users != 1000
        else None,
        "cpu_split_seconds": {
            "ours": round(ours, 1),
            "dagster_in_runs": round(cpu["run"] - ours, 1),
            "dagster_services": round(cpu["service"], 1),
            "other_runs": round(cpu["other"], 1),
            "postgres": round(cpu["postgres"], 1),
            "simulator": round(sim_cpu, 1),
        },
        "dagster_cpu_share": round(1 - ours / (cpu["run"] + cpu["service"]), 3),
        "events_per_connection": {
            kind: round(n / max(1, sum(len(u.providers) for u in users)), 2)
            for kind, n in events.most_common()
        },
        "new_connection_latency_seconds": round(float(stored) - t1, 1) if stored else None,
        "latency_parts": {
            "row_to_run_created": round(spotify_run.create_timestamp.timestamp() - t1, 1),
            "run_created_to_start": round(
                spotify_run.start_time - spotify_run.create_timestamp.timestamp(), 1
            ),
            "run_seconds": round(spotify_run.end_time - spotify_run.start_time, 1),
        }
        if spotify_run
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=250)
    parser.add_argument("--profile", default="medium", choices=["tiny", "light", "medium", "heavy"])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=7200)
    args = add_options(parser).parse_args()
    report = Report("dagster_scale", args.repeats)
    runs = [measure_once(args) for _ in range(args.repeats)]
    figures = {
        name: spread([r[name] for r in runs], 3)
        for name in ("wall_seconds", "rows_per_second", "dagster_share", "dagster_share_end_to_end", "dagster_share_outside_steps",
                     "dagster_cpu_share", "new_connection_latency_seconds")
    }  # fmt: skip
    report.emit(
        {
            "users": args.users,
            "profile": args.profile,
            "connections": runs[0]["connections"],
            "runs": [r["runs"] for r in runs],
            "connect_seconds": [r["connect_seconds"] for r in runs],
            "rows": [r["rows"] for r in runs],
            "failed_endpoint_checks": sum(r["failed_endpoint_checks"] for r in runs),
            **figures,
            "cpu_split_seconds": [r["cpu_split_seconds"] for r in runs],
            "events_per_connection": [r["events_per_connection"] for r in runs],
            "dagster_share_parts": [r["dagster_share_parts"] for r in runs],
            "latency_parts": [r["latency_parts"] for r in runs],
            "targets": {"rows_per_second": ">= 5000 (250 medium users)", "dagster_share": "<= 0.10"},
        }
    )


if __name__ == "__main__":
    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so `dagster dev` and the server are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
