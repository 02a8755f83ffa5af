"""Apple Music end to end: simulator over HTTP -> Dagster assets -> warehouse, compared with ground truth."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main
from blendify_assets.db.engine import create_engine
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from tests.conftest import step_sync

ENDPOINTS = 8
LIST_PATHS = ("/v1/me/library/", "/v1/me/recent/played/tracks")


@pytest.fixture
def sim():
    profiles = (UserProfile.medium(apple=True), UserProfile.tiny(apple=True))
    with Simulator.running(SimulatorConfig(users=2, seed=5, profiles=profiles)) as sim:
        yield sim


@pytest.fixture
def env(blendify_env, sim, monkeypatch, tmp_path):
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    key = tmp_path / "AuthKey_SIM.p8"
    key.write_text(sim.apple.private_key_pem)
    monkeypatch.setenv("APPLE_MUSIC_PRIVATE_KEY_PATH", str(key))
    return blendify_env


def cli(*args, stdin=None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def connect(sim, sim_uid: str) -> str:
    email = sim.world.apple_truth(sim_uid)["user"]["email"]
    assert cli("users", "add", email).exit_code == 0
    mut = sim.apple.issue_user_token(sim_uid)
    added = cli("connections", "add", "--user", email, "--provider", "apple", "--tokens-json", "-",
                stdin=json.dumps({"access_token": mut}))  # fmt: skip
    assert added.exit_code == 0, added.output
    return email


def rows(env, sql, **params):
    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        result = [tuple(r) for r in conn.execute(sa.text(sql), params)]
    engine.dispose()
    return result


def user_id(env, email: str):
    return rows(env, "SELECT id FROM users WHERE email = :e", e=email)[0][0]


def last_checks(env, n: int = ENDPOINTS):
    return rows(
        env, "SELECT endpoint, status, rows_appended, error FROM sync_log ORDER BY id DESC LIMIT :n", n=n
    )


def recent_track_id(truth, item) -> str:
    """The track_id a recently played item is stored under (library songs: their catalog id if any)."""
    if item["type"] == "songs":
        return item["id"]
    song = next(s for s in truth["library_songs"] if s["id"] == item["id"])
    return song["catalog_id"] or song["id"]


def assert_warehouse_matches(env, truth, email) -> None:
    q = {"u": user_id(env, email)}
    songs = {s["id"]: s for s in truth["library_songs"]}

    def track_id(library_id: str) -> str:
        return songs[library_id]["catalog_id"] or library_id

    saved = rows(env, "SELECT track_id, isrc, track_name, duration_ms FROM latest_user_saved_tracks "
                      "WHERE user_id = :u AND provider = 'apple'", **q)  # fmt: skip
    expected = [
        (s["catalog_id"] or s["id"], s["isrc"], s["name"], s["duration_ms"]) for s in truth["library_songs"]
    ]
    assert sorted(saved, key=str) == sorted(expected, key=str)
    albums = rows(env, "SELECT album_id, album_name FROM latest_user_saved_albums WHERE user_id = :u", **q)
    assert sorted(albums) == sorted((a["id"], a["name"]) for a in truth["library_albums"])
    artists = rows(
        env, "SELECT artist_id, artist_name FROM latest_user_followed_artists WHERE user_id = :u", **q
    )
    assert sorted(artists) == sorted((a["id"], a["name"]) for a in truth["library_artists"])
    playlists = rows(
        env, "SELECT playlist_id, snapshot_id FROM latest_user_playlists WHERE user_id = :u", **q
    )
    versions = [
        (p["id"], p["version_hash"] or f"modified:{p['last_modified']}") for p in truth["library_playlists"]
    ]
    assert sorted(playlists) == sorted(versions)
    for playlist in truth["library_playlists"]:
        stored = rows(env, "SELECT track_position, track_id FROM latest_user_playlist_tracks WHERE user_id = :u "
                           "AND playlist_id = :p ORDER BY track_position", p=playlist["id"], **q)  # fmt: skip
        assert stored == list(enumerate(track_id(t) for t in playlist["track_ids"])), playlist["id"]
    summary = truth["music_summary"]
    top = rows(env, "SELECT track_id FROM latest_user_top_tracks WHERE user_id = :u AND time_range = 'long_term' "
                    "ORDER BY rank", **q)  # fmt: skip
    assert [r[0] for r in top] == summary["top_songs"]
    top_artists = rows(env, "SELECT artist_id FROM latest_user_top_artists WHERE user_id = :u "
                            "AND time_range = 'long_term' ORDER BY rank", **q)  # fmt: skip
    assert [r[0] for r in top_artists] == summary["top_artists"]
    plays = rows(env, "SELECT track_id, track_metadata->'_blendify'->>'played_at' FROM user_recently_played "
                      "WHERE user_id = :u", **q)  # fmt: skip
    assert {p[1] for p in plays} == {"inferred"}
    heads = {recent_track_id(truth, i) for i in truth["recently_played"]}
    assert heads <= {p[0] for p in plays}


def test_full_sync_resync_and_new_plays(env, sim) -> None:
    email = connect(sim, "user0001")
    first = cli("sync", "--user", email, "--provider", "apple")
    assert first.exit_code == 0, first.output
    assert [c[1] for c in last_checks(env)] == ["success"] * ENDPOINTS, last_checks(env)
    assert_warehouse_matches(env, sim.world.apple_truth("user0001"), email)

    # Apple drops `limit` from `next`: every list page must still carry it; ISRC batches stay <= 300.
    for record in sim.request_log.filter(provider="apple"):
        query = parse_qs(record.query)
        if record.path.startswith(LIST_PATHS):
            assert "limit" in query, record
        if record.path.startswith("/v1/catalog/"):
            assert 0 < len(query["ids"][0].split(",")) <= 300
    assert sim.request_log.count("/v1/catalog/", provider="apple") >= 3  # 700 songs: several batches

    # Nothing changed: every endpoint is checked, nothing appended, unchanged playlists not re-read
    # (most have no versionHash: lastModifiedDate says so), library lists only probed.
    sim.request_log.clear()
    again = cli("sync", "--user", email, "--provider", "apple")
    assert again.exit_code == 0, again.output
    assert {(c[1], c[2]) for c in last_checks(env)} == {("success", 0)}
    assert sim.request_log.count("/v1/me/library/playlists/", provider="apple") == 0
    assert sim.request_log.count("/v1/me/library/songs", provider="apple") == 1  # the first page
    assert sim.request_log.count("/v1/catalog/", provider="apple") == 0
    assert len(sim.request_log.filter(provider="apple")) <= 12

    # Time passes: new plays are appended once, with inferred times; the library changes too.
    before = rows(env, "SELECT count(*), max(fetched_at) FROM user_recently_played")[0]
    previous_poll = rows(
        env, "SELECT state->>'polled_at' FROM poll_state WHERE endpoint = 'recently_played'"
    )[0][0]
    # The poll state is the last poll's, and its own table's: the sync log keeps only the check.
    assert rows(env, "SELECT count(*) FROM sync_log WHERE details->'notes' ? 'state'") == [(0,)]
    kept = rows(env, "SELECT p.endpoint FROM poll_state p JOIN sync_log l ON l.id = p.sync_log_id "
                     "WHERE l.endpoint = p.endpoint AND l.status = 'success' ORDER BY 1")  # fmt: skip
    assert [e for (e,) in kept] == [
        "library_albums", "library_artists", "library_songs", "playlist_tracks", "recently_played"
    ]  # fmt: skip
    sim.clock.advance(hours=20)
    third = cli("sync", "--user", email, "--provider", "apple")
    assert third.exit_code == 0, third.output
    truth = sim.world.apple_truth("user0001")
    assert_warehouse_matches(env, truth, email)
    new = rows(env, "SELECT track_id, played_at, track_metadata->'_blendify'->>'method' FROM user_recently_played "
                    "WHERE fetched_at > :f", f=before[1])  # fmt: skip
    assert new and {m for _, _, m in new} <= {"durations_back_from_poll", "spread_between_polls"}
    since = datetime.fromisoformat(previous_poll).replace(tzinfo=None)
    assert all(since < played_at for _, played_at, _ in new)
    head = [recent_track_id(truth, item) for item in truth["recently_played"][: len(new)]]
    assert sorted(t for t, _, _ in new) == sorted(head)  # exactly the items that moved to the head
    assert rows(env, "SELECT count(*) FROM user_recently_played")[0][0] == before[0] + len(new)
    fourth = cli("sync", "--user", email, "--provider", "apple", "--endpoint", "recently_played")
    assert fourth.exit_code == 0 and last_checks(env, 1)[0][2] == 0


def test_faults_and_a_revoked_user_do_not_stop_others(env, sim) -> None:
    first, second = connect(sim, "user0001"), connect(sim, "user0002")
    limited = sim.faults.add(
        "/v1/me/library/songs", "rate_limit", count=2, provider="apple"
    )  # no Retry-After
    sim.faults.add("/v1/me/library/albums", "http_503", count=1, provider="apple")
    sim.faults.add("/v1/me/library/artists", "malformed_json", count=1, provider="apple")
    sim.apple.revoke("user0002")

    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    users = [str(user_id(env, first)), str(user_id(env, second))]
    try:
        for endpoint in ("library_songs", "library_albums", "library_artists"):
            ok, revoked = step_sync(engine, "apple", endpoint, users)
            assert ok.status == "success", ok.error
            assert revoked.status == "needs_reauth" and "40300" in revoked.error
            assert "Invalid authentication" in revoked.error
        stats = rows(env, "SELECT details->'stats' FROM sync_log WHERE endpoint = 'library_songs' "
                          "AND status = 'success'")[0][0]  # fmt: skip
        assert limited.hits == 2 and stats["rate_limit_waits"] >= 1  # the two users share the faults
    finally:
        engine.dispose()
    status = rows(env, "SELECT c.status::text FROM provider_connections c JOIN users u ON u.id = c.user_id "
                       "WHERE u.email = :e", e=second)  # fmt: skip
    assert status == [("needs_reauth",)]
    # A refused Music-User-Token is not retried, and later checks make no request at all.
    refused = [r.path for r in sim.request_log.filter("/v1/me/", provider="apple", status=403)]
    assert 1 <= len(refused) <= 2 and len(set(refused)) == len(refused)  # the probe's two requests at most
    sim.request_log.clear()
    later = cli("sync", "--user", second, "--provider", "apple", "--endpoint", "library_songs")
    assert later.exit_code == 1 and "needs re-authorisation" in later.output
    assert len(sim.request_log) == 0
    albums = rows(env, "SELECT count(*) FROM latest_user_saved_albums a JOIN users u ON u.id = a.user_id "
                               "WHERE u.email = :e", e=first)  # fmt: skip
    assert albums[0][0] == len(sim.world.apple_truth("user0001")["library_albums"])


def test_missing_key_setting_fails_clearly(env, sim, monkeypatch) -> None:
    email = connect(sim, "user0002")
    monkeypatch.delenv("APPLE_MUSIC_PRIVATE_KEY_PATH")
    result = cli("sync", "--user", email, "--provider", "apple", "--endpoint", "replay_top_songs")
    assert result.exit_code == 1
    assert "APPLE_MUSIC_PRIVATE_KEY_PATH" in result.output
