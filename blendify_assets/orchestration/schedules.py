"""Re-sync schedules: a daily re-sync per provider and polls of short-lived endpoints.

A tick's users go in few runs: stretches of the partition order become partition-range runs (a run
costs ~1.6 s of Dagster overhead here, more than a user's sync). Connections that need
re-authorisation, or were revoked, are left out. The daily re-sync takes the stalest users first, as
far as the day's request budget goes; an adaptive poll (Spotify's recently played) launches only
the users due (orchestration/budget.py); a paused provider launches nothing.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from sqlalchemy.engine import Engine

from blendify_assets.db.connections import active_user_ids
from blendify_assets.ingest.budget import request_budget
from blendify_assets.orchestration.budget import paused_skip, poll_requests, stalest_first_requests
from blendify_assets.orchestration.runs import (
    POLL_USERS_PER_RUN,
    SYNC_RUN_CONFIG,
    USERS_PER_RUN,
    contiguous_batches,
    range_tags,
)
from blendify_assets.providers.spec import DAILY, Cadence, Endpoint, ProviderSpec


def resync_requests(
    context: dg.ScheduleEvaluationContext,
    engine: Engine,
    spec: ProviderSpec[Any],
    schedule_name: str,
    asset_selection: Sequence[dg.AssetKey] | None = None,
) -> list[dg.RunRequest] | dg.SkipReason:
    ordered = context.instance.get_dynamic_partitions(spec.partitions_name)
    active = active_user_ids(engine, spec.name)
    wanted = [key for key in ordered if key in active]
    if not wanted:
        return dg.SkipReason(f"no active {spec.name} connections with a partition yet")
    moment = context.scheduled_execution_time or datetime.now(UTC)
    tick = moment.astimezone(UTC).strftime("%Y%m%dT%H%M")
    per_run = POLL_USERS_PER_RUN if asset_selection else USERS_PER_RUN  # a one-endpoint poll: larger runs
    return [
        dg.RunRequest(
            run_key=f"{schedule_name}-{tick}-{index}",
            run_config=SYNC_RUN_CONFIG,
            tags=range_tags(batch) | {"blendify/trigger": schedule_name, "blendify/provider": spec.name},
            asset_selection=list(asset_selection) if asset_selection else None,
        )
        for index, batch in enumerate(contiguous_batches(ordered, wanted, per_run))
    ]


def build_schedule(
    name: str,
    spec: ProviderSpec[Any],
    job: UnresolvedAssetJobDefinition,
    cadence: Cadence,
    description: str,
    endpoint: Endpoint | None,
) -> dg.ScheduleDefinition:
    """`endpoint` None: the daily re-sync (stalest first, within the budget); an adaptive endpoint:
    its users due now; any other: every active user (Apple's hourly recently played)."""
    selection = [dg.AssetKey(spec.asset_key_path(endpoint.name))] if endpoint else None

    @dg.schedule(
        name=name,
        cron_schedule=cadence.cron,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
        required_resource_keys={"warehouse", spec.group},
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        engine = context.resources.warehouse.engine
        if endpoint is None:
            budget = request_budget(getattr(context.resources, spec.group).settings(spec))
            return stalest_first_requests(context, engine, spec, name, budget)
        if endpoint.adaptive:
            return poll_requests(context, engine, spec, endpoint, name, selection or [])
        return paused_skip(context.log, engine, spec) or resync_requests(
            context, engine, spec, name, selection
        )

    return _schedule


def build_schedules(
    spec: ProviderSpec[Any], job: UnresolvedAssetJobDefinition
) -> list[dg.ScheduleDefinition]:
    """`<group>_daily_resync` for every endpoint, and `<group>_<endpoint>_poll` for each endpoint
    refreshed more often than daily (its cadence)."""
    schedules = [
        build_schedule(
            f"{spec.group}_daily_resync",
            spec,
            job,
            DAILY,
            f"Every endpoint for the active {spec.name} connections, stalest first, as far as the "
            "day's request budget goes, in batched range runs.",
            None,
        )
    ]
    for endpoint in spec.endpoints:
        if endpoint.cadence != DAILY:
            schedules.append(
                build_schedule(
                    f"{spec.group}_{endpoint.name}_poll",
                    spec,
                    job,
                    endpoint.cadence,
                    f"{endpoint.name} for each active {spec.name} connection whose poll is due, as its "
                    f"listening decides ({endpoint.cadence.cron})."
                    if endpoint.adaptive
                    else f"{endpoint.name} for every active {spec.name} connection ({endpoint.cadence.cron}).",
                    endpoint,
                )
            )
    return schedules
