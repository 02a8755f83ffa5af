"""The production topology on one machine (issue 12, 7): the code location served by `dagster
code-server` over gRPC, loaded by `dagster-webserver` and `dagster-daemon` as separate processes,
on Postgres with the QueuedRunCoordinator and pools; a new connection is synced end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.demo.world import simulator_env, simulator_values
from blendify_assets.orchestration.dev_server import child_env
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.simulator import Simulator, SimulatorConfig
from tests.fixtures import servers
from tests.fixtures.servers import free_port, graphql

pytestmark = pytest.mark.slow
ENDPOINTS = 8


def wait_for(what: str, check, timeout: float, processes: dict[str, subprocess.Popen], logs: Path):
    def alive() -> None:
        for name, process in processes.items():
            assert process.poll() is None, f"{name} exited: {(logs / f'{name}.log').read_text()[-3000:]}"

    return servers.wait_for(what, check, timeout, alive)


LOCATION = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } } } } } }"""
RUNS = """{ runsOrError(filter: {pipelineName: "spotify_sync"}) { ... on Runs { results { runId status
  tags { key value } } } } }"""


@pytest.mark.timeout(900)
def test_code_server_webserver_and_daemon_apart_sync_a_new_connection(
    blendify_env, connect, warehouse, tmp_path: Path
) -> None:
    settings = WarehouseSettings.from_env()
    dagster_instance(settings, PROVIDERS).dispose()  # dagster.yaml: Postgres, queue, pools
    grpc_port, web_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        "      location_name: blendify\n"
    )
    processes: dict[str, subprocess.Popen] = {}
    with Simulator.running(SimulatorConfig(users=2, seed=5, profile_mix="tiny")) as sim:
        values = simulator_values(sim, tmp_path, PROVIDERS)
        env = child_env(settings, blendify_env["BLENDIFY_DATABASE_URL"], simulator_env(values, PROVIDERS))
        commands = {
            "code-server": [sys.executable, "-m", "dagster", "code-server", "start", "-m",
                            "blendify_assets.definitions", "-h", "127.0.0.1", "-p", str(grpc_port),
                            "--location-name", "blendify"],
            "webserver": [sys.executable, "-m", "dagster_webserver", "-w", str(workspace),
                          "-h", "127.0.0.1", "-p", str(web_port)],
            "daemon": [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
        }  # fmt: skip
        try:
            for name, command in commands.items():
                log = (tmp_path / f"{name}.log").open("w")
                processes[name] = subprocess.Popen(
                    command,
                    env=env,
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                if name == "code-server":  # the others connect to it
                    time.sleep(2)
            entries = wait_for(
                "the webserver to load the gRPC location",
                lambda: [
                    e
                    for e in graphql(web_port, LOCATION)["workspaceOrError"]["locationEntries"]
                    if e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                ],
                240, processes, tmp_path,
            )  # fmt: skip
            assert [e["name"] for e in entries] == ["blendify"]

            person = sim.world.spotify_users[0]
            user = connect(person.email, "spotify", sim.spotify.issue_tokens(person.uid))

            def synced() -> bool:
                with warehouse.connect() as conn:
                    done = conn.execute(
                        sa.text(
                            "SELECT count(*) FROM sync_log WHERE user_id = CAST(:u AS uuid) "
                            "AND provider = 'spotify' AND status = 'success'"
                        ),
                        {"u": user},
                    ).scalar()
                return done == ENDPOINTS

            wait_for("the sensor's run to sync the new connection", synced, 300, processes, tmp_path)
            runs = graphql(web_port, RUNS)["runsOrError"]["results"]
            [run] = runs
            tags = {t["key"]: t["value"] for t in run["tags"]}
            assert tags["blendify/trigger"] == "connection_sensor" and tags["dagster/partition"] == user
            wait_for(
                "the run to finish",
                lambda: graphql(web_port, RUNS)["runsOrError"]["results"][0]["status"] == "SUCCESS",
                120, processes, tmp_path,
            )  # fmt: skip
        finally:
            for process in processes.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
