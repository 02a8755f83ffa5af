"""The instance `blendify dev` and `blendify demo` open carries the provider pool limits."""

from __future__ import annotations

from blendify_assets.orchestration.instance import POOL_LIMITS
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.settings import load_settings


def test_dev_instance_has_pool_limits(blendify_env) -> None:
    with dagster_instance(load_settings()) as instance:
        for pool, limit in POOL_LIMITS.items():
            assert instance.event_log_storage.get_concurrency_info(pool).slot_count == limit
