"""Dagster's instance lives on Postgres, beside the warehouse, and the code location validates."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.events import DagsterEventType

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db.engine import create_engine, dagster_storage_url
from blendify_assets.orchestration.factory import pool_limits
from blendify_assets.orchestration.instance import set_pool_limits, write_dagster_home
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.orchestration.runs import range_tags
from blendify_assets.providers.registry import PROVIDERS
from tests.conftest import app_url

LIMITS = pool_limits(PROVIDERS)


def test_instance_stores_runs_in_postgres(blendify_env) -> None:
    settings = WarehouseSettings.from_env()
    home = write_dagster_home(settings, LIMITS)
    assert oct((home / "dagster.yaml").stat().st_mode & 0o777) == "0o600"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PartitionKeysCachingEventLogStorage"
        set_pool_limits(instance, LIMITS)
        assert (
            instance.event_log_storage.get_concurrency_info("spotify_api").slot_count == LIMITS["spotify_api"]
        )

        @dg.asset
        def probe() -> int:
            return 1

        result = dg.materialize([probe], instance=instance)
        assert result.success
        run_id = result.run_id
    warehouse = sa.engine.make_url(settings.database_url)
    url = warehouse.set(database=f"{warehouse.database}_dagster")  # named after the warehouse
    engine = create_engine(url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": run_id}).scalar() == 1
        )
    engine.dispose()


def test_definitions_validate_from_the_workspace(tmp_path) -> None:
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_dagster_yaml_keeps_an_external_password_in_the_environment(blendify_env, monkeypatch) -> None:
    """dagster.yaml (read by every Dagster process) references the password; it never holds it."""
    url = sa.engine.make_url(blendify_env["BLENDIFY_DATABASE_URL"]).set(password="s3cret-pw")  # trust auth
    monkeypatch.setenv("BLENDIFY_DATABASE_URL", url.render_as_string(hide_password=False))
    settings = WarehouseSettings.from_env()
    home = write_dagster_home(settings, LIMITS)
    text = (home / "dagster.yaml").read_text()
    assert "s3cret-pw" not in text and "env:" in text
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_runs_count() >= 0  # the storage connects with the password from the environment


def test_a_command_starting_while_another_writes_dagster_yaml_reads_a_whole_file(blendify_env) -> None:
    """Every command rewrites dagster.yaml; one reading it half-written would silently fall back to
    a private SQLite instance (its runs invisible, its pool slots outside the shared limits)."""
    settings = WarehouseSettings.from_env()
    path = write_dagster_home(settings, LIMITS) / "dagster.yaml"
    seen: list[object] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(yaml.safe_load(path.read_text()))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(40):
            write_dagster_home(settings, LIMITS)
    finally:
        done.set()
        reader.join()
    assert seen and all(isinstance(c, dict) and "event_log_storage" in c for c in seen)


def test_two_warehouses_on_one_server_keep_their_own_dagster_instance(
    blendify_env, empty_database_url, tmp_path
) -> None:
    """Runs, partitions, pool slots and sensor cursors belong to one warehouse: two on one server
    (two tests, staging beside production) used to share a single `dagster` database."""
    other = WarehouseSettings.from_values(
        {"home": str(tmp_path / "other"), "database_url": app_url(empty_database_url),
         "owner_database_url": empty_database_url}
    )  # fmt: skip
    with (
        dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as mine,
        dagster_instance(other, PROVIDERS) as theirs,
    ):
        mine.add_dynamic_partitions("spotify_users", ["only-mine"])
        assert theirs.get_dynamic_partitions("spotify_users") == []
        assert mine.get_dynamic_partitions("spotify_users") == ["only-mine"]


def test_a_first_command_killed_while_creating_dagsters_tables_leaves_nothing_broken(blendify_env) -> None:
    """dagster-postgres creates its tables in autocommit, one at a time: the soak test SIGKILLed a
    first `blendify sync` midway, and every later command failed with 'relation "concurrency_slots"
    does not exist'. The next command completes what is missing."""
    settings = WarehouseSettings.from_env()
    with dagster_instance(settings, PROVIDERS):
        pass
    url = sa.engine.make_url(dagster_storage_url(settings))
    engine = create_engine(url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    with engine.begin() as conn:  # what the kill left: the main tables, not the ones created after them
        for table in ("concurrency_slots", "concurrency_limits", "pending_steps", "asset_check_executions"):
            conn.execute(sa.text(f'DROP TABLE "{table}"'))
    engine.dispose()
    with dagster_instance(settings, PROVIDERS) as instance:
        info = instance.event_log_storage.get_concurrency_info("spotify_api")
        assert info.slot_count == pool_limits(PROVIDERS)["spotify_api"]


def test_a_range_run_plans_one_event_per_asset_not_per_user(blendify_env, defs) -> None:
    """Creating a 250-user run wrote 2,000 planned events one insert at a time (70-130 s per run at
    100,000 partitions under load): the instance Blendify opens plans one per asset for the range."""
    keys = [f"user-{i:03d}" for i in range(40)]
    job = defs.resolve_job_def("spotify_sync")
    with dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as instance:
        instance.add_dynamic_partitions("spotify_users", keys)
        run = instance.create_run_for_job(job, tags=range_tags(keys[5:30]))
        planned = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=1000
        ).records
    spotify_assets = {key for key in job.asset_layer.executable_asset_keys if key.path[0] == "spotify"}
    assert len(planned) == len(spotify_assets) == 8
    subsets = [r.event_log_entry.dagster_event.event_specific_data.partitions_subset for r in planned]
    assert all(set(s.get_partition_keys()) == set(keys[5:30]) for s in subsets)
