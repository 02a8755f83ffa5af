"""A sync reads a user's connection row once per step (issue 16): not once per endpoint for the
status, again for the account id and again for the tokens. Declarations are checked at load."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import load_settings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.ingest.sync import StepSync, validate_specs
from blendify_assets.providers import registry
from blendify_assets.providers.spotify.provider import PROVIDER as SPOTIFY
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY


@pytest.fixture
def connection_reads() -> Iterator[list[str]]:
    """Every statement this process sends that reads provider_connections."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM provider_connections" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_a_sync_reads_the_connection_once_per_step(sim_env, simulator, connection_reads) -> None:
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
    connection_reads.clear()
    synced = runner.invoke(main, ["sync", "--user", user.email], catch_exceptions=False)
    assert synced.exit_code == 0, synced.output
    assert synced.output.count("success") == len(SPOTIFY.endpoints)
    steps = len(SPOTIFY.steps())  # 7: playlists and their tracks share a step
    assert len(connection_reads) == 1 + steps, (
        connection_reads
    )  # the command's own look-up, then one per step


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table": "user_loved_tracks"}, "no music table 'user_loved_tracks'"),
        ({"scope": "events"}, "scope 'events' does not fit the table user_saved_tracks"),
        ({"after": "later_one"}, "'after' must name an earlier endpoint"),
    ],
)
def test_a_declaration_the_warehouse_cannot_hold_is_refused_at_load(change, message) -> None:
    endpoint = dataclasses.replace(SPOTIFY.endpoint("saved_tracks"), **change)
    broken = dataclasses.replace(SPOTIFY, endpoints=(*SPOTIFY.endpoints[:5], endpoint))
    with pytest.raises(BlendifyError, match=message):
        validate_specs([broken])
    with pytest.raises(BlendifyError, match="two providers share the name 'spotify'"):
        validate_specs([SPOTIFY, dataclasses.replace(SPOTIFY, group="other")])


def test_a_step_writes_its_users_checks_together_and_each_user_gets_their_own(
    sim_env, simulator, engine
) -> None:
    """Issue 17: the step's finished checks share one write (one transaction, one fetched_at)
    instead of one each, and each user still gets their own rows, snapshot and sync log row."""
    vault = Vault([TEST_KEY])
    users = {}
    for sim_user in simulator.world.spotify_users:
        users[str(add_user(engine, sim_user.email))] = sim_user
        payload = TokenPayload.parse(json.dumps(simulator.spotify.issue_tokens(sim_user.uid)))
        connections.upsert(engine, vault, sim_user.email, "spotify", payload)
    assert len(users) >= 3
    settings = load_settings(providers=registry.settings_types()).provider("spotify")
    step = StepSync(engine, vault, SPOTIFY, settings, list(users), write_linger=60)
    outcomes = step.run(SPOTIFY.endpoint("saved_tracks"), list(users))
    assert [o.status for o in outcomes] == ["success"] * len(users)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                sa.text("SELECT user_id::text, count(*) FROM latest_user_saved_tracks GROUP BY 1")
            ).all()
        )
        logged = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT user_id), count(DISTINCT finished_at) FROM sync_log")
        ).one()
    truth = {u: len(simulator.world.spotify_truth(s.uid)["saved_tracks"]) for u, s in users.items()}
    assert stored == {u: n for u, n in truth.items() if n}
    assert [o.rows_appended for o in outcomes] == [truth[u] for u in users]
    assert [o.current_rows for o in outcomes] == [truth[u] for u in users]  # their dagster/row_count
    assert tuple(logged) == (len(users), len(users), 1)  # one row each, all from one shared write
