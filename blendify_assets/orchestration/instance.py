"""Dagster's instance home: runs, events and schedules stored in Postgres (dagster-postgres).

The storage database sits on the same server as the warehouse, in a database of its own, so the
embedded default needs no second server and production needs no second credential.
"""

from __future__ import annotations

from pathlib import Path

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
    """Write $BLENDIFY_HOME/dagster/dagster.yaml (mode 0600: it holds the storage URL)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(yaml.safe_dump(instance_config(dagster_storage_url(settings)), sort_keys=False))
    path.chmod(0o600)
    return home


def set_pool_limits(instance) -> None:  # instance: dagster.DagsterInstance
    """Give each provider pool its limit in the instance (idempotent)."""
    for pool, limit in POOL_LIMITS.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
