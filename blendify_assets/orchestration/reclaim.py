"""Runs the command line executes in its own process, and what is left when that process dies.

`blendify sync` and `blendify demo` run jobs in process (`execute_in_process`). If such a process
is killed (SIGKILL, OOM, a closed laptop lid that never wakes), nothing marks its run failed and
nothing frees the pool slots it claimed: run monitoring only watches runs a run launcher started,
and the default launcher cannot check on a process it did not start. After four such kills every
later Spotify sync would wait forever. So these runs carry the host, pid and start time of their
process, and every command that opens the instance first reclaims the runs whose process is gone:
marks them failed and frees the slots (and queued claims) of every run that is over.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import FINISHED_STATUSES, DagsterRunStatus, RunsFilter

log = logging.getLogger(__name__)

TRIGGER_TAG, HOST_TAG, PID_TAG, STARTED_TAG = (
    "blendify/trigger",
    "blendify/host",
    "blendify/pid",
    "blendify/pid_started",
)
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def process_tags() -> dict[str, str]:
    """Tags for a run this process executes: who runs it, so a later command can tell it died. The
    daemon never retries these runs (it could not: they have no code location to re-launch from)."""
    me = psutil.Process()
    return {
        TRIGGER_TAG: "cli",
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(me.pid),
        STARTED_TAG: f"{me.create_time():.3f}",
        "dagster/max_retries": "0",
    }


def process_alive(tags: Mapping[str, str]) -> bool:
    """Whether the process named by a run's tags still runs (a recycled pid has another start time).
    Runs without the tags, or from another host, are not ours to judge: they count as alive."""
    if tags.get(HOST_TAG) != socket.gethostname():
        return True
    try:
        pid, started = int(tags[PID_TAG]), float(tags[STARTED_TAG])
    except (KeyError, ValueError):
        return True
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and abs(proc.create_time() - started) < 0.5
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process with that pid: ours is gone
        return False


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the slots held, and the claims queued, by runs that are over; returns their ids."""
    storage = instance.event_log_storage
    holders: set[str] = set()
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        holders |= {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
    if not holders:
        return []
    over = [r.dagster_run.run_id for r in instance.get_run_records(
        RunsFilter(run_ids=sorted(holders), statuses=list(FINISHED_STATUSES))
    )]  # fmt: skip
    for run_id in over:
        storage.free_concurrency_slots_for_run(run_id)
    return over


def reclaim_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed this host's command-line runs whose process is gone, then free the slots of every
    finished run; returns the ids of the runs marked failed."""
    reclaimed = []
    records = instance.get_run_records(
        RunsFilter(statuses=UNFINISHED, tags={TRIGGER_TAG: "cli", HOST_TAG: socket.gethostname()})
    )
    for record in records:
        run = record.dagster_run
        if process_alive(run.tags):
            continue
        current = instance.get_run_by_id(run.run_id)  # another command may have reclaimed it just now
        if current is None or current.status not in UNFINISHED:
            continue
        instance.report_run_failed(
            run,
            f"the blendify process that ran it (pid {run.tags.get(PID_TAG)}) is gone; "
            "marked failed by a later command, its pool slots freed",
        )
        reclaimed.append(run.run_id)
    freed = free_slots_of_finished_runs(instance)
    if reclaimed or freed:
        log.info(
            "reclaimed %d dead run(s); freed the slots of %d finished run(s)", len(reclaimed), len(freed)
        )
    return reclaimed
