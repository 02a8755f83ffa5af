"""Dagster's instance home: runs, events and schedules stored in Postgres (dagster-postgres).

The storage database sits on the same server as the warehouse, in a database of its own, so the
embedded default needs no second server and production needs no second credential.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.runs.schema import RunStorageSqlMetadata
from dagster._core.storage.schedules.schema import ScheduleStorageSqlMetadata
from dagster._core.storage.sql import stamp_alembic_rev
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.run_storage import run_storage
from dagster_postgres.utils import pg_alembic_config
from sqlalchemy.engine import make_url

from blendify_assets.assets.analytics import ANALYTICS_QUEUE, ANALYTICS_QUEUE_TAG, ANALYTICS_RUN_LIMIT
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db.engine import create_engine, dagster_storage_url
from blendify_assets.orchestration.runs import PLANNED_EVENTS_ENV
from blendify_assets.orchestration.storage import PartitionKeysCachingEventLogStorage

PASSWORD_VARIABLE = "BLENDIFY_DAGSTER_PG_PASSWORD"


def storage_config(storage_url: str) -> dict[str, Any]:
    """dagster-postgres settings for `storage_url` (scheme postgresql+psycopg2, see DESIGN.md). A
    password is referenced from the environment (`PASSWORD_VARIABLE`), never written in the file."""
    url = make_url(storage_url)
    if not url.password:
        return {"postgres_url": storage_url}
    return {
        "postgres_db": {
            "username": url.username or "",
            "password": {"env": PASSWORD_VARIABLE},
            "hostname": url.host or "",
            "port": url.port or 5432,
            "db_name": url.database or "",
            "params": {k: v if isinstance(v, str) else ",".join(v) for k, v in url.query.items()},
            "scheme": url.drivername,
        }
    }


MAX_CONCURRENT_RUNS = 4

STORAGE_CLASSES = {
    "run_storage": ("dagster_postgres", "PostgresRunStorage"),
    "event_log_storage": (
        "blendify_assets.orchestration.storage",
        PartitionKeysCachingEventLogStorage.__name__,
    ),
    "schedule_storage": ("dagster_postgres", "PostgresScheduleStorage"),
}


def instance_config(storage_url: str, pool_limits: Mapping[str, int]) -> dict[str, Any]:
    return {
        # dagster-postgres' three storages, the event log's with the partition-key cache (storage.py).
        **{
            key: {"module": module, "class": name, "config": storage_config(storage_url)}
            for key, (module, name) in STORAGE_CLASSES.items()
        },
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "pools": {"default_limit": max(pool_limits.values(), default=1)},
            "runs": {
                "max_concurrent_runs": MAX_CONCURRENT_RUNS,
                # Analytics runs (16 taste-match buckets at once) leave the other slots to syncs and
                # backfills; they also queue at dagster/priority -1 (assets/analytics.py).
                "tag_concurrency_limits": [
                    {"key": ANALYTICS_QUEUE_TAG, "value": ANALYTICS_QUEUE, "limit": ANALYTICS_RUN_LIMIT}
                ],
            },
        },
        "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False},
        # The daemon (under `blendify dev`) also frees slots a finished run still holds; runs of a
        # killed command are reclaimed by the next command (orchestration/reclaim.py).
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 180,
            "free_slots_after_run_end_seconds": 60,
        },
        "telemetry": {"enabled": False},
    }


def write_dagster_home(settings: WarehouseSettings, pool_limits: Mapping[str, int]) -> Path:
    """Write $BLENDIFY_HOME/dagster/dagster.yaml (mode 0600) atomically, and put the storage password,
    if any, in this process's environment, where Dagster reads it (children such as `dagster dev`
    inherit it)."""
    return _write_home(settings, dagster_storage_url(settings), pool_limits)


def _write_home(settings: WarehouseSettings, storage_url: str, pool_limits: Mapping[str, int]) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    password = make_url(storage_url).password
    if password:
        os.environ[PASSWORD_VARIABLE] = password
    os.environ.update(PLANNED_EVENTS_ENV)  # runs created here (and by children) plan per range
    path = home / "dagster.yaml"
    text = yaml.safe_dump(instance_config(storage_url, pool_limits), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        # Written beside and renamed into place: a command starting meanwhile reads the old file or
        # the new one, never a half-written one (which Dagster would take for an empty, SQLite home).
        fd, temporary = tempfile.mkstemp(dir=home, prefix=".dagster.yaml.")  # mode 0600
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    return home


STORAGE_LOCK = 0x626C656E6403  # one process at a time opens a Dagster instance on this database


@contextlib.contextmanager
def _storage_locked(storage_url: str) -> Iterator[None]:
    """Hold an advisory lock on Dagster's database. The first instance opened there creates
    Dagster's tables, and concurrent creators race: dagster-postgres retries some of the errors they
    hit, not all ('type "runs" already exists')."""
    engine = create_engine(
        make_url(storage_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": STORAGE_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": STORAGE_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def _complete_interrupted_creation(storage_url: str) -> None:
    """Create, in one transaction, the Dagster tables a killed first command left missing.

    dagster-postgres creates its tables in autocommit, one statement at a time, and only when a
    storage's main table (`runs`, `event_logs`, `jobs`) is missing: a first command SIGKILLed midway
    left the main tables without the rest, and every later command failed with 'relation
    "concurrency_slots" does not exist'. A storage whose main table is missing is left to Dagster
    (its own table definitions are used here, so the schema is exactly the one it expects)."""
    storages = (
        (RunStorageSqlMetadata, {"runs"}),
        (SqlEventLogStorageMetadata, {"event_logs"}),
        (ScheduleStorageSqlMetadata, {"jobs", "schedules"}),
    )
    engine = create_engine(
        make_url(storage_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    )
    try:
        with engine.begin() as conn:
            present = set(sa.inspect(conn).get_table_names())
            for metadata, main in storages:
                if present & main and not set(metadata.tables) <= present:
                    metadata.create_all(conn, checkfirst=True)
            if present and "alembic_version" not in present:
                stamp_alembic_rev(pg_alembic_config(run_storage.__file__), conn)
    finally:
        engine.dispose()


def open_instance(settings: WarehouseSettings, pool_limits: Mapping[str, int]) -> dg.DagsterInstance:
    """The Postgres-backed instance for this warehouse, its pools at their limits (safe when several
    first commands open it at once, and after one was killed while creating Dagster's tables)."""
    storage_url = dagster_storage_url(settings)
    home = _write_home(settings, storage_url, pool_limits)
    with _storage_locked(storage_url):
        _complete_interrupted_creation(storage_url)
        instance = dg.DagsterInstance.from_config(str(home))
        set_pool_limits(instance, pool_limits)
    return instance


POOL_LIMITS_LOCK = 0x626C656E6402  # one process at a time sets the pool limits


def set_pool_limits(instance: Any, pool_limits: Mapping[str, int]) -> None:  # a dagster.DagsterInstance
    """Give each provider pool its limit in the instance (idempotent, and safe when several first
    commands do it at once: Dagster inserts the limit row unguarded, so concurrent callers queue on
    an advisory lock in its Postgres storage and skip pools already at their limit)."""
    storage = instance.event_log_storage
    with contextlib.ExitStack() as stack:
        if isinstance(storage, PostgresEventLogStorage):
            conn = stack.enter_context(storage.index_connection())
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": POOL_LIMITS_LOCK})
            stack.callback(conn.execute, sa.text("SELECT pg_advisory_unlock(:k)"), {"k": POOL_LIMITS_LOCK})
        for pool, limit in pool_limits.items():
            if storage.get_concurrency_info(pool).slot_count != limit:
                storage.set_concurrency_slots(pool, limit)
