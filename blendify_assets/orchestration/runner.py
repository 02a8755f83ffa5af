"""Running syncs through Dagster from the command line: the Postgres-backed instance, partition
batches that become few runs, and in-process execution (the UI sees these runs too)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import dagster as dg

from ..settings import Settings
from .instance import set_pool_limits, write_dagster_home
from .partitions import USER_PARTITIONS

# Users per run. A run costs seconds of fixed Dagster work (launch, code load, planning) and a
# retry re-checks its whole batch (cheaply: unchanged data appends nothing), so batches are large.
USERS_PER_RUN = 250

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def console_logs() -> dict:
    """Run config for command-line runs: Dagster's console log only with `-v` (the root logger at
    INFO). Otherwise a failed step would print its stack trace; the command prints a summary, and
    the full events stay in the instance for `blendify dev`."""
    level = "INFO" if logging.getLogger().getEffectiveLevel() <= logging.INFO else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The instance `blendify dev` uses: runs, events and schedules in Postgres."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    instance = dg.DagsterInstance.from_config(str(write_dagster_home(settings)))
    set_pool_limits(instance)
    return instance


def contiguous_batches(ordered_keys: Sequence[str], wanted: Sequence[str], max_size: int) -> list[list[str]]:
    """Group `wanted` partition keys into runs: contiguous stretches of the partition order, at most
    `max_size` each (a partition range is one run; a scattered set would be one run per key)."""
    wanted_set = set(wanted)
    batches: list[list[str]] = []
    current: list[str] = []
    for key in ordered_keys:
        if key in wanted_set and len(current) < max_size:
            current.append(key)
            continue
        if current:
            batches.append(current)
        current = [key] if key in wanted_set else []
    if current:
        batches.append(current)
    return batches


def range_tags(batch: Sequence[str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": batch[0], "dagster/asset_partition_range_end": batch[-1]}


def run_sync_in_process(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    provider: str,
    user_ids: Sequence[str],
    endpoints: Sequence[str] | None = None,
    batch_size: int = USERS_PER_RUN,
) -> list[dg.ExecuteInProcessResult]:
    """Materialise the provider's endpoint assets for these users: one run per contiguous batch."""
    from ..ingest.registry import providers
    from .jobs import sync_job_name

    partitions = USER_PARTITIONS[provider]
    instance.add_dynamic_partitions(partitions.name, list(user_ids))
    ordered = instance.get_dynamic_partitions(partitions.name)
    group = providers()[provider].group
    selection = [dg.AssetKey([group, e]) for e in endpoints] if endpoints else None
    job = defs.resolve_job_def(sync_job_name(provider))
    results = []
    for batch in contiguous_batches(ordered, user_ids, batch_size):
        results.append(
            job.execute_in_process(
                instance=instance,
                run_config=console_logs(),
                tags=range_tags(batch) | {"blendify/trigger": "cli"},
                asset_selection=selection,
                raise_on_error=False,
            )
        )
    return results
