"""The code location: it validates, and ingestion has exactly one trigger path, pools and freshness."""

from __future__ import annotations

import dagster as dg

from blendify_assets.definitions import defs
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.providers.spec import ProviderSpec


def _ingestion_specs() -> list[tuple[ProviderSpec, dg.AssetSpec, dg.AssetsDefinition]]:
    groups = {p.group: p for p in PROVIDERS}
    found = []
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        for spec in assets_def.specs:
            if spec.group_name in groups:
                found.append((groups[spec.group_name], spec, assets_def))
    return found


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)
    sensor = next(s for s in defs.sensors or [] if s.name == "connection_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert 15 <= sensor.minimum_interval_seconds <= 30
    schedules = {s.name: s for s in defs.schedules or []}
    assert {"spotify_daily_resync", "spotify_recently_played_poll"} <= set(schedules)
    assert schedules["spotify_recently_played_poll"].cron_schedule == "7-59/15 * * * *"
    assert schedules["apple_music_recently_played_poll"].cron_schedule == "5 * * * *"
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules.values())
    for spec in PROVIDERS:
        assert f"{spec.group}_daily_resync" in schedules


def test_ingestion_has_one_trigger_path_pools_and_freshness() -> None:
    specs = _ingestion_specs()
    assert len(specs) >= 8
    for provider, spec, assets_def in specs:
        assert spec.automation_condition is None, (
            f"{spec.key} must be launched only by the sensor and schedules"
        )
        policy = spec.freshness_policy
        assert isinstance(policy, dg.FreshnessPolicy), spec.key
        every = provider.endpoint(spec.key.path[-1]).cadence.every
        assert every < policy.warn_window.to_timedelta() < policy.fail_window.to_timedelta() <= 3 * every
        assert assets_def.op.pool == f"{provider.group}_api"
        assert assets_def.op.retry_policy is not None


def test_every_job_runs_in_process_and_ui_backfills_batch_users() -> None:
    """The UI's Materialize button and backfills use the implicit asset job, not the provider jobs:
    both must run steps in the run's process, and a backfill must cover up to 250 users a run."""
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def is dg.in_process_executor
    for spec in PROVIDERS:
        assert defs.resolve_job_def(spec.job_name).executor_def is dg.in_process_executor
    for _, _, assets_def in _ingestion_specs():
        assert assets_def.backfill_policy == dg.BackfillPolicy.multi_run(250)
