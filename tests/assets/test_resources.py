"""Configuration reaches Dagster code as resources: secrets stay out of what Dagster stores, and the
engine a run or tick opens is disposed when it ends."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from dagster._serdes import serialize_value

from blendify_assets.assets.resources import WarehouseResource, resources_for
from blendify_assets.cli import main
from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS
from tests.conftest import TEST_KEY


def test_a_sync_keeps_the_key_and_the_database_url_out_of_dagster(sim_env, simulator) -> None:
    """The command's resources carry EnvVars: nothing secret reaches the run config, the job and
    plan snapshots or the event log Dagster keeps (and shows in its UI)."""
    user = simulator.world.spotify_users[0]
    runner = CliRunner()
    assert runner.invoke(main, ["users", "add", user.email]).exit_code == 0
    tokens = json.dumps(simulator.spotify.issue_tokens(user.uid))
    added = runner.invoke(
        main,
        ["connections", "add", "--user", user.email, "--provider", "spotify", "--tokens-json", "-"],
        input=tokens,
    )
    assert added.exit_code == 0, added.output
    synced = runner.invoke(
        main, ["sync", "--user", user.email, "--endpoint", "top_tracks"], catch_exceptions=False
    )
    assert synced.exit_code == 0, synced.output

    secrets = [TEST_KEY, sim_env["BLENDIFY_DATABASE_URL"], tokens]
    with dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as instance:
        [run] = instance.get_runs()
        stored = [
            json.dumps(run.run_config),
            serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
            serialize_value(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)),
            *(serialize_value(event) for event in instance.all_logs(run.run_id)),
        ]
    assert run.is_success
    assert not [s for s in secrets if any(s in text for text in stored)]


def test_a_literal_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="BLENDIFY_ENCRYPTION_KEY"):
        resources_for(WarehouseResource(encryption_key=TEST_KEY), {}, PROVIDERS)
    with pytest.raises(SettingsError, match="SPOTIFY_CLIENT_SECRET"):
        resources_for(WarehouseResource(), {"spotify": {"client_secret": "s3cret"}}, PROVIDERS)
    assert resources_for(
        WarehouseResource(encryption_key=dg.EnvVar("BLENDIFY_ENCRYPTION_KEY")), {}, PROVIDERS
    )


def test_a_tick_disposes_of_its_engine(blendify_env, resources, engine) -> None:
    """The warehouse engine lives for one run or one sensor/schedule evaluation: the daemon evaluates
    the connection sensor every 15 s, and a cached engine per process kept connections forever."""
    defs = build_definitions(PROVIDERS, resources)
    sensor = next(s for s in defs.sensors or [] if s.name == "connection_sensor")
    with dg.instance_for_test() as instance:
        for _ in range(3):
            with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
                sensor(context)
    with engine.connect() as conn:
        others = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    assert others == 0
