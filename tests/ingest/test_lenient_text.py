"""A name with an unpaired surrogate ("\\ud800" escaped in the JSON, as some APIs send) costs one
replaced character, not the page: both providers keep the page, store the item and count the repair."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from tests.conftest import TEST_KEY, step_sync

BROKEN = "Broken \ud800 Name"
REPAIRED = "Broken \ufffd Name"


@pytest.fixture
def sim():
    config = SimulatorConfig(users=2, seed=3, profiles=(UserProfile.tiny(spotify=True, apple=True),))
    with Simulator.running(config) as sim:
        yield sim


@pytest.fixture
def env(blendify_env, sim, monkeypatch, tmp_path):
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    key = tmp_path / "AuthKey_SIM.p8"
    key.write_text(sim.apple.private_key_pem)
    monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(key))
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "blendify-test")
    return blendify_env


def connect(engine, sim, uid: str, provider_name: str) -> str:
    email = sim.world.user(uid).email
    user_id = str(add_user(engine, email))
    tokens = (
        sim.spotify.issue_tokens(uid)
        if provider_name == "spotify"
        else {"access_token": sim.apple.issue_user_token(uid)}
    )
    connections.upsert(
        engine, Vault([TEST_KEY]), email, provider_name, TokenPayload.parse(json.dumps(tokens))
    )
    return user_id


def sync(engine, provider_name: str, endpoint: str, user_id: str):
    (outcome,) = step_sync(engine, provider_name, endpoint, [user_id])
    return outcome


def logged_repairs(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT (details->'stats'->>'repaired_items')::int FROM sync_log ORDER BY id DESC LIMIT 1"
            )
        ).scalar_one()


def test_spotify_page_with_a_lone_surrogate_is_kept(env, sim, engine) -> None:
    uid = sim.world.spotify_users[0].uid
    user_id = connect(engine, sim, uid, "spotify")
    first = sim.world.spotify_truth(uid)["top_tracks"]["short_term"][0]
    sim.world.track_by_id(first).name = BROKEN

    outcome = sync(engine, "spotify", "top_tracks", user_id)
    assert outcome.status == "success", outcome.error
    assert outcome.stats.repaired_items >= 1
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT track_name FROM latest_user_top_tracks WHERE track_id = :t AND time_range = 'short_term'"
            ),
            {"t": first},
        ).scalar_one()
    assert stored == REPAIRED
    assert logged_repairs(engine) == outcome.stats.repaired_items


def test_apple_page_with_a_lone_surrogate_is_kept(env, sim, engine) -> None:
    user = sim.world.apple_users[0]
    user_id = connect(engine, sim, user.uid, "apple")
    playlists = user.apple.playlists
    playlists[0].name = BROKEN

    outcome = sync(engine, "apple", "library_playlists", user_id)
    assert outcome.status == "success", outcome.error
    assert outcome.stats.repaired_items == 1
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("SELECT playlist_name FROM latest_user_playlists WHERE user_id = CAST(:u AS uuid)"),
            {"u": user_id},
        ).scalars()
        assert REPAIRED in set(names)
    assert logged_repairs(engine) == 1
