"""poll_schedule (issue 18): every successful recently-played poll plans the next one, in the
transaction that stores its plays; the schedule finds the due users through the index."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import sqlalchemy as sa

from blendify_assets.core.settings import load_settings
from blendify_assets.db import connections, poll_schedule
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.ingest.sync import StepSync
from blendify_assets.providers import registry
from blendify_assets.providers.spotify.provider import PROVIDER as SPOTIFY
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY


def test_a_poll_plans_the_next_and_the_schedule_finds_it_when_due(sim_env, simulator, engine) -> None:
    vault = Vault([TEST_KEY])
    sim_user = simulator.world.spotify_users[0]
    user = str(add_user(engine, sim_user.email))
    connections.upsert(
        engine,
        vault,
        sim_user.email,
        "spotify",
        TokenPayload.parse(json.dumps(simulator.spotify.issue_tokens(sim_user.uid))),
    )
    settings = load_settings(providers=registry.settings_types()).provider("spotify")
    step = StepSync(engine, vault, SPOTIFY, settings, [user])
    [outcome] = step.run(SPOTIFY.endpoint("recently_played"), [user])
    assert outcome.status == "success" and outcome.rows_appended > 0
    with engine.connect() as conn:
        plan = poll_schedule.load(conn, uuid.UUID(user), "spotify", "recently_played")
        newest = conn.execute(sa.text("SELECT max(played_at) FROM user_recently_played")).scalar()
    assert plan is not None
    assert plan.last_play_at is not None and plan.last_play_at.replace(tzinfo=None) == newest
    assert plan.plays_per_hour > 0
    assert timedelta(minutes=15) <= plan.next_poll_at - plan.polled_at <= timedelta(hours=24)
    assert (
        poll_schedule.due(engine, "spotify", "recently_played", plan.next_poll_at - timedelta(seconds=1))
        == []
    )
    assert poll_schedule.due(engine, "spotify", "recently_played", plan.next_poll_at) == [user]
    with engine.connect() as conn:  # the due query has its index (a tiny table is scanned otherwise)
        conn.execute(sa.text("SET enable_seqscan = off"))
        explain = "\n".join(
            r[0]
            for r in conn.execute(
                sa.text(
                    "EXPLAIN SELECT user_id FROM poll_schedule WHERE provider = 'spotify' "
                    "AND endpoint = 'recently_played' AND next_poll_at <= now() ORDER BY next_poll_at LIMIT 10"
                )
            )
        )
    assert "idx_poll_schedule_due" in explain

    # A second poll with nothing new replaces the plan (one row), keeping what it knew.
    [again] = step.run(SPOTIFY.endpoint("recently_played"), [user])
    assert again.status == "success" and again.rows_appended == 0
    with engine.connect() as conn:
        later = poll_schedule.load(conn, uuid.UUID(user), "spotify", "recently_played")
        rows = conn.execute(sa.text("SELECT count(*) FROM poll_schedule")).scalar()
    assert rows == 1 and later is not None
    assert later.polled_at > plan.polled_at and later.last_play_at == plan.last_play_at
