"""Dagster at 100,000 user partitions: sensor and schedule ticks, a backfill launch, the UI's pages.

    python benchmarks/partitions_scale.py [--partitions 100000] [--new 1000] [--repeats 3]
                                          [--no-backfill] [--backfill-timeout 300]
                                          [--per-partition-planned-events] [--create-runs 8]

A private BLENDIFY_HOME (embedded PostgreSQL, Dagster's instance in `blendify_dagster` beside the
warehouse, as `blendify dev` has it). `--partitions` users, each with an active Spotify connection,
are written with COPY; their partitions are added as production adds them
(`instance.add_dynamic_partitions`, in batches). Then, per repeat:

- sensor_tick: `--new` more connections appear; the connection sensor is evaluated on the real
  instance (`build_sensor_context`, cursor caught up with the bulk) and its partition requests are
  applied, as the daemon does. Also an idle tick (nothing new).
- schedule_tick: `spotify_daily_resync` evaluated on the real instance (every active user).

Once, in this process: run_creation: the first `--create-runs` of the re-sync tick's range runs
created as the scheduler daemon creates them (`_submit_run_request`, an in-process code location):
CPU seconds per created run of this process plus the Postgres server's (load-independent), SQL
statements and rows per run; with Blendify's event-log storage and, as the baseline, with
dagster-postgres' own on the same database.

Once: `dagster dev` (webserver + daemon; the run queue held at 0 so nothing executes, sensors and
schedules stopped through GraphQL) on a free port, then per repeat the GraphQL queries the asset
page (partition stats) and the partitions page (partition keys and statuses) send; and a backfill of
every Spotify asset over all partitions launched with `launchPartitionBackfill` (the UI's dialog):
the mutation's time, then the runs the backfill daemon creates (BackfillPolicy.multi_run(250)) and
the time until the last one exists, runs created per minute, and CPU seconds per created run of
`dagster dev`'s processes plus the Postgres server's. Everything is stopped and the home removed at the end.

Prints one JSON line (`_measure.Report`): each figure's median and range, load and CPU.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml
from _measure import Report, add_options, spread, timed

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PARTITION_BATCH = 10_000  # keys per add_dynamic_partitions call while registering the bulk

ASSET_PAGE = """
query AssetPage($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      id description isPartitioned
      partitionDefinition { description type }
      partitionStats { numMaterialized numMaterializing numPartitions numFailed }
    }
  }
}
"""

PARTITIONS_PAGE = """
query PartitionHealth($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses {
          materializedPartitions materializingPartitions failedPartitions
        }
      }
    }
  }
}
"""

INSTIGATORS = """
{
  repositoriesOrError { ... on RepositoryConnection { nodes {
    sensors { name sensorState { id status } }
    schedules { name scheduleState { id status } }
  } } }
}
"""

STOP_SENSOR = "mutation($id: String!) { stopSensor(id: $id) { __typename } }"
STOP_SCHEDULE = "mutation($id: String!) { stopRunningSchedule(id: $id) { __typename } }"

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


def seed(engine: sa.engine.Engine, count: int, start: int) -> list[str]:
    """`count` users with an active Spotify connection, by COPY; their ids in change_seq order."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            with cursor.copy("COPY users (id, email, display_name) FROM STDIN") as copy:
                for i, user_id in enumerate(ids, start):
                    copy.write_row((user_id, f"u{i:07d}@scale.test", f"Listener {i}"))
            with cursor.copy(
                "COPY provider_connections (user_id, provider, provider_user_id, access_token_encrypted) FROM STDIN"
            ) as copy:
                for i, user_id in enumerate(ids, start):
                    copy.write_row((user_id, "spotify", f"sp{i:07d}", "not-a-token"))
    return ids


def max_seq(engine: sa.engine.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT coalesce(max(change_seq), 0) FROM provider_connections")).scalar()
        )


def post(url: str, query: str, variables: dict | None = None, timeout: float = 600) -> tuple[dict, float]:
    """A GraphQL request; (its data, seconds until the whole answer arrived)."""
    start = time.perf_counter()
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
    )
    seconds = time.perf_counter() - start
    body = response.json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {json.dumps(body['errors'])[:500]}")
    return body["data"], seconds


