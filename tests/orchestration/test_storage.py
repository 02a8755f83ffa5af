"""Creating partition-range runs on the real Postgres instance reads the dynamic key list once, not
once per asset and run (the daemon's paths: a schedule tick's run requests, the asset backfill)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.definitions.timestamp import TimestampWithTimezone
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.event_log.schema import DynamicPartitionsTable
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._scheduler.scheduler import _submit_run_request

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db.engine import open_owner_engine
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS

SPOTIFY = next(p for p in PROVIDERS if p.name == "spotify")
PARTITIONS = 1_500  # 6 runs of 250
REPO = Path(__file__).resolve().parents[2]


class KeyReads:
    """Rows SQLAlchemy fetched from Dagster's `dynamic_partitions` key list, in this process."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        text = statement.lower()
        if text.lstrip().startswith("select") and "from dynamic_partitions" in text and "count(" not in text:
            self.rows += max(cursor.rowcount, 0)


class Connects:
    """New connections to Postgres opened in this process (a pool's, or one per statement)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, dbapi_connection, connection_record) -> None:
        self.count += 1


def _listening(target: Any, event: str, counter: Any) -> Iterator[Any]:
    """The counter, listening to a SQLAlchemy event for the test's length."""
    sa.event.listen(target, event, counter)
    yield counter
    sa.event.remove(target, event, counter)


@pytest.fixture
def connects() -> Iterator[Connects]:
    yield from _listening(sa.pool.Pool, "connect", Connects())


@pytest.fixture
def key_reads() -> Iterator[KeyReads]:
    yield from _listening(sa.engine.Engine, "after_cursor_execute", KeyReads())


@pytest.fixture
def daemon(blendify_env, tmp_path) -> Iterator[tuple[dg.DagsterInstance, object, list[str]]]:
    """The Postgres instance with PARTITIONS Spotify users (active connections, written in bulk as
    benchmarks/partitions_scale.py does), and the daemon's view of the code location."""
    settings = WarehouseSettings.from_env()
    owner = open_owner_engine(settings)
    try:
        with owner.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO users (id, email, display_name) SELECT gen_random_uuid(), "
                        "'u' || i || '@scale.test', 'Listener ' || i FROM generate_series(1, :n) AS i"),
                {"n": PARTITIONS},
            )  # fmt: skip
            inserted = conn.execute(
                sa.text("INSERT INTO provider_connections (user_id, provider, provider_user_id, "
                        "access_token_encrypted) SELECT id, 'spotify', email, 'not-a-token' FROM users "
                        "WHERE email LIKE '%@scale.test' ORDER BY email RETURNING user_id")
            )  # fmt: skip
            keys = [str(row[0]) for row in inserted]
    finally:
        owner.dispose()
    with dagster_instance(settings, PROVIDERS) as instance:
        instance.add_dynamic_partitions(SPOTIFY.partitions_name, keys)
        # blendify_assets.definitions as a file of its own: the module, once imported by an earlier
        # test, would keep that test's resources (read from the environment at import).
        code = tmp_path / "location.py"
        code.write_text(Path(REPO / "blendify_assets" / "definitions.py").read_text())
        target = InProcessWorkspaceLoadTarget(
            InProcessCodeLocationOrigin(
                LoadableTargetOrigin(python_file=str(code), attribute="defs", working_directory=str(REPO)),
                location_name="blendify",
            )
        )
        with create_test_daemon_workspace_context(target, instance) as workspace:
            yield instance, workspace, keys


def test_a_schedule_ticks_range_runs_read_the_key_list_once(daemon, key_reads, connects) -> None:
    instance, workspace, keys = daemon
    location = workspace.create_request_context().get_code_location("blendify")
    repo = next(iter(location.get_repositories().values()))
    schedule = repo.get_schedule(f"{SPOTIFY.group}_daily_resync")
    when = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    data = location.get_schedule_execution_data(
        instance=instance,
        repository_handle=repo.handle,
        schedule_name=schedule.name,
        scheduled_execution_time=TimestampWithTimezone(when.timestamp(), "UTC"),
        log_key=None,
    )
    requests = data.run_requests or []
    assert len(requests) == PARTITIONS // 250
    key_reads.rows, connects.count = 0, 0
    for request in requests:  # what the scheduler daemon does with each of the tick's requests
        _submit_run_request(request, workspace, schedule, when, logging.getLogger(__name__), None)
    runs = instance.get_runs(dg.RunsFilter(tags={"blendify/trigger": schedule.name}))
    assert len(runs) == len(requests)
    # Before: every run read all keys once per asset (8 assets x 1,500 keys x 6 runs = 72,000 rows);
    # now the list once (a run still looks up single keys: a row each).
    assert key_reads.rows < 2 * len(keys)
    # Before: a new Postgres session (a server process) per event-log statement, 97 a run; now 16
    # (the run and schedule storages still open one per statement).
    assert connects.count < 25 * len(requests)


