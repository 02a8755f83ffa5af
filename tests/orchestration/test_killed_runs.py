"""A `blendify sync` killed while it holds a pool slot gives the slot back, and a sync waiting for a
slot says so and stops on Ctrl-C: real processes, SIGKILL and SIGINT, on the embedded server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.orchestration.factory import pool_limits
from blendify_assets.orchestration.reclaim import reclaim_dead_runs
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import SimulatorConfig, UserProfile
from tests.conftest import TEST_KEY

POOL = "spotify_api"
HOLDERS = pool_limits(PROVIDERS)[POOL]

pytestmark = pytest.mark.slow


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(users=HOLDERS + 3, seed=7, profiles=(UserProfile.tiny(spotify=True),))


@pytest.fixture
def emails(sim_env, simulator, engine) -> list[str]:
    out = []
    for user in simulator.world.spotify_users:
        add_user(engine, user.email)
        tokens = TokenPayload.parse(json.dumps(simulator.spotify.issue_tokens(user.uid)))
        connections.upsert(engine, Vault([TEST_KEY]), user.email, "spotify", tokens)
        out.append(user.email)
    return out


@pytest.fixture
def start(sim_env, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """start(email, endpoint) -> a `blendify sync` process (stderr in a file); killed at teardown."""
    started: list[subprocess.Popen] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))}
    env |= sim_env | {"SPOTIFY_CLIENT_ID": "blendify-test"}

    def _start(email: str, endpoint: str) -> subprocess.Popen:
        err = open(tmp_path / f"{email}-{endpoint}-{len(started)}.err", "w+")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "blendify_assets", "sync", "--user", email, "--endpoint", endpoint],
            env=env, stdout=subprocess.DEVNULL, stderr=err, text=True,
        )  # fmt: skip
        proc.stderr_file = err  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stderr_of(proc: subprocess.Popen) -> str:
    return Path(proc.stderr_file.name).read_text()  # type: ignore[attr-defined]


def wait_for(
    what: str, check: Callable[[], bool], procs: list[subprocess.Popen], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            said = "\n".join(f"pid {p.pid} (exit {p.poll()}): {stderr_of(p)[-500:]}" for p in procs)
            raise AssertionError(f"timed out waiting for {what}; the commands said:\n{said}")
        time.sleep(0.3)


def claimed(instance: dg.DagsterInstance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots]


def runs_of(instance: dg.DagsterInstance, proc: subprocess.Popen) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs(RunsFilter(tags={"blendify/pid": str(proc.pid)}))]


def hold_every_slot(
    simulator, emails: list[str], start, instance: dg.DagsterInstance
) -> list[subprocess.Popen]:
    """Four syncs inside their step, each holding a slot: a 429 with Retry-After 50 s keeps them there."""
    simulator.faults.add("/me/top/tracks", "rate_limit", retry_after=50)
    holders = [start(email, "top_tracks") for email in emails[:HOLDERS]]
    wait_for(f"{HOLDERS} held slots", lambda: len(claimed(instance)) == HOLDERS, holders)
    return holders


def start_waiting(start, email: str) -> subprocess.Popen:
    proc = start(email, "saved_albums")
    wait_for("the waiting message", lambda: f"waiting for a free {POOL} slot" in stderr_of(proc), [proc])
    return proc


def kill(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()


def pending(instance: dg.DagsterInstance) -> set[str]:
    return {p.run_id for p in instance.event_log_storage.get_concurrency_info(POOL).pending_steps}


def test_ctrl_c_stops_a_waiting_sync_and_the_next_command_reclaims_killed_ones(
    simulator, emails, start
) -> None:
    # The instance exists already (a fresh home's first commands racing to create it is another story).
    with dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as instance:
        holders = hold_every_slot(simulator, emails, start, instance)

        # Waiting syncs say so; Ctrl-C and SIGTERM stop them at once, leaving nothing queued.
        interrupted, terminated, doomed = (start_waiting(start, e) for e in emails[HOLDERS:])
        interrupted.send_signal(signal.SIGINT)
        terminated.send_signal(signal.SIGTERM)
        for proc in (interrupted, terminated):
            assert proc.wait(timeout=20) == 1
            assert "interrupted" in stderr_of(proc).strip().splitlines()[-1]
            (stopped,) = runs_of(instance, proc)
            assert stopped.status == DagsterRunStatus.FAILURE and stopped.run_id not in pending(instance)

        # SIGKILL the holders and a waiter: their runs stay STARTED, their slots and claim stay taken.
        kill([*holders, doomed])
        killed = [run.run_id for proc in holders for run in runs_of(instance, proc)]
        assert len(killed) == HOLDERS and sorted(claimed(instance)) == sorted(killed)
        (queued,) = runs_of(instance, doomed)
        assert queued.run_id in pending(instance)

        # The next command reclaims them all (runs failed, slots and claims freed) and runs at once.
        simulator.faults.clear()
        later = start(emails[0], "saved_albums")
        assert later.wait(timeout=180) == 0, stderr_of(later)
        for run_id in [*killed, queued.run_id]:
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == DagsterRunStatus.FAILURE
        assert claimed(instance) == [] and not pending(instance) & {*killed, queued.run_id}


def test_a_waiting_sync_takes_the_slot_of_a_holder_that_died(simulator, emails, start) -> None:
    with dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as instance:
        holders = hold_every_slot(simulator, emails, start, instance)
        patient = start_waiting(start, emails[HOLDERS])
        kill(holders[:1])  # one holder dies; the others keep their slots
        assert patient.wait(timeout=120) == 0, stderr_of(patient)
        (run,) = runs_of(instance, holders[0])
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        kill(holders[1:])
        assert len(reclaim_dead_runs(instance)) == HOLDERS - 1 and claimed(instance) == []
