"""Running syncs through Dagster from the command line: the Postgres-backed instance, partition
batches that become few runs, and in-process execution (the UI sees these runs too).

A run executes in a worker thread while the command's main thread watches it: Dagster defers
Ctrl-C while a step waits for a pool slot (it only sets a flag), so a sync waiting behind four
others could not be stopped. The main thread says when the run waits, reclaims runs whose process
died meanwhile, and on Ctrl-C or SIGTERM marks the run failed and frees its slots before exiting.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.utils import make_new_run_id

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.orchestration.factory import pool_limits
from blendify_assets.orchestration.instance import open_instance
from blendify_assets.orchestration.reclaim import PID_TAG, process_tags, reclaim_dead_runs
from blendify_assets.orchestration.runs import USERS_PER_RUN, console_logs, contiguous_batches, range_tags
from blendify_assets.providers.spec import ProviderSpec

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the main thread looks at the run
RECLAIM_EVERY_SECONDS = 5.0  # while waiting for a slot: a holder that died meanwhile gives it back


class RunInterrupted(BlendifyError):
    """Ctrl-C or SIGTERM stopped a run; it is marked failed and its slots are free."""


def dagster_instance(settings: WarehouseSettings, specs: Sequence[ProviderSpec[Any]]) -> dg.DagsterInstance:
    """The instance `blendify dev` uses: runs, events and schedules in Postgres, the providers'
    pools at their limits, and the runs of killed commands reclaimed."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    instance = open_instance(settings, pool_limits(specs))
    reclaim_dead_runs(instance)  # runs of killed commands would hold their pool slots forever
    return instance


def run_sync_in_process(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    spec: ProviderSpec[Any],
    user_ids: Sequence[str],
    endpoints: Sequence[str] | None = None,
    batch_size: int = USERS_PER_RUN,
    on_wait: Callable[[str], None] | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Materialise the provider's endpoint assets for these users: one run per contiguous batch.
    `on_wait` hears (once per run) that the run waits for a pool slot, and why."""
    instance.add_dynamic_partitions(spec.partitions_name, list(user_ids))
    ordered = instance.get_dynamic_partitions(spec.partitions_name)
    selection = [dg.AssetKey(spec.asset_key_path(e)) for e in endpoints] if endpoints else None
    job = defs.resolve_job_def(spec.job_name)
    results = []
    for batch in contiguous_batches(ordered, user_ids, batch_size):
        run_id = make_new_run_id()

        def execute(batch: Sequence[str] = batch, run_id: str = run_id) -> dg.ExecuteInProcessResult:
            return job.execute_in_process(
                instance=instance,
                run_config=console_logs(),
                tags=range_tags(batch) | process_tags(),
                asset_selection=selection,
                raise_on_error=False,
                run_id=run_id,
            )

        results.append(watch_run(instance, run_id, execute, spec.pool, on_wait or log.warning))
    return results


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a command like Ctrl-C does (main thread only, where signals arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def watch_run(
    instance: dg.DagsterInstance,
    run_id: str,
    execute: Callable[[], dg.ExecuteInProcessResult],
    pool: str,
    on_wait: Callable[[str], None],
) -> dg.ExecuteInProcessResult:
    """Run `execute` (a job execution with id `run_id`) in a worker thread; meanwhile report a wait
    for a `pool` slot, reclaim dead holders, and turn Ctrl-C/SIGTERM into a failed run with its slots
    freed (`RunInterrupted`)."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = execute()
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"dagster-run-{run_id[:8]}", daemon=True)
    said_waiting, last_reclaim = False, time.monotonic()
    with _sigterm_as_interrupt():
        try:
            worker.start()
            while worker.is_alive():
                worker.join(POLL_SECONDS)
                if not worker.is_alive():
                    break
                holders = _waiting_behind(instance, run_id, pool)
                if holders is None:
                    continue
                if not said_waiting:
                    said_waiting = True
                    on_wait(f"waiting for a free {pool} slot: {holders}; Ctrl-C stops")
                if time.monotonic() - last_reclaim > RECLAIM_EVERY_SECONDS:
                    last_reclaim = time.monotonic()
                    reclaim_dead_runs(instance)
        except KeyboardInterrupt:
            _abandon(instance, run_id)
            raise RunInterrupted(
                f"interrupted: run {run_id} marked failed and its {pool} slots freed"
            ) from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _waiting_behind(instance: dg.DagsterInstance, run_id: str, pool: str) -> str | None:
    """Who holds `pool` when `run_id` has a step queued for it, unassigned; None when not waiting."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    if not any(p.run_id == run_id and p.assigned_timestamp is None for p in info.pending_steps):
        return None
    holders = sorted({s.run_id for s in info.claimed_slots})
    runs = {r.run_id: r for r in instance.get_runs(dg.RunsFilter(run_ids=holders))} if holders else {}
    named = [
        f"{h[:8]}" + (f" (pid {runs[h].tags[PID_TAG]})" if h in runs and PID_TAG in runs[h].tags else "")
        for h in holders
    ]
    return f"{len(info.claimed_slots)} of {info.slot_count} held by run(s) {', '.join(named)}"


def _abandon(instance: dg.DagsterInstance, run_id: str) -> None:
    """Mark the run failed (unless it finished) and free its slots and queued claims."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, "interrupted (Ctrl-C or SIGTERM) in the blendify command running it")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
