"""The instance `blendify dev` and `blendify demo` open carries the provider pool limits."""

from __future__ import annotations

import multiprocessing

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db.engine import create_engine
from blendify_assets.orchestration.factory import pool_limits
from blendify_assets.orchestration.instance import instance_config, set_pool_limits
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS

POOL_LIMITS = pool_limits(PROVIDERS)


def test_dev_instance_has_pool_limits(blendify_env) -> None:
    with dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as instance:
        for pool, limit in POOL_LIMITS.items():
            assert instance.event_log_storage.get_concurrency_info(pool).slot_count == limit


def _set_limits_at_the_barrier(home: str, barrier) -> dict[str, int]:
    """One first command: open the instance, then set the pool limits with everyone else at once."""
    with dg.DagsterInstance.from_config(home) as instance:
        barrier.wait()
        set_pool_limits(instance, POOL_LIMITS)
        return {p: instance.event_log_storage.get_concurrency_info(p).slot_count for p in POOL_LIMITS}


@pytest.mark.slow
def test_processes_setting_the_pool_limits_at_once_all_succeed(blendify_env, server_url, tmp_path) -> None:
    """Issue 11: three first commands at once crashed inserting the same pool limit row."""
    url = make_url(blendify_env["BLENDIFY_DATABASE_URL"])
    storage = url.set(database=f"{url.database}_pools")
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{storage.database}" OWNER "{url.username}"'))
    home = tmp_path / "dagster_home"
    home.mkdir()
    psycopg2_url = storage.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(psycopg2_url, POOL_LIMITS)))
    dg.DagsterInstance.from_config(str(home)).dispose()  # its tables exist; no pool limits yet
    context = multiprocessing.get_context("spawn")
    processes = 6
    try:
        with context.Pool(processes) as pool, context.Manager() as manager:
            barrier = manager.Barrier(processes)
            slots = pool.starmap(_set_limits_at_the_barrier, [(str(home), barrier)] * processes)
        assert slots == [POOL_LIMITS] * processes
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{storage.database}" WITH (FORCE)'))
        admin.dispose()
