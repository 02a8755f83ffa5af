"""Spotify end to end: simulator over HTTP -> Dagster assets -> warehouse, compared with ground truth."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main
from blendify_assets.db.engine import create_engine
from blendify_assets.simulator import SimulatorConfig

ENDPOINTS = 8


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(users=3, seed=11, profiles=("medium",), profile_mix="tiny")


@pytest.fixture
def sim(simulator):
    return simulator


@pytest.fixture
def env(sim_env):
    return sim_env


def cli(*args, stdin=None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def connect(sim, sim_uid: str) -> str:
    user = sim.world.spotify_truth(sim_uid)["user"]
    assert cli("users", "add", user["email"]).exit_code == 0
    tokens = sim.spotify.issue_tokens(sim_uid)
    added = cli("connections", "add", "--user", user["email"], "--provider", "spotify", "--tokens-json", "-",
                stdin=json.dumps(tokens))  # fmt: skip
    assert added.exit_code == 0, added.output
    return user["email"]


def rows(env, sql, **params):
    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        result = [tuple(r) for r in conn.execute(sa.text(sql), params)]
    engine.dispose()
    return result


def iso_ms(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def assert_warehouse_matches(env, truth, email) -> None:
    uid = rows(env, "SELECT id FROM users WHERE email = :e", e=email)[0][0]
    q = dict(u=uid)
    for kind in ("tracks", "artists"):
        column = "track_id" if kind == "tracks" else "artist_id"
        for time_range, ids in truth[f"top_{kind}"].items():
            stored = rows(env, f"SELECT {column} FROM latest_user_top_{kind} WHERE user_id = :u "
                               f"AND time_range = :t ORDER BY rank", t=time_range, **q)  # fmt: skip
            assert [r[0] for r in stored] == ids, f"top {kind} {time_range}"
    playlists = rows(
        env, "SELECT playlist_id, snapshot_id, is_owner FROM latest_user_playlists WHERE user_id = :u", **q
    )
    assert sorted(playlists) == sorted((p["id"], p["snapshot_id"], p["is_owner"]) for p in truth["playlists"])
    for playlist in truth["playlists"]:
        stored = rows(env, "SELECT track_position, item_type, track_id FROM latest_user_playlist_tracks "
                           "WHERE user_id = :u AND playlist_id = :p ORDER BY track_position", p=playlist["id"], **q)  # fmt: skip
        if not playlist["readable"]:
            assert stored == [], "unreadable playlists have no contents"
            continue
        expected = [
            (i["position"], i["kind"], i["id"] if i["kind"] != "local" else i["uri"])
            for i in playlist["items"] if i["kind"] != "null"
        ]  # fmt: skip
        assert stored == expected, f"playlist {playlist['id']}"
    saved = rows(
        env,
        "SELECT track_id FROM latest_user_saved_tracks WHERE user_id = :u ORDER BY saved_at DESC, track_id",
        **q,
    )
    assert sorted(r[0] for r in saved) == sorted(t["track_id"] for t in truth["saved_tracks"])
    albums = rows(env, "SELECT album_id FROM latest_user_saved_albums WHERE user_id = :u", **q)
    assert sorted(r[0] for r in albums) == sorted(a["album_id"] for a in truth["saved_albums"])
    artists = rows(env, "SELECT artist_id FROM latest_user_followed_artists WHERE user_id = :u", **q)
    assert sorted(r[0] for r in artists) == sorted(truth["followed_artists"])
    plays = rows(env, "SELECT played_at, track_id FROM user_recently_played WHERE user_id = :u", **q)
    stored_plays = {(iso_ms(p), t) for p, t in plays}
    assert {(p["played_at"], p["track_id"]) for p in truth["recently_played"]} <= stored_plays


def test_full_sync_then_resync_appends_exactly_what_changed(env, sim) -> None:
    email = connect(sim, "user0001")
    first = cli("sync", "--user", email)
    assert first.exit_code == 0, first.output
    assert first.output.count("success") == ENDPOINTS, first.output
    assert_warehouse_matches(env, sim.world.spotify_truth("user0001"), email)
    total = rows(env, "SELECT sum(rows_appended) FROM sync_log")[0][0]
    assert total > 100

    # Nothing changed: every endpoint is checked, nothing is appended.
    again = cli("sync", "--user", email)
    assert again.exit_code == 0
    assert rows(env, "SELECT count(*), sum(rows_appended) FROM sync_log WHERE id > "
                     "(SELECT max(id) - :n FROM sync_log)", n=ENDPOINTS) == [(ENDPOINTS, 0)]  # fmt: skip

    # Time passes: plays, saves and playlist edits happen; a re-sync appends only those.
    before = dict(rows(env, "SELECT table_name, count(*) FROM snapshots GROUP BY 1"))
    sim.clock.advance(hours=30)
    third = cli("sync", "--user", email)
    assert third.exit_code == 0, third.output
    assert_warehouse_matches(env, sim.world.spotify_truth("user0001"), email)
    appended = rows(env, "SELECT sum(rows_appended) FROM sync_log WHERE id > (SELECT max(id) - :n FROM sync_log)",
                    n=ENDPOINTS)[0][0]  # fmt: skip
    assert 0 < appended < total
    after = dict(rows(env, "SELECT table_name, count(*) FROM snapshots GROUP BY 1"))
    assert after != before


def test_one_endpoint_and_a_revoked_user_do_not_stop_others(env, sim) -> None:
    first, second = connect(sim, "user0001"), connect(sim, "user0002")
    sim.spotify.revoke("user0002")
    sim.spotify.expire_access_tokens("user0002")
    ok = cli("sync", "--user", first, "--endpoint", "top_tracks")
    assert ok.exit_code == 0 and ok.output.count("success") == 1
    bad = cli("sync", "--user", second, "--endpoint", "top_tracks")
    assert bad.exit_code == 1
    assert "needs_reauth" in bad.output and "invalid_grant" in bad.output
    status = rows(env, "SELECT status FROM provider_connections c JOIN users u ON u.id = c.user_id WHERE email = :e",
                  e=second)  # fmt: skip
    assert status == [("needs_reauth",)]
    # Later runs leave the connection alone until the user re-authorises (no request is made).
    sim.request_log.clear()
    again = cli("sync", "--user", second, "--endpoint", "top_tracks")
    assert again.exit_code == 1 and "needs re-authorisation" in again.output
    assert len(sim.request_log) == 0


def test_bad_sync_arguments(env, sim) -> None:
    email = connect(sim, "user0001")
    assert cli("sync", "--user", email, "--endpoint", "nope").exit_code == 2
    assert cli("sync", "--user", "ghost@example.com").exit_code == 1
    unknown = cli("sync", "--user", email, "--provider", "tidal")
    assert unknown.exit_code == 1 and "unknown provider 'tidal'" in unknown.output
    missing = cli("sync", "--user", email, "--provider", "apple")
    assert missing.exit_code == 1 and "no apple connection" in missing.output


def test_quota_exceeded_fails_fast_and_transient_errors_are_survived(env, sim) -> None:
    email = connect(sim, "user0001")
    sim.faults.add("/me/top/tracks", "http_503", count=2)
    survived = cli("sync", "--user", email, "--endpoint", "top_tracks")
    assert survived.exit_code == 0 and survived.output.count("success") == 1

    sim.faults.add("/me/tracks", "quota_exceeded")
    sim.request_log.clear()
    stopped = cli("sync", "--user", email, "--endpoint", "saved_tracks")
    assert stopped.exit_code == 1
    assert "quota" in stopped.output.lower()
    assert sim.request_log.count("/me/tracks") == 1  # no waiting, no retry, no Dagster retry
    status = rows(env, "SELECT status FROM provider_connections")
    assert status == [("active",)]  # a spent quota is not the user's fault


def test_a_renamed_playlist_is_read_once_then_left_alone(env, sim) -> None:
    """A rename gives a new snapshot_id and the same items: one re-read, then none, no rows added."""
    email = connect(sim, "user0001")
    assert cli("sync", "--user", email).exit_code == 0
    owned = next(p for p in sim.world.spotify_truth("user0001")["playlists"] if p["is_owner"] and p["total"])
    sim.world.rename_playlist("user0001", owned["id"], "Renamed on the phone")
    items = f"/playlists/{owned['id']}/items"
    stored = rows(env, "SELECT count(*) FROM user_playlist_tracks")[0][0]

    sim.request_log.clear()
    assert cli("sync", "--user", email).exit_code == 0
    assert sim.request_log.count(items) >= 1  # the new snapshot_id is read once
    sim.request_log.clear()
    assert cli("sync", "--user", email).exit_code == 0
    assert sim.request_log.count(items) == 0  # and then recognised
    assert rows(env, "SELECT count(*) FROM user_playlist_tracks")[0][0] == stored
    assert_warehouse_matches(env, sim.world.spotify_truth("user0001"), email)


def test_a_list_whose_every_item_is_unreadable_fails_and_keeps_the_current_state(env, sim) -> None:
    """Skipping every item of a non-empty list is not a success: it would store an empty list."""
    email = connect(sim, "user0001")
    assert cli("sync", "--user", email, "--endpoint", "saved_tracks").exit_code == 0
    before = rows(env, "SELECT count(*) FROM latest_user_saved_tracks")[0][0]
    sim.clock.advance(hours=30)  # new saves: the first page changes, so the list is read again
    sim.faults.add("/me/tracks", "malformed_items")
    result = cli("sync", "--user", email, "--endpoint", "saved_tracks")
    assert result.exit_code == 1
    error = rows(env, "SELECT status, error FROM sync_log ORDER BY id DESC LIMIT 1")[0]
    assert error[0] == "failed" and "none of the 3 items of a list could be read" in error[1]
    assert "could be read" in " ".join(result.output.split())
    assert rows(env, "SELECT count(*) FROM latest_user_saved_tracks")[0][0] == before
