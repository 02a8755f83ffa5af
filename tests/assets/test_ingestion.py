"""The ingestion assets as an operator sees them in the Dagster UI: people named, revoked connections
skipped with a warning (not a failed step), checks that report only what they checked, catalog
metadata. A real run: simulator over HTTP -> Dagster (Postgres instance) -> Postgres warehouse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest
import sqlalchemy as sa

from blendify_assets.db.users import add_user
from blendify_assets.definitions import defs as location
from blendify_assets.demo.world import simulator_values
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.orchestration.runs import QUIET_LOGS
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.simulator import Simulator, SimulatorConfig
from tests.orchestration.conftest import connect, pg_instance, warehouse  # noqa: F401 (fixtures)

TOP = dg.AssetKey(["spotify", "top_tracks"])
SAVED = dg.AssetKey(["spotify", "saved_tracks"])


@pytest.fixture
def sim(blendify_env):
    with Simulator.running(SimulatorConfig(users=3, seed=5, profile_mix="tiny")) as sim:
        yield sim


@pytest.fixture
def defs(sim, make_resources, tmp_path) -> dg.Definitions:
    return build_definitions(PROVIDERS, make_resources(simulator_values(sim, tmp_path, PROVIDERS)))


@pytest.fixture
def users(sim, warehouse, connect) -> list[str]:  # noqa: F811
    """Three simulated Spotify users with display names, connected."""
    ids = []
    for index, name in enumerate(["Ana", "Bo", "Cy"]):
        person = sim.world.spotify_users[index]
        add_user(warehouse, person.email, name)
        ids.append(connect(person.email, "spotify", sim.spotify.issue_tokens(person.uid)))
    return ids


def run_range(defs, instance, users: list[str], selection=None) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("spotify_sync").execute_in_process(
        instance=instance,
        run_config=QUIET_LOGS,
        asset_selection=selection,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": users[0],
            "dagster/asset_partition_range_end": users[-1],
        },
    )


def all_metadata_text(instance, run_id: str) -> str:
    records = instance.all_logs(run_id)
    return json.dumps([str(r.dagster_event.event_specific_data) for r in records if r.dagster_event])


def test_a_revoked_user_is_skipped_with_a_warning_and_the_step_succeeds(
    sim,
    defs,
    pg_instance,  # noqa: F811
    users,
) -> None:
    pg_instance.add_dynamic_partitions("spotify_users", users)
    revoked = sim.world.spotify_users[1]
    sim.spotify.revoke(revoked.uid)
    sim.spotify.expire_access_tokens(revoked.uid)
    with counted_materialisation_writes() as writes:
        run = run_range(defs, pg_instance, users, [TOP])
    assert run.success, "a revoked connection is the user's problem, not a failed step"
    assert pg_instance.get_materialized_partitions(TOP) == {users[0], users[2]}
    assert writes == [2], "the skipped user's observation does not split the materialisations' write"
    check = next(e for e in run.get_asset_check_evaluations() if e.check_name == "connection_healthy")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "Bo (" + users[1][:8] + ")" in check.metadata["skipped_users"].value
    observed = pg_instance.fetch_observations(TOP, limit=10).records
    assert [o.asset_observation.partition for o in observed] == [users[1]]
    mats = {m.partition: m.metadata for m in run.asset_materializations_for_node("spotify_top_tracks")}
    assert mats[users[0]]["user"].value == f"Ana ({users[0][:8]})"
    assert mats[users[0]]["dagster/row_count"].value > 0
    text = all_metadata_text(pg_instance, run.run_id)
    assert revoked.email not in text and sim.world.spotify_users[0].email not in text

    # A second run (a UI backfill of everyone) does not ask the provider about the revoked user again:
    # the others' tokens are valid, so any token request would be the revoked user's.
    refreshes = sim.request_log.count(provider="spotify-accounts")
    assert refreshes > 0
    again = run_range(defs, pg_instance, users, [TOP])
    assert again.success
    assert sim.request_log.count(provider="spotify-accounts") == refreshes


def test_a_real_failure_names_the_users_and_why_in_one_table(
    sim,
    defs,
    pg_instance,  # noqa: F811
    users,
) -> None:
    pg_instance.add_dynamic_partitions("spotify_users", users)
    sim.faults.add("/me/tracks", "malformed_items")  # unreadable for everyone: failed, not retried
    run = run_range(defs, pg_instance, users, [SAVED])
    assert not run.success
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    info = failure.step_failure_data.user_failure_data
    assert "3 of 3 user(s) failed; first: Ana (" in info.description
    table = info.metadata["failed_users"].value
    assert table.startswith("| user | endpoint | status | why |")
    for name, uid in zip(["Ana", "Bo", "Cy"], users, strict=True):
        assert f"| {name} ({uid[:8]}) | saved_tracks | failed |" in table
    # Nobody was checked, so no check claims to have passed.
    assert not [e for e in run.get_asset_check_evaluations() if e.asset_key == SAVED and e.passed]
    assert not [e for e in run.get_asset_check_evaluations() if e.check_name == "counts_match_totals"]


def materialisation_writes(statement: str, parameters: object) -> int:
    """How many ASSET_MATERIALIZATION rows one statement inserts into Dagster's event log."""
    if not statement.lstrip().upper().startswith("INSERT INTO EVENT_LOGS"):
        return 0
    rows = parameters if isinstance(parameters, list | tuple) else [parameters]
    return sum(
        1
        for row in rows
        if isinstance(row, dict)
        for key, value in row.items()
        if key.startswith("dagster_event_type") and value == "ASSET_MATERIALIZATION"
    )


