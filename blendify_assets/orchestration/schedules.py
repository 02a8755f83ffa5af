"""Re-sync schedules: a daily full re-sync per provider and frequent polls of short-lived endpoints.

Each tick covers every user with an active connection in few runs: contiguous stretches of the
partition order become partition-range runs (a run costs ~1.6 s of Dagster overhead here, more than
a user's sync). Connections that need re-authorisation, or were revoked, are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from blendify_assets.assets.resources import BlendifyResource
from blendify_assets.db.connections import active_user_ids
from blendify_assets.orchestration.cadence import DAILY, FREQUENT, Cadence
from blendify_assets.orchestration.partitions import USER_PARTITIONS
from blendify_assets.orchestration.run_config import SYNC_RUN_CONFIG
from blendify_assets.orchestration.runner import USERS_PER_RUN, contiguous_batches, range_tags


def resync_requests(
    context: dg.ScheduleEvaluationContext,
    engine,
    provider: str,
    schedule_name: str,
    asset_selection: Sequence[dg.AssetKey] | None = None,
) -> list[dg.RunRequest] | dg.SkipReason:
    ordered = context.instance.get_dynamic_partitions(USER_PARTITIONS[provider].name)
    active = active_user_ids(engine, provider)
    wanted = [key for key in ordered if key in active]
    if not wanted:
        return dg.SkipReason(f"no active {provider} connections with a partition yet")
    moment = context.scheduled_execution_time or datetime.now(UTC)
    tick = moment.astimezone(UTC).strftime("%Y%m%dT%H%M")
    return [
        dg.RunRequest(
            run_key=f"{schedule_name}-{tick}-{index}",
            run_config=SYNC_RUN_CONFIG,
            tags=range_tags(batch) | {"blendify/trigger": schedule_name, "blendify/provider": provider},
            asset_selection=list(asset_selection) if asset_selection else None,
        )
        for index, batch in enumerate(contiguous_batches(ordered, wanted, USERS_PER_RUN))
    ]


def build_schedule(
    name: str, provider: str, job, cadence: Cadence, description: str, selection: Sequence[dg.AssetKey] | None
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        cron_schedule=cadence.cron,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext, blendify: BlendifyResource):
        return resync_requests(context, blendify.engine, provider, name, selection)

    return _schedule


def build_schedules(jobs: dict, groups: dict[str, str]) -> list[dg.ScheduleDefinition]:
    """`jobs`: provider -> sync job; `groups`: provider -> asset group (the asset key prefix)."""
    schedules = []
    for provider, job in jobs.items():
        schedules.append(
            build_schedule(
                f"{groups[provider]}_daily_resync",
                provider,
                job,
                DAILY,
                f"Every endpoint for every active {provider} connection, daily, in batched range runs.",
                None,
            )
        )
        for (p, endpoint), cadence in FREQUENT.items():
            if p == provider:
                schedules.append(
                    build_schedule(
                        f"{groups[provider]}_{endpoint}_poll",
                        provider,
                        job,
                        cadence,
                        f"{endpoint} for every active {provider} connection ({cadence.cron}).",
                        [dg.AssetKey([groups[provider], endpoint])],
                    )
                )
    return schedules
