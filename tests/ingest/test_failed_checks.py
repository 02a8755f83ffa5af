"""A failed check is logged with the requests it really made (operators read sync_log for cost)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY, step_sync


@pytest.fixture
def user_id(sim_env, simulator, engine) -> str:
    uid = simulator.world.spotify_users[0].uid
    email = simulator.world.user(uid).email
    user_id = str(add_user(engine, email))
    payload = TokenPayload.parse(json.dumps(simulator.spotify.issue_tokens(uid)))
    connections.upsert(engine, Vault([TEST_KEY]), email, "spotify", payload)
    return user_id


@pytest.mark.parametrize(("route", "fault", "endpoint"), [
    ("/me/tracks", "malformed_items", "saved_tracks"),  # a spent quota pauses instead (ingest/test_budget.py)
    ("/me/following", "revoke_token", "followed_artists"),
])  # fmt: skip
def test_a_failed_check_records_the_requests_it_made(
    simulator, engine, user_id, route, fault, endpoint
) -> None:
    simulator.faults.add(route, fault)
    simulator.request_log.clear()
    (outcome,) = step_sync(engine, "spotify", endpoint, [user_id])
    assert outcome.status != "success"
    made = len(simulator.request_log)
    assert made >= 1
    with engine.connect() as conn:
        logged = conn.execute(sa.text("SELECT status, requests FROM sync_log ORDER BY id DESC LIMIT 1")).one()
    assert logged.status == outcome.status and logged.requests == made
