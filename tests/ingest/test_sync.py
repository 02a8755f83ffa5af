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
from blendify_assets.ingest.sync import validate_specs
from blendify_assets.providers.spotify.provider import PROVIDER as SPOTIFY


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
