"""A sensor tick's run executed in-process: simulator over HTTP -> Dagster -> Postgres warehouse."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from blendify_assets.demo.world import simulator_values
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.orchestration.runs import QUIET_LOGS
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.simulator import Simulator, SimulatorConfig

ENDPOINTS = 8


@pytest.fixture
def sim(blendify_env):
    with Simulator.running(SimulatorConfig(users=4, seed=5, profile_mix="tiny")) as sim:
        yield sim


@pytest.fixture
def defs(sim, make_resources, tmp_path) -> dg.Definitions:
    """The code location, its providers pointed at the simulator (resources, not the environment)."""
    return build_definitions(PROVIDERS, make_resources(simulator_values(sim, tmp_path, PROVIDERS)))


def connect_sim_user(connect, sim, index: int) -> str:
    user = sim.world.spotify_users[index]
    return connect(user.email, "spotify", sim.spotify.issue_tokens(user.uid))


def execute(defs, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(request.job_name)
    return job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags, run_config=QUIET_LOGS,
        asset_selection=request.asset_selection, raise_on_error=False,
    )  # fmt: skip


def sync_log(warehouse, user_id: str) -> dict[str, str]:
    with warehouse.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT endpoint, status FROM sync_log WHERE user_id = CAST(:u AS uuid)"), {"u": user_id}
        ).all()
    return dict(rows)


def test_sensor_tick_then_its_run_fills_the_warehouse(
    sim, defs, pg_instance, resources, connect, warehouse
) -> None:
    user = connect_sim_user(connect, sim, 0)
    sensor = next(s for s in defs.sensors or [] if s.name == "connection_sensor")
    with dg.build_sensor_context(instance=pg_instance, resources=resources, definitions=defs) as context:
        result = sensor(context)
    assert len(result.run_requests) == 1
    for add in result.dynamic_partitions_requests:
        pg_instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    run = execute(defs, pg_instance, result.run_requests[0])
    assert run.success
    assert sync_log(warehouse, user) == dict.fromkeys(sync_log(warehouse, user), "success")
    assert len(sync_log(warehouse, user)) == ENDPOINTS
    with warehouse.connect() as conn:
        saved = conn.execute(
            sa.text("SELECT count(*) FROM latest_user_saved_tracks WHERE user_id = CAST(:u AS uuid)"),
            {"u": user},
        ).scalar()
    assert saved == len(sim.world.spotify_truth(sim.world.spotify_users[0].uid)["saved_tracks"])
    materialized = pg_instance.get_materialized_partitions(dg.AssetKey(["spotify", "top_tracks"]))
    assert materialized == {user}


def test_a_failing_user_or_endpoint_does_not_stop_the_others(
    sim, defs, pg_instance, connect, warehouse
) -> None:
    users = [connect_sim_user(connect, sim, i) for i in range(3)]
    pg_instance.add_dynamic_partitions("spotify_users", users)
    revoked = sim.world.spotify_users[1].uid
    sim.spotify.revoke(revoked)
    sim.spotify.expire_access_tokens(revoked)
    sim.faults.add(
        "/me/albums", "malformed_items"
    )  # one endpoint unreadable for everyone: failed, not retried
    request = dg.RunRequest(
        job_name="spotify_sync",
        tags={"dagster/asset_partition_range_start": users[0], "dagster/asset_partition_range_end": users[2]},
    )
    run = execute(defs, pg_instance, request)
    assert not run.success  # the run reports the failures...
    for ok_user in (users[0], users[2]):  # ...but everything else for the other users was synced
        log = sync_log(warehouse, ok_user)
        assert log.pop("saved_albums") == "failed"
        assert set(log.values()) == {"success"} and len(log) == ENDPOINTS - 1
    assert "needs_reauth" in sync_log(warehouse, users[1]).values()
    top = pg_instance.get_materialized_partitions(dg.AssetKey(["spotify", "top_tracks"]))
    assert top == {users[0], users[2]}
    assert not pg_instance.get_materialized_partitions(dg.AssetKey(["spotify", "saved_albums"]))
