"""What the schedules launch when the provider's budget is what bounds syncing (ingest/budget.py
decides whom; this module turns it into Dagster run requests and skip reasons).

A paused provider (`QuotaExceeded`, db/provider_budget) launches nothing, and the first tick that
sees the pause logs why, once; every skipped tick's reason names it in the UI.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from blendify_assets.db import poll_schedule, provider_budget
from blendify_assets.db.connections import active_among, active_user_ids
from blendify_assets.ingest.budget import POLL_DUE_BY, SYNCED_BEFORE, plan_resync
from blendify_assets.orchestration.runs import (
    POLL_USERS_PER_RUN,
    SYNC_RUN_CONFIG,
    USERS_PER_RUN,
    contiguous_batches,
    range_tags,
)
from blendify_assets.providers.spec import Endpoint, ProviderSpec


def paused_skip(
    log: Any, engine: Engine, spec: ProviderSpec[Any], now: datetime | None = None
) -> dg.SkipReason | None:
    """A skip naming the pause when `spec`'s provider is paused (logged once per pause), else None."""
    pause = provider_budget.paused(engine, spec.name, now)
    if pause is None:
        return None
    if provider_budget.announce(engine, spec.name):
        log.warning(f"no {spec.name} runs launched: {pause.describe()}")
    return dg.SkipReason(f"no runs launched: {pause.describe()}")


def spanning_batches(ordered_keys: Sequence[str], wanted: Sequence[str], max_size: int) -> list[list[str]]:
    """`wanted` keys in partition order, at most `max_size` a batch; a batch runs as the range from its
    first key to its last (keys in between that are not wanted are left alone by the step)."""
    wanted_set = set(wanted)
    ordered = [k for k in ordered_keys if k in wanted_set]
    return [ordered[i : i + max_size] for i in range(0, len(ordered), max_size)]


def _requests(
    name: str, tick: str, spec: ProviderSpec[Any], batches: list[list[str]], tags: dict[str, str],
    selection: Sequence[dg.AssetKey] | None,
) -> list[dg.RunRequest]:  # fmt: skip
    return [
        dg.RunRequest(
            run_key=f"{name}-{tick}-{index}",
            run_config=SYNC_RUN_CONFIG,
            tags=range_tags(batch) | {"blendify/trigger": name, "blendify/provider": spec.name} | tags,
            asset_selection=list(selection) if selection else None,
        )
        for index, batch in enumerate(batches)
    ]


def poll_requests(
    context: dg.ScheduleEvaluationContext, engine: Engine, spec: ProviderSpec[Any], endpoint: Endpoint, name: str,
    selection: Sequence[dg.AssetKey],
) -> list[dg.RunRequest] | dg.SkipReason:  # fmt: skip
    """Runs for the users whose adaptive poll is due (an index range of poll_schedule)."""
    moment = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
    skip = paused_skip(context.log, engine, spec, moment)
    if skip is not None:
        return skip
    planned = poll_schedule.due(engine, spec.name, endpoint.name, moment)
    active = active_among(engine, spec.name, planned)
    due = [u for u in planned if u in active]
    if not due:
        return dg.SkipReason(f"no {spec.name} user's {endpoint.name} poll is due")
    ordered = context.instance.get_dynamic_partitions(spec.partitions_name)
    batches = spanning_batches(ordered, due, POLL_USERS_PER_RUN)
    tick = moment.strftime("%Y%m%dT%H%M")
    return _requests(name, tick, spec, batches, {POLL_DUE_BY: moment.isoformat()}, selection)


def stalest_first_requests(
    context: dg.ScheduleEvaluationContext, engine: Engine, spec: ProviderSpec[Any], name: str,
    budget: int | None,
) -> list[dg.RunRequest] | dg.SkipReason:  # fmt: skip
    """Runs re-syncing the stalest active users the window's remaining budget pays for."""
    moment = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
    skip = paused_skip(context.log, engine, spec, moment)
    if skip is not None:
        return skip
    ordered = context.instance.get_dynamic_partitions(spec.partitions_name)
    known = set(ordered)
    active = [u for u in active_user_ids(engine, spec.name) if u in known]
    if not active:
        return dg.SkipReason(f"no active {spec.name} connections with a partition yet")
    plan = plan_resync(engine, spec, active, budget, moment)
    if not plan.users:
        return dg.SkipReason(
            f"the {spec.name} request budget is spent ({plan.remaining} of {budget} left, about "
            f"{plan.per_user} a user): {plan.carried} user(s) carried to the next window"
        )
    if plan.carried:
        context.log.info(
            f"{len(plan.users)} stalest {spec.name} user(s) fit the budget; {plan.carried} carried to the next window"
        )
    # Everyone fits: exact ranges of active users (as before budgets). Otherwise ranges spanning the
    # chosen users; the step re-syncs only those (stale by the cutoff, active), stalest first.
    batches = (
        contiguous_batches(ordered, plan.users, USERS_PER_RUN)
        if not plan.carried
        else spanning_batches(ordered, plan.users, USERS_PER_RUN)
    )
    tick = moment.strftime("%Y%m%dT%H%M")
    return _requests(name, tick, spec, batches, {SYNCED_BEFORE: plan.cutoff.isoformat()}, None)
