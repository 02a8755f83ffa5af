"""How sync runs are shaped: their executor, how many users each covers, their logs and tags.

Steps run in the run's own process, one after another. A sync step spends its time waiting on
HTTP for many users at once (asyncio inside the asset), so a subprocess per step (the default
multiprocess executor: ~2 s of interpreter and code loading each, 7 or 8 steps a run) would cost more
CPU on a small machine than the work itself; parallelism comes from concurrent runs instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping, Sequence
from typing import Any

SYNC_RUN_CONFIG: dict[str, Any] = {}  # the code location's executor is in-process (factory.py)

# Users per run (also the ingestion assets' multi-run backfill policy: a UI backfill batches alike). A run costs seconds of fixed Dagster work (launch, code load, planning) and a
# retry re-checks its whole batch (cheaply: unchanged data appends nothing), so batches are large.
USERS_PER_RUN = 250

# Users per run of a one-endpoint poll (Spotify's adaptive recently played, Apple's hourly one): a
# user costs one or two requests there, so four times the users keep a run's work alike and a
# 100,000-user poll creates about 100 runs instead of 400 (docs/deploy.md, "100,000 partitions").
POLL_USERS_PER_RUN = 1000

EVENT_BATCH_SIZE = 1000
"""Asset events Dagster may store in one write (`DAGSTER_EVENT_BATCH_SIZE`, read by the process that
stores them: the run's, and the daemon's for the events it logs when it creates a run). A sync step
hands in its users' materialisations as one batch (`assets/ingestion.py`); at 250 users and 8
endpoints a run otherwise makes 2,000 event-log writes, one per user and endpoint."""


def batch_events(environ: MutableMapping[str, str] | None = None) -> None:
    """Let Dagster store batched asset events together in this process (or in `environ`, a child's
    environment), unless the deployment set its own batch size."""
    (os.environ if environ is None else environ).setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))


# Creating a run writes Dagster's "materialization planned" events: by default one per partition
# and asset (2,000 single-row inserts for a 250-user full sync, 70-130 s per run at load 20, so a
# 100,000-user re-sync's 400 runs took hours to create); with this, one per asset covering the
# run's range (3 s per run). Dagster's caveat: a failed run's partitions are then not shown failed
# in the UI; the sync log and the checks still name the users that failed. Every process that
# creates runs needs it: the daemon and webserver (`dev_server.child_env`) and in-process commands
# (`instance.open_instance`). docs/deploy.md, "100,000 partitions".
PLANNED_EVENTS_ENV = {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"}

QUIET_LOGS: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def console_logs() -> dict[str, Any]:
    """Run config for command-line runs: Dagster's console log only with `-v` (the root logger at
    INFO). Otherwise a failed step would print its stack trace; the command prints a summary, and
    the full events stay in the instance for `blendify dev`."""
    level = "INFO" if logging.getLogger().getEffectiveLevel() <= logging.INFO else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


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