def test_a_backfill_of_every_partition_reads_the_key_list_once(daemon, key_reads) -> None:
    instance, workspace, keys = daemon
    location = workspace.create_request_context().get_code_location("blendify")
    repo = next(iter(location.get_repositories().values()))
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=repo.asset_graph,
        backfill_timestamp=time.time(),
        tags={},
        asset_selection=[dg.AssetKey(SPOTIFY.asset_key_path(e)) for e in SPOTIFY.endpoint_names],
        partition_names=keys,
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )  # what the UI's launchPartitionBackfill stores
    instance.add_backfill(backfill)
    key_reads.rows = 0
    for _ in range(2):  # the daemon's iterations: the first creates the runs, the next finds none
        list(execute_backfill_iteration(workspace, logging.getLogger(__name__)))
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
    assert len(runs) == PARTITIONS // 250
    # Before: 8 x 1,500 keys per run and per iteration (about 100,000 rows).
    assert key_reads.rows < 2 * len(keys)


def test_a_key_another_process_adds_or_deletes_is_seen(blendify_env) -> None:
    settings = WarehouseSettings.from_env()
    with (
        dagster_instance(settings, PROVIDERS) as daemon,
        dg.DagsterInstance.from_config(str(settings.dagster_home)) as other,
    ):
        name = SPOTIFY.partitions_name
        daemon.add_dynamic_partitions(name, ["a", "b", "c"])
        assert list(daemon.get_dynamic_partitions(name)) == ["a", "b", "c"]
        other.add_dynamic_partitions(name, ["d"])
        assert list(daemon.get_dynamic_partitions(name)) == ["a", "b", "c", "d"]
        other.delete_dynamic_partition(name, "b")
        assert list(daemon.get_dynamic_partitions(name)) == ["a", "c", "d"]
        other.delete_dynamic_partition(name, "d")
        other.add_dynamic_partitions(name, ["e"])  # same count as before: the highest id tells
        assert list(daemon.get_dynamic_partitions(name)) == ["a", "c", "e"]
        # An insert whose id was drawn before the last read but committed after it, beside a delete:
        # same count, same highest id (b's id is free again, as a late commit's would be).
        table = DynamicPartitionsTable
        with other.event_log_storage.index_connection() as conn:
            late = conn.execute(sa.select(sa.func.min(table.c.id)).where(table.c.partitions_def_name == name))
            first_id = late.scalar_one()
            conn.execute(table.insert().values(id=first_id + 1, partitions_def_name=name, partition="late"))
        other.delete_dynamic_partition(name, "a")
        assert sorted(daemon.get_dynamic_partitions(name)) == ["c", "e", "late"]


def test_a_key_added_during_a_read_and_deleted_after_is_not_served(blendify_env) -> None:
    """The stamp and the keys come from one snapshot: a key another process adds between them and
    deletes afterwards leaves the set as it was stamped, and must not stay in the list served."""
    settings = WarehouseSettings.from_env()
    with (
        dagster_instance(settings, PROVIDERS) as daemon,
        dg.DagsterInstance.from_config(str(settings.dagster_home)) as other,
    ):
        name = SPOTIFY.partitions_name
        daemon.add_dynamic_partitions(name, ["a", "b"])
        added: list[str] = []

        def add_while_reading(conn, cursor, statement, parameters, context, executemany) -> None:
            text = statement.lower()
            if "from dynamic_partitions" in text and "count(" not in text and not added:
                added.append("x")
                other.add_dynamic_partitions(name, ["x"])  # committed before the key list is read

        engine = daemon.event_log_storage._engine
        sa.event.listen(engine, "before_cursor_execute", add_while_reading)
        try:
            first = list(daemon.get_dynamic_partitions(name))
        finally:
            sa.event.remove(engine, "before_cursor_execute", add_while_reading)
        assert added and first == ["a", "b", "x"]
        other.delete_dynamic_partition(name, "x")
        assert list(daemon.get_dynamic_partitions(name)) == ["a", "b"]
