"""Dagster's instance home: runs, events and schedules stored in Postgres (dagster-postgres).

The storage database sits on the same server as the warehouse, in a database of its own, so the
embedded default needs no second server and production needs no second credential.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
import yaml

from ..db.engine import dagster_storage_url
from ..settings import Settings

POOL_LIMITS = {"spotify_api": 4, "apple_music_api": 4}


def instance_config(storage_url: str) -> dict:
    return {
        "storage": {"postgres": {"postgres_url": storage_url}},  # scheme postgresql+psycopg2 (see DESIGN.md)
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "pools": {"default_limit": max(POOL_LIMITS.values())},
            "runs": {"max_concurrent_runs": 4},
        },
        "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False},
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 180},
        "telemetry": {"enabled": False},
    }


def write_dagster_home(settings: Settings) -> Path:
    """Write $BLENDIFY_HOME/dagster/dagster.yaml (mode 0600: it holds the storage URL), atomically."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    text = yaml.safe_dump(instance_config(dagster_storage_url(settings)), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        # Whole or not at all: another first command may be reading it this very moment.
        fd, tmp = tempfile.mkstemp(prefix=".dagster.yaml.", dir=home)  # mode 0600
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    return home


POOL_LIMITS_LOCK = 0x626C656E6402  # one process at a time sets the pool limits


def set_pool_limits(instance) -> None:  # instance: dagster.DagsterInstance
    """Give each provider pool its limit in the instance (idempotent, and safe when several first
    commands do it at once: Dagster inserts the limit row unguarded, so concurrent callers queue on
    an advisory lock in its Postgres storage and skip pools already at their limit)."""
    storage = instance.event_log_storage
    with contextlib.ExitStack() as stack:
        if type(storage).__name__ == "PostgresEventLogStorage":
            conn = stack.enter_context(storage.index_connection())
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": POOL_LIMITS_LOCK})
            stack.callback(conn.execute, sa.text("SELECT pg_advisory_unlock(:k)"), {"k": POOL_LIMITS_LOCK})
        for pool, limit in POOL_LIMITS.items():
            if storage.get_concurrency_info(pool).slot_count != limit:
                storage.set_concurrency_slots(pool, limit)