def storage_rows(instance) -> dict[str, tuple[int, int]]:
    """Rows and bytes of the Dagster tables a run's creation writes (its planned events)."""
    engine = sa.create_engine(instance.event_log_storage.postgres_url)
    try:
        with engine.connect() as conn:
            return {
                table: tuple(
                    conn.execute(
                        sa.text(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
                    ).one()
                )
                for table in ("event_logs", "asset_check_executions")
            }
    finally:
        engine.dispose()


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds of these processes and their descendants, the ended ones they reaped included
    (the Postgres server's finished sessions, `dagster dev`'s children)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


class Statements:
    """SQL statements and SELECTed rows SQLAlchemy sent from this process."""

    def __init__(self) -> None:
        self.count = self.rows = 0
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self)

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.count += 1
        if statement.lstrip()[:6].upper() == "SELECT":
            self.rows += max(cursor.rowcount, 0)


def create_runs_as_the_scheduler(
    instance, schedule_name: str, count: int, postgres: int, when: datetime
) -> dict:
    """Create the re-sync tick's first `count` runs as the scheduler daemon does, in this process
    (Dagster's modules imported here: main() clears DAGSTER_* from the environment first)."""
    from dagster._core.definitions.timestamp import TimestampWithTimezone
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._scheduler.scheduler import _submit_run_request

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            module_name="blendify_assets.definitions", attribute="defs", working_directory=str(REPO)
        ),
        location_name="blendify",
    )
    statements = Statements()
    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as workspace:
        location = workspace.create_request_context().get_code_location("blendify")
        repo = next(iter(location.get_repositories().values()))
        schedule = repo.get_schedule(schedule_name)
        data = location.get_schedule_execution_data(
            instance=instance, repository_handle=repo.handle, schedule_name=schedule_name,
            scheduled_execution_time=TimestampWithTimezone(when.timestamp(), "UTC"), log_key=None,
        )  # fmt: skip
        requests = (data.run_requests or [])[:count]
        before = (statements.count, statements.rows, tree_cpu([postgres]))
        with timed() as t:
            for request in requests:
                _submit_run_request(request, workspace, schedule, when, logging.getLogger(__name__), None)
        server_cpu = tree_cpu([postgres]) - before[2]
    sa.event.remove(sa.engine.Engine, "after_cursor_execute", statements)
    runs = len(requests)
    return {
        "runs": runs,
        "seconds_per_run": round(t.wall / runs, 2),
        "cpu_seconds_per_run": round((t.cpu + server_cpu) / runs, 3),
        "of_which_postgres_cpu_per_run": round(server_cpu / runs, 3),
        "sql_statements_per_run": round((statements.count - before[0]) / runs),
        "rows_read_per_run": round((statements.rows - before[1]) / runs),
    }


