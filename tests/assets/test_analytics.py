"""The Dagster side: the overlap and blend assets materialised on a test instance, the new-blends
sensor, the automation that refreshes both after syncs, and the definitions loading."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from blendify_assets.analytics.blends import create_blend
from blendify_assets.analytics.tastes import load_tastes
from blendify_assets.assets.analytics import (
    BLEND_TRACKS,
    PUBLISHED,
    TASTE_BUCKETS,
    TASTE_MATCHES,
    TASTE_VECTORS,
    new_blends_sensor,
)
from blendify_assets.blend import pair_overlap
from blendify_assets.cli import main
from blendify_assets.db.taste_matches import current_neighbours, pair_history
from blendify_assets.definitions import defs
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.providers.registry import PROVIDERS
from tests.fixtures.warehouse import count
from tests.fixtures.world import World


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def analytics(resources) -> dict[str, dg.AssetsDefinition]:
    """The analytics assets as the code location builds them, by name, and their resources."""
    built = build_definitions(PROVIDERS, resources)
    graph = built.resolve_asset_graph()
    return {
        "taste_vectors": graph.assets_def_for_key(TASTE_VECTORS),
        "taste_matches": graph.assets_def_for_key(TASTE_MATCHES),
        "blend_tracks": graph.assets_def_for_key(BLEND_TRACKS),
    }


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    sensor = defs.resolve_sensor_def("analytics_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    targeted = sensor.asset_selection.resolve(defs.resolve_asset_graph())
    assert targeted == {TASTE_VECTORS, TASTE_MATCHES, BLEND_TRACKS, PUBLISHED}, (
        "automation drives only the analytics assets"
    )
    ingestion = [a for a in defs.resolve_asset_graph().asset_nodes if a.key not in targeted]
    assert ingestion and all(a.automation_condition is None for a in ingestion)


def materialize_taste_matches(analytics, instance: dg.DagsterInstance) -> list[dg.AssetMaterialization]:
    """What the automation does: prepare a computation, then each bucket as its own run."""
    assert dg.materialize([analytics["taste_vectors"]], instance=instance).success
    events = []
    for bucket in TASTE_BUCKETS.get_partition_keys():
        result = dg.materialize([analytics["taste_matches"]], partition_key=bucket, instance=instance)
        assert result.success
        events += result.asset_materializations_for_node("analytics__taste_matches")
    return events


def test_taste_matches_asset_appends_each_users_neighbours(
    blendify_env, engine: Engine, world: World, instance: dg.DagsterInstance, analytics, resources
) -> None:
    events = materialize_taste_matches(analytics, instance)
    assert len(events) == 16 and sum(e.metadata["users"].value for e in events) == 4
    assert sum(e.metadata["rows_appended"].value for e in events) == 2
    assert [e.metadata["computation_complete"].value for e in events].count(True) == 1, "the last bucket"

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text, other_user_id::text, rank, score, shared_track_count, "
                "shared_artist_count, song_that_brings_you_together->>'track_name' FROM latest_user_taste_matches "
                "ORDER BY user_id"
            )
        ).all()
    with engine.connect() as conn:
        alice, bob = load_tastes(conn, [world.alice, world.bob])
    expected = pair_overlap(alice, bob).score
    assert sorted(rows) == sorted(
        [
            (world.alice, world.bob, 1, pytest.approx(expected, abs=0.05), 2, 2, "Blinding Lights"),
            (world.bob, world.alice, 1, pytest.approx(expected, abs=0.05), 2, 2, "Blinding Lights"),
        ]
    ), "Carol and Dave share nothing with anyone, so they have no neighbours"

    materialize_taste_matches(analytics, instance)
    assert count(engine, "SELECT count(*) FROM taste_match_runs") == 2
    assert count(engine, "SELECT count(*) FROM user_taste_matches") == 4
    assert count(engine, "SELECT count(*) FROM latest_user_taste_matches") == 2
    with engine.connect() as conn:
        assert len(pair_history(conn, world.bob, world.alice)) == 2
        assert [n["other"] for n in current_neighbours(conn, world.alice)] == ["Bob"]


def test_blend_asset_appends_a_generation_per_materialisation(
    blendify_env, engine: Engine, world: World, instance: dg.DagsterInstance, analytics, resources
) -> None:
    blend_id = str(
        create_blend(engine, "Asset", ["alice@example.com", "bob@example.com"], "balanced", size=6)
    )
    instance.add_dynamic_partitions("blends", [blend_id])
    for _ in range(2):
        result = dg.materialize([analytics["blend_tracks"]], partition_key=blend_id, instance=instance)
        assert result.success
    event = result.asset_materializations_for_node("blend_tracks")[0]
    assert event.partition == blend_id and event.metadata["tracks"].value == 6
    # What an operator sees on the blend's page: its name, members (never emails), a preview.
    assert event.metadata["blend"].value == "Asset" and event.metadata["algorithm"].value == "balanced"
    assert event.metadata["members"].value == f"Alice ({world.alice[:8]}), Bob ({world.bob[:8]})"
    preview = event.metadata["preview"].value
    assert preview.startswith("| # | track | artist | from |") and preview.count("\n| ") == 6
    assert event.metadata["dagster/row_count"].value == 6
    assert "@" not in str(dict(event.metadata))
    assert count(engine, "SELECT count(DISTINCT created_at) FROM blend_tracks") == 2


def test_new_blends_sensor_picks_up_each_blend_exactly_once(
    blendify_env, engine: Engine, world: World, instance: dg.DagsterInstance, resources
) -> None:
    def tick(cursor: str | None):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            result = new_blends_sensor(context)
        if isinstance(result, dg.SensorResult):
            for request in result.dynamic_partitions_requests or []:  # what the daemon does
                instance.add_dynamic_partitions("blends", list(request.partition_keys))
        return result

    assert isinstance(tick(None), dg.SkipReason)
    first = create_blend(engine, "One", ["alice@example.com", "bob@example.com"], "balanced")
    r1 = tick(None)
    assert [r.partition_key for r in r1.run_requests] == [str(first)]
    assert r1.run_requests[0].run_key == f"blend-{first}"
    r2 = tick(r1.cursor)
    assert not r2.run_requests, "a blend already picked up is not requested again"
    second = create_blend(engine, "Two", ["carol@example.com", "dave@example.com"], "weighted")
    r3 = tick(r2.cursor)
    assert [r.partition_key for r in r3.run_requests] == [str(second)]
    assert instance.get_dynamic_partitions("blends") == [str(first), str(second)]


def test_automation_refreshes_after_a_sync_once_per_tick(instance: dg.DagsterInstance) -> None:
    selection = dg.AssetSelection.assets(TASTE_VECTORS, TASTE_MATCHES, BLEND_TRACKS)
    start = datetime(2026, 3, 1, 1, 0)
    instance.add_dynamic_partitions("blends", ["b1", "b2"])

    def evaluate(at: datetime, cursor=None):
        return dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, evaluation_time=at, cursor=cursor
        )

    r = evaluate(start)
    assert r.total_requested == 0
    r = evaluate(start + timedelta(hours=6), r.cursor)
    assert r.total_requested == 0, "ticks (06:00 for both) with no sync since do nothing"
    instance.add_dynamic_partitions("spotify_users", ["u1"])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(dg.AssetKey(["spotify", "top_tracks"]), partition="u1")
    )
    r = evaluate(start + timedelta(hours=6, minutes=5), r.cursor)
    assert r.get_num_requested(TASTE_VECTORS) == 1, "a sync after the tick: refresh"
    assert r.get_requested_partitions(BLEND_TRACKS) == {"b1", "b2"}, "every blend, in one request"
    r = evaluate(start + timedelta(hours=6, minutes=10), r.cursor)
    assert r.total_requested == 0, "handled: not again until the next tick and another sync"


def test_missing_analytics_fill_after_the_first_sync_without_waiting_for_the_tick(
    instance: dg.DagsterInstance,
) -> None:
    """Issue 12 (4): in a new deployment (or `dev --demo`) taste matches and blends are generated
    as soon as syncs land, not at the next 06:00 tick; once there, they wait for the tick."""
    selection = dg.AssetSelection.assets(TASTE_VECTORS, TASTE_MATCHES, BLEND_TRACKS)
    start = datetime(2026, 3, 1, 1, 0)
    instance.add_dynamic_partitions("blends", ["b1"])

    def evaluate(at: datetime, cursor=None):
        return dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, evaluation_time=at, cursor=cursor
        )

    r = evaluate(start)
    assert r.total_requested == 0, "nothing synced yet: nothing to compute from"
    instance.add_dynamic_partitions("spotify_users", ["u1"])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(dg.AssetKey(["spotify", "top_tracks"]), partition="u1")
    )
    r = evaluate(start + timedelta(minutes=1), r.cursor)
    assert r.get_num_requested(TASTE_VECTORS) == 1, "missing: generated after the first sync"
    assert r.get_requested_partitions(BLEND_TRACKS) == {"b1"}
    instance.report_runless_asset_event(dg.AssetMaterialization(TASTE_VECTORS))
    r = evaluate(start + timedelta(minutes=2), r.cursor)
    assert r.get_requested_partitions(TASTE_MATCHES) == set(TASTE_BUCKETS.get_partition_keys()), (
        "a new computation: every bucket, each its own run"
    )
    for bucket in TASTE_BUCKETS.get_partition_keys():
        instance.report_runless_asset_event(dg.AssetMaterialization(TASTE_MATCHES, partition=bucket))
    instance.report_runless_asset_event(dg.AssetMaterialization(BLEND_TRACKS, partition="b1"))
    instance.report_runless_asset_event(
        dg.AssetMaterialization(dg.AssetKey(["spotify", "top_tracks"]), partition="u1")
    )
    r = evaluate(start + timedelta(minutes=3), r.cursor)
    assert r.total_requested == 0, "present: the next sync waits for the cron tick"


def test_a_blend_created_from_the_command_line_is_generated_once(
    blendify_env, engine: Engine, world: World, instance: dg.DagsterInstance, resources
) -> None:
    """Issue 10 (9): `blends create` generates it; the sensor only registers it for refreshes."""
    created = CliRunner().invoke(main, ["blends", "create", "Once", "--users", "alice@example.com,bob@example.com",
                                        "--algorithm", "balanced", "--size", "6"], catch_exceptions=False)  # fmt: skip
    assert created.exit_code == 0, created.output
    blend_id = created.output.splitlines()[0]
    bare = str(create_blend(engine, "Bare", ["carol@example.com", "dave@example.com"], "balanced"))

    with dg.build_sensor_context(instance=instance, cursor=None, resources=resources) as context:
        result = new_blends_sensor(context)
    assert [r.partition_key for r in result.run_requests] == [bare], "only the blend without tracks runs"
    added = [k for request in result.dynamic_partitions_requests for k in request.partition_keys]
    assert sorted(added) == sorted([blend_id, bare]), "both are refreshed daily from now on"
    generations = "SELECT count(DISTINCT created_at) FROM blend_tracks WHERE blend_id = :b"
    assert count(engine, generations, b=blend_id) == 1


def test_analytics_runs_queue_behind_syncs_and_never_take_every_run_slot() -> None:
    """Issue 18 (w18a): a new computation's 16 eager bucket runs filled the 4-run queue, and a UI
    backfill of syncs waited behind them for minutes. Every analytics run (the automation's and the
    taste_matching job's) queues at priority -1 (the QueuedRunCoordinator starts the highest first)
    and under a tag the instance limits below the queue's size."""
    from blendify_assets.assets.analytics import analytics_automation, taste_matching_job
    from blendify_assets.orchestration.instance import instance_config

    for tags in (analytics_automation.run_tags, taste_matching_job.tags):
        assert tags["dagster/priority"] == "-1"
        assert tags["blendify/queue"] == "analytics"
    runs = instance_config("postgresql+psycopg2://u@h/db", {"spotify_api": 4})["concurrency"]["runs"]
    [limit] = [t for t in runs.get("tag_concurrency_limits", []) if t["key"] == "blendify/queue"]
    assert limit["value"] == "analytics"
    assert 1 <= limit["limit"] < runs["max_concurrent_runs"]


def test_a_queued_backfill_starts_before_a_computations_queued_buckets() -> None:
    """The run queue itself (Dagster's QueuedRunCoordinator daemon, configured as `blendify dev`
    configures it): 16 bucket runs queued by the automation, then a UI backfill of syncs. The next
    runs it starts include the backfill and leave the buckets at most their limit."""
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from blendify_assets.assets.analytics import analytics_automation
    from blendify_assets.orchestration.instance import instance_config

    config = instance_config("postgresql+psycopg2://u@h/db", {"spotify_api": 4})
    overrides = {"run_coordinator": config["run_coordinator"], "concurrency": config["concurrency"]}
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("blendify"), "__repository__")

    def queued(job: str, tags: dict[str, str]) -> DagsterRun:
        return create_run_for_test(
            instance, job_name=job, status=DagsterRunStatus.QUEUED, tags=tags,
            remote_job_origin=RemoteJobOrigin(repository, job),
        )  # fmt: skip

    with dg.instance_for_test(overrides=overrides) as instance:
        buckets = [
            queued("__ASSET_JOB", {**analytics_automation.run_tags, "dagster/partition": f"{b:02d}"})
            for b in range(16)
        ]
        backfill = queued("spotify_sync", {"dagster/from_ui": "true"})
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        started = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
    ids = {run.run_id for run in started}
    assert backfill.run_id in ids, "the backfill waits behind the buckets"
    assert len(ids & {run.run_id for run in buckets}) <= 2
