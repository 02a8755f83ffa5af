"""A spent quota pauses the provider for everyone (issue 18), end to end: simulator over HTTP ->
Dagster run (Postgres instance) -> Postgres warehouse, then the schedules' next ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from blendify_assets.assets.resources import WarehouseResource
from blendify_assets.db import provider_budget
from blendify_assets.demo.world import simulator_values
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.simulator import Simulator, SimulatorConfig
from tests.orchestration.test_end_to_end import execute as execute_request

USERS = 4


@pytest.fixture
def sim(blendify_env):
    with Simulator.running(
        SimulatorConfig(users=USERS, seed=5, profile_mix="tiny", profiles=("tiny",) * USERS)
    ) as sim:
        yield sim


@pytest.fixture
def resources(sim, make_resources, tmp_path) -> dict:
    made = make_resources(simulator_values(sim, tmp_path, PROVIDERS))
    # One user at a time, so "the first user hits it, the others send nothing" is exact; with more
    # users in flight, each sends at most the request it already had on the wire.
    warehouse = made["warehouse"]
    made["warehouse"] = WarehouseResource(
        home=warehouse.home,
        database_url=warehouse.database_url,
        encryption_key=warehouse.encryption_key,
        user_concurrency=1,
    )
    return made


def execute(defs, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """A schedule's request names no job (the schedule's own): run it on the sync job."""
    return execute_request(defs, instance, request.with_replaced_attrs(job_name="spotify_sync"))


def _stored(warehouse) -> tuple[int, int, int]:
    with warehouse.connect() as conn:
        return tuple(
            conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM sync_log), (SELECT count(*) FROM snapshots), "
                    "(SELECT count(*) FROM user_saved_tracks)"
                )
            ).one()
        )


def test_quota_exceeded_pauses_the_provider_for_everyone_until_the_reset(
    sim, resources, pg_instance, connect, warehouse
) -> None:
    defs = build_definitions(PROVIDERS, resources)
    users = [connect(u.email, "spotify", sim.spotify.issue_tokens(u.uid)) for u in sim.world.spotify_users]
    assert len(users) == USERS
    pg_instance.add_dynamic_partitions("spotify_users", users)
    sim.faults.add("*", "quota_exceeded", provider="spotify", retry_after=3600)
    schedule = next(s for s in defs.schedules if s.name == "spotify_daily_resync")

    def tick(when: datetime):
        with dg.build_schedule_context(
            instance=pg_instance, scheduled_execution_time=when, resources=resources
        ) as c:
            return schedule.evaluate_tick(c)

    before = datetime.now(UTC)
    first = tick(before)
    assert len(first.run_requests) == 1
    run = execute(defs, pg_instance, first.run_requests[0])

    # The first user's first request hit the quota; nobody else sent one, in any step of the run.
    assert sim.request_log.count(provider="spotify") == 1
    assert [r.fault for r in sim.request_log.filter(provider="spotify")] == ["quota_exceeded"]
    assert run.success  # nobody failed for their data: everyone is left as not yet synced
    assert _stored(warehouse) == (0, 0, 0)  # nothing partial, no failed or needs-reauth rows
    assert not pg_instance.get_materialized_partitions(dg.AssetKey(["spotify", "saved_tracks"]))
    said = [e.user_message for e in pg_instance.all_logs(run.run_id) if "left for later" in e.user_message]
    assert said and all("spotify is paused until" in m for m in said)
    with warehouse.connect() as conn:
        statuses = {r[0] for r in conn.execute(sa.text("SELECT status FROM provider_connections"))}
    assert statuses == {"active"}
    pause = provider_budget.paused(warehouse, "spotify")
    assert pause is not None and "QUOTA_EXCEEDED" in pause.reason
    assert timedelta(minutes=59) < pause.until - before < timedelta(minutes=61)  # Retry-After: 3600

    # The next ticks launch nothing until the pause ends, and say why.
    sim.faults.clear()
    for when in (before + timedelta(minutes=5), before + timedelta(minutes=59)):
        skipped = tick(when)
        assert not skipped.run_requests and "spotify is paused until" in (skipped.skip_message or "")

    # After the reset the stalest users are synced, every endpoint, and nothing is lost.
    resumed = tick(before + timedelta(minutes=62))
    assert len(resumed.run_requests) == 1
    with warehouse.begin() as conn:  # the step reads the real clock: end the pause as the hour would
        conn.execute(
            sa.text("UPDATE provider_pauses SET paused_until = :t"), {"t": before.replace(tzinfo=None)}
        )
    again = execute(defs, pg_instance, resumed.run_requests[0])
    assert again.success
    synced = pg_instance.get_materialized_partitions(dg.AssetKey(["spotify", "saved_tracks"]))
    assert synced == set(users)
