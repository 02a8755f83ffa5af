"""The sync step and the budget (issue 18): a re-sync stops making requests when the day's budget is
spent, leaving the rest as not yet synced (not failed); its range syncs only the stalest users."""

from __future__ import annotations

import json

import sqlalchemy as sa

from blendify_assets.core.settings import load_settings
from blendify_assets.db import connections, provider_budget
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.ingest.sync import StepSync
from blendify_assets.providers import registry
from blendify_assets.providers.spotify.provider import PROVIDER as SPOTIFY
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY


def test_a_resync_stops_when_the_budget_is_spent_and_defers_the_rest(sim_env, simulator, engine) -> None:
    vault = Vault([TEST_KEY])
    users = []
    for sim_user in simulator.world.spotify_users[:3]:
        users.append(str(add_user(engine, sim_user.email)))
        payload = TokenPayload.parse(json.dumps(simulator.spotify.issue_tokens(sim_user.uid)))
        connections.upsert(engine, vault, sim_user.email, "spotify", payload)
    settings = load_settings(providers=registry.settings_types()).provider("spotify")
    provider_budget.spend(engine, "spotify", 99)
    step = StepSync(engine, vault, SPOTIFY, settings, users, user_concurrency=1, budget=100)
    before = simulator.request_log.count(provider="spotify")
    outcomes = step.run(SPOTIFY.endpoint("top_tracks"), users)
    # The first user went (one request left, it takes three: the budget is a bound on starting, so a
    # user's check is never cut in half); the others were not started.
    assert [o.status for o in outcomes] == ["success", "deferred", "deferred"]
    assert "request budget (100 a day) is spent" in (outcomes[1].error or "")
    assert simulator.request_log.count(provider="spotify") - before == outcomes[0].stats.requests == 3
    assert provider_budget.spent(engine, "spotify") == 99 + 3  # the step counted what it spent
    with engine.connect() as conn:
        logged = conn.execute(
            sa.text("SELECT count(*), count(*) FILTER (WHERE status = 'success') FROM sync_log")
        ).one()
    assert tuple(logged) == (1, 1)  # deferred users leave no failed rows