@contextmanager
def counted_materialisation_writes() -> Iterator[list[int]]:
    """The materialisations each statement of the block wrote to Dagster's event log (any engine)."""
    writes: list[int] = []

    def count(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        if rows := materialisation_writes(statement, parameters):
            writes.append(rows)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        yield writes
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


def test_a_step_stores_its_users_materialisations_in_one_write_and_only_theirs(
    sim,
    defs,
    pg_instance,  # noqa: F811
    users,
    warehouse,  # noqa: F811
) -> None:
    """Dagster's event log gets one write per step for its users' materialisations (not one per
    user), and a user whose sync failed is still not among them."""
    pg_instance.add_dynamic_partitions("spotify_users", users)
    sim.faults.add("/me/tracks", "malformed_items", count=1)  # one user's saved tracks are unreadable: failed
    with counted_materialisation_writes() as writes:
        run = run_range(defs, pg_instance, users, [SAVED])
    assert not run.success
    with warehouse.connect() as conn:
        synced = {
            str(u)
            for (u,) in conn.execute(
                sa.text("SELECT user_id FROM sync_log WHERE endpoint = 'saved_tracks' AND status = 'success'")
            )
        }
    assert len(synced) == 2
    assert pg_instance.get_materialized_partitions(SAVED) == synced
    assert writes == [2], "the step's two materialisations in one write"
    summary = [e.message for e in pg_instance.all_logs(run.run_id) if "user(s) synced" in (e.message or "")]
    assert summary and summary[0].startswith("saved_tracks: 2 user(s) synced, 1 failed, 0 skipped;")


def test_catalog_metadata_table_owners_schema() -> None:
    spec = next(
        s
        for a in location.assets or []
        if isinstance(a, dg.AssetsDefinition)
        for s in a.specs
        if s.key == TOP
    )
    assert spec.metadata["dagster/table_name"] == "public.user_top_tracks"
    assert spec.owners and spec.tags["blendify/provider"] == "spotify"


def test_materialisations_carry_the_column_schema_read_from_the_database(
    defs,
    pg_instance,  # noqa: F811
    users,
) -> None:
    pg_instance.add_dynamic_partitions("spotify_users", users)
    run = run_range(defs, pg_instance, users, [TOP])
    assert run.success
    mats = run.asset_materializations_for_node("spotify_top_tracks")
    schema = mats[-1].metadata["dagster/column_schema"].value
    columns = {c.name: c.type for c in schema.columns}
    assert columns["rank"] == "integer" and "fetched_at" in columns and "track_metadata" in columns


def test_every_materialisation_names_the_rows_in_the_users_current_state(
    defs,
    pg_instance,  # noqa: F811
    users,
    warehouse,  # noqa: F811
) -> None:
    """`dagster/row_count` of each user's partition is what the user's current state holds (the
    latest-state view; every play for recently played), for every endpoint of a whole sync and again
    after a second sync, though the step no longer queries the views for it."""
    pg_instance.add_dynamic_partitions("spotify_users", users)
    tables = {
        s.key: str(s.metadata["dagster/table_name"]).removeprefix("public.")
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition)
        for s in a.specs
        if s.key.path[0] == "spotify" and "dagster/table_name" in s.metadata
    }
    for _ in range(2):
        run = run_range(defs, pg_instance, users)
        assert run.success
        seen = 0
        for event in run.get_asset_materialization_events():
            mat = event.materialization
            table = tables[mat.asset_key]
            view = table if table == "user_recently_played" else f"latest_{table}"
            with warehouse.connect() as conn:
                expected = conn.execute(
                    sa.text(f"SELECT count(*) FROM {view} WHERE user_id = CAST(:u AS uuid)"),
                    {"u": mat.partition},
                ).scalar_one()
            assert mat.metadata["dagster/row_count"].value == expected, (mat.asset_key, mat.partition)
            seen += 1
        assert seen == len(users) * len(tables)