@contextlib.contextmanager
def dagster_default_storage(dagster_home: Path):
    """The same Dagster database opened with dagster-postgres' own event-log storage (before
    orchestration/storage.py: no key cache, a session per statement)."""
    import dagster as dg

    config = yaml.safe_load((dagster_home / "dagster.yaml").read_text())
    config["event_log_storage"] |= {"module": "dagster_postgres", "class": "PostgresEventLogStorage"}
    with tempfile.TemporaryDirectory() as other:
        (Path(other) / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        with dg.DagsterInstance.from_config(other) as instance:
            yield instance


def wait_for_webserver(url: str, process, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("dagster dev exited before its webserver came up")
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                data, _ = post(url, INSTIGATORS)
                if data["repositoriesOrError"].get("nodes"):
                    return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("the webserver did not come up")


def stop_instigators(url: str) -> int:
    """Stop every sensor and schedule: only what this benchmark asks for runs."""
    data, _ = post(url, INSTIGATORS)
    stopped = 0
    for repo in data["repositoriesOrError"]["nodes"]:
        for sensor in repo["sensors"]:
            post(url, STOP_SENSOR, {"id": sensor["sensorState"]["id"]})
            stopped += 1
        for schedule in repo["schedules"]:
            post(url, STOP_SCHEDULE, {"id": schedule["scheduleState"]["id"]})
            stopped += 1
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=100_000, help="users (partitions) registered")
    parser.add_argument("--new", type=int, default=1_000, help="new connections per sensor tick")
    parser.add_argument("--no-backfill", action="store_true", help="skip the backfill launch")
    parser.add_argument("--backfill-timeout", type=float, default=300)
    parser.add_argument("--create-runs", type=int, default=8, help="re-sync runs created in-process")
    parser.add_argument(
        "--per-partition-planned-events", action="store_true",
        help="Dagster's default: one planned event per partition and asset when a run is created "
        "(Blendify sets DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS, orchestration/runs.py)",
    )  # fmt: skip
    args = add_options(parser).parse_args()
    report = Report("partitions_scale", args.repeats)

    home = Path(tempfile.mkdtemp(prefix="blendify-partitions-scale-"))
    atexit.register(shutil.rmtree, home, True)  # registered first: runs after the server has stopped
    for name in [
        n for n in os.environ if n.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_", "DAGSTER_"))
    ]:
        del os.environ[name]
    os.environ["BLENDIFY_HOME"] = str(home)

    import dagster as dg

    from blendify_assets.assets.resources import WarehouseResource, resources_for
    from blendify_assets.core.settings import WarehouseSettings
    from blendify_assets.db import migrations
    from blendify_assets.db.engine import open_engine, open_owner_engine, warehouse_url
    from blendify_assets.orchestration.dev_server import child_env, start_dagster, stop_group
    from blendify_assets.orchestration.factory import build_definitions
    from blendify_assets.orchestration.runner import dagster_instance
    from blendify_assets.orchestration.sensors import ProviderCursor, dump_cursor
    from blendify_assets.providers.registry import PROVIDERS
    from tests.fixtures.servers import free_port

    spotify = next(p for p in PROVIDERS if p.name == "spotify")
    settings = WarehouseSettings.from_env()
    owner = open_owner_engine(settings)
    migrations.upgrade(owner)
    engine = open_engine(settings)
    instance = dagster_instance(settings, PROVIDERS)
    url_db = warehouse_url(settings)
    resources = resources_for(
        WarehouseResource(home=str(home), database_url=url_db), {}, PROVIDERS, allow_literal_secrets=True
    )
    defs = build_definitions(PROVIDERS, resources)
    sensor = next(s for s in defs.sensors or [] if s.name == "connection_sensor")
    schedule = next(s for s in defs.schedules or [] if s.name == f"{spotify.group}_daily_resync")
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    process = None
    stack = contextlib.ExitStack()
    try:
        # --- the bulk: users and connections by COPY, partitions as production adds them ---------
        with timed() as t:
            keys = seed(owner, args.partitions, 0)
        seed_seconds = t.wall
        with timed() as t:
            for i in range(0, len(keys), PARTITION_BATCH):
                instance.add_dynamic_partitions(spotify.partitions_name, keys[i : i + PARTITION_BATCH])
        add_seconds, add_cpu = t.wall, t.cpu
        with owner.connect() as conn:
            conn.execute(sa.text("ANALYZE"))  # as autovacuum would have, long before 100k rows
            conn.commit()

        # --- ticks ---------------------------------------------------------------------------
        cursor = dump_cursor({spotify.name: ProviderCursor(seq=max_seq(engine))})
        total = len(keys)
        for repeat in range(args.repeats):
            seed(owner, args.new, total + repeat * args.new)
            with (
                dg.build_sensor_context(
                    instance=instance, cursor=cursor, resources=resources, definitions=defs
                ) as ctx,
                timed() as t,
            ):
                result = sensor(ctx)
            note("sensor_tick_seconds", t.wall)
            note("sensor_tick_cpu_seconds", t.cpu)
            with timed() as t:  # what the daemon does with a tick's partition requests: a query per key
                for request in result.dynamic_partitions_requests or []:
                    name, asked = request.partitions_def_name, list(request.partition_keys)
                    missing = [k for k in asked if not instance.has_dynamic_partition(name, k)]
                    instance.add_dynamic_partitions(name, missing)
            note("sensor_add_partitions_seconds", t.wall)
            note("sensor_runs_requested", len(result.run_requests or []))
            cursor = result.cursor
            with (
                dg.build_sensor_context(
                    instance=instance, cursor=cursor, resources=resources, definitions=defs
                ) as ctx,
                timed() as t,
            ):
                idle = sensor(ctx)
            assert not idle.run_requests
            note("sensor_idle_tick_seconds", t.wall)

            when = datetime(2026, 12, 1, 3, repeat, tzinfo=UTC)
            with (
                dg.build_schedule_context(
                    instance=instance, scheduled_execution_time=when, resources=resources
                ) as ctx,
                timed() as t,
            ):
                data = schedule.evaluate_tick(ctx)
            note("schedule_tick_seconds", t.wall)
            note("schedule_tick_cpu_seconds", t.cpu)
            note("schedule_runs_requested", len(data.run_requests or []))
        partitions_now = len(instance.get_dynamic_partitions(spotify.partitions_name))
        postgres = int((settings.postgres_dir / "postmaster.pid").read_text().split()[0])
        run_creation = {
            "blendify_storage": create_runs_as_the_scheduler(
                instance, schedule.name, args.create_runs, postgres, datetime(2026, 12, 2, 3, tzinfo=UTC)
            )
        }
        with dagster_default_storage(settings.dagster_home) as baseline:  # the ratio's baseline
            run_creation["dagster_default_storage"] = create_runs_as_the_scheduler(
                baseline, schedule.name, args.create_runs, postgres, datetime(2026, 12, 3, 3, tzinfo=UTC)
            )

        # --- the webserver: the UI's pages, and a backfill of everything -----------------------
        config_path = settings.dagster_home / "dagster.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["concurrency"]["runs"]["max_concurrent_runs"] = 0  # queued, never executed
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = stack.enter_context((home / "dagster.log").open("w"))  # dagster dev's console
        env = child_env(settings, url_db, {})
        if args.per_partition_planned_events:
            env.pop("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", None)
        process = start_dagster(settings, env, "127.0.0.1", port, stdout=log)
        t_up = time.perf_counter()
        wait_for_webserver(url, process)
        startup_seconds = time.perf_counter() - t_up
        stopped = stop_instigators(url)
        asset_key = {"path": list(spotify.asset_key_path(spotify.endpoint_names[0]))}
        partition_keys_returned = 0
        for _ in range(args.repeats):
            _, seconds = post(url, ASSET_PAGE, {"key": asset_key})
            note("asset_page_seconds", seconds)
            data, seconds = post(url, PARTITIONS_PAGE, {"key": asset_key})
            note("partitions_page_seconds", seconds)
            node = data["assetNodeOrError"]
            partition_keys_returned = len(node["partitionKeysByDimension"][0]["partitionKeys"])

        backfill: dict = {"skipped": True}
        if not args.no_backfill:
            everything = instance.get_dynamic_partitions(spotify.partitions_name)
            selection = [{"path": list(spotify.asset_key_path(e))} for e in spotify.endpoint_names]
            params = {"partitionNames": list(everything), "assetSelection": selection}
            before = storage_rows(instance)
            cpu_before = tree_cpu([process.pid, postgres])
            data, launch_seconds = post(url, LAUNCH, {"params": params})
            launched = data["launchPartitionBackfill"]
            if launched["__typename"] != "LaunchBackfillSuccess":
                raise SystemExit(f"backfill not launched: {json.dumps(launched)[:500]}")
            backfill_id = launched["backfillId"]
            t0 = time.perf_counter()
            expected = math.ceil(len(everything) / 250)
            run_filter = dg.RunsFilter(tags={"dagster/backfill": backfill_id})
            created, first_run, last_change = 0, None, t0
            while time.perf_counter() - t0 < args.backfill_timeout:
                count = instance.get_runs_count(run_filter)
                if count and first_run is None:
                    first_run = time.perf_counter() - t0
                if count != created:
                    created, last_change = count, time.perf_counter()
                status = instance.get_backfill(backfill_id).status
                if count >= expected or status.value not in ("REQUESTED",):
                    break
                time.sleep(1)
            cpu_spent = tree_cpu([process.pid, postgres]) - cpu_before
            after = storage_rows(instance)
            window = last_change - t0
            backfill = {
                "partitions": len(everything),
                "storage_added_rows_mb": {
                    t: [after[t][0] - before[t][0], round((after[t][1] - before[t][1]) / 2**20, 1)]
                    for t in after
                },
                "mutation_seconds": round(launch_seconds, 2),
                "runs_created": created,
                "runs_expected": expected,
                "first_run_seconds": round(first_run, 1) if first_run is not None else None,
                "last_run_seconds": round(window, 1) if created else None,
                "runs_per_minute": round(created / window * 60, 1) if created and window else None,
                "cpu_seconds_per_run": round(cpu_spent / created, 2) if created else None,
                "status": instance.get_backfill(backfill_id).status.value,
                "timed_out": created < expected and time.perf_counter() - t0 >= args.backfill_timeout,
            }
            if backfill["timed_out"]:
                post(url, "mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) { __typename } }",
                     {"id": backfill_id})  # fmt: skip
    finally:
        if process is not None:
            stop_group(process)
        stack.close()
        instance.dispose()
        engine.dispose()
        owner.dispose()

    report.emit(
        {
            "partitions": args.partitions,
            "partitions_at_end": partitions_now,
            "new_connections_per_tick": args.new,
            "seed_copy_seconds": round(seed_seconds, 1),
            "add_partitions_seconds": round(add_seconds, 1),
            "add_partitions_cpu_seconds": round(add_cpu, 1),
            **{name: spread(values, 3) for name, values in figures.items()},
            "dagster_dev_startup_seconds": round(startup_seconds, 1),
            "instigators_stopped": stopped,
            "partitions_page_keys": partition_keys_returned,
            "run_creation": run_creation,
            "backfill": backfill,
        }
    )


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
