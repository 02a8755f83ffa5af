"""Two syncs of one user at once store every snapshot once (issue 11, item 3), and an item a
provider lists twice is stored once (item 10).

The concurrency tests run two real `blendify sync` processes against the simulator. To make them
meet at the worst moment every time, the test holds a lock on `sync_log` until both are waiting
inside their writing transaction: without per-(user, provider, table) serialisation both have
compared against the same old snapshots by then and both append.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from tests.conftest import step_sync


def cli(*args: str, stdin: str | None = None):
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def spawn_sync(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "blendify_assets", "sync", *args], env=os.environ | env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@contextmanager
def meeting_at_the_writer(engine: sa.engine.Engine, processes: list[subprocess.Popen]):
    """Hold SHARE on sync_log (a check's write inserts into it) until two backends of this database
    wait on a lock, then let everyone go."""
    blocker = engine.connect()
    transaction = blocker.begin()
    blocker.execute(sa.text("LOCK TABLE sync_log IN SHARE MODE"))
    try:
        yield processes
        deadline = time.monotonic() + 240
        with engine.connect() as watch:
            while True:
                waiting = watch.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                watch.rollback()  # pg_stat_activity is a snapshot per transaction
                if waiting >= 2:
                    break
                assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
                assert time.monotonic() < deadline, "the syncs never reached their writes"
                time.sleep(0.1)
    finally:
        transaction.commit()
        blocker.close()


def finish(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, out + err[-3000:]


def duplicated_snapshots(engine: sa.engine.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT table_name, scope, count(*) FROM snapshots GROUP BY table_name, scope, content_hash "
                    "HAVING count(*) > 1"
                )
            )
        ]


@pytest.mark.slow
def test_two_syncs_of_one_user_at_once_store_each_snapshot_once(sim_env, simulator, engine) -> None:
    user = simulator.world.spotify_users[0]
    cli("users", "add", user.email)
    tokens = json.dumps(simulator.spotify.issue_tokens(user.uid))
    cli(
        "connections",
        "add",
        "--user",
        user.email,
        "--provider",
        "spotify",
        "--tokens-json",
        "-",
        stdin=tokens,
    )
    syncs = [spawn_sync(sim_env, "--user", user.email, "--provider", "spotify") for _ in range(2)]
    with meeting_at_the_writer(engine, syncs):
        pass
    finish(syncs)
    assert duplicated_snapshots(engine) == []
    with engine.connect() as conn:
        checks = conn.execute(
            sa.text(
                "SELECT endpoint, count(*), count(*) FILTER (WHERE changed) FROM sync_log GROUP BY endpoint"
            )
        ).all()
        copies = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM user_top_tracks), (SELECT count(*) FROM latest_user_top_tracks), "
                "(SELECT count(*) FROM user_saved_tracks), (SELECT count(*) FROM latest_user_saved_tracks)"
            )
        ).one()
    assert {endpoint: (n, changed) for endpoint, n, changed in checks} == {
        endpoint: (2, 1) for endpoint, _, _ in checks
    }  # both checked every endpoint; one of them stored it
    assert copies[0] == copies[1] > 0 and copies[2] == copies[3] > 0


@pytest.fixture
def apple_sim():
    with Simulator.running(SimulatorConfig(users=1, seed=5, profiles=(UserProfile.tiny(apple=True),))) as sim:
        yield sim


@pytest.mark.slow
def test_two_apple_polls_at_once_store_each_inferred_play_once(
    blendify_env, apple_sim, engine, tmp_path, monkeypatch
) -> None:
    """Apple plays are inferred by diffing against the previous poll: two polls from the same
    baseline must not both store the new head, each with its own estimated times."""
    key = tmp_path / "AuthKey_SIM.p8"
    key.write_text(apple_sim.apple.private_key_pem)
    for name, value in (apple_sim.env() | {"APPLE_MUSIC_PRIVATE_KEY_PATH": str(key)}).items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ)
    uid = apple_sim.world.users[0].uid
    email = apple_sim.world.apple_truth(uid)["user"]["email"]
    cli("users", "add", email)
    mut = json.dumps({"access_token": apple_sim.apple.issue_user_token(uid)})
    cli("connections", "add", "--user", email, "--provider", "apple", "--tokens-json", "-", stdin=mut)
    poll = ("--user", email, "--provider", "apple", "--endpoint", "recently_played")
    finish([spawn_sync(env, *poll)])
    with engine.connect() as conn:
        first_log, first_fetch = conn.execute(
            sa.text(
                "SELECT (SELECT max(id) FROM sync_log), (SELECT max(fetched_at) FROM user_recently_played)"
            )
        ).one()
    apple_sim.clock.advance(hours=20)  # new plays move to the head of Apple's list

    polls = [spawn_sync(env, *poll) for _ in range(2)]
    with meeting_at_the_writer(engine, polls):
        pass
    finish(polls)
    with engine.connect() as conn:
        new = conn.execute(
            sa.text(
                "SELECT track_id, count(*) FROM user_recently_played WHERE fetched_at > :f GROUP BY track_id"
            ),
            {"f": first_fetch},
        ).all()
        outcomes = conn.execute(
            sa.text(
                "SELECT rows_appended > 0, details->'notes' ? 'superseded_by_sync_log_id' FROM sync_log "
                "WHERE endpoint = 'recently_played' AND id > :l ORDER BY id"
            ),
            {"l": first_log},
        ).all()
    assert new, "the clock moved 20 hours: there are new plays"
    assert [track for track, copies in new if copies > 1] == [], "a play was stored twice"
    assert [tuple(o) for o in outcomes] == [(True, False), (False, True)]  # one stored, one stood down


def test_an_item_listed_twice_is_stored_once_and_reported(sim_env, simulator, engine) -> None:
    """Spotify lists a saved track twice on one page: the snapshot keeps the first, the check says so."""
    user = simulator.world.spotify_users[0]
    saved = simulator.world.user(user.uid).spotify.saved_tracks
    saved.insert(1, saved[0])  # the same track again, right after itself
    cli("users", "add", user.email)
    tokens = json.dumps(simulator.spotify.issue_tokens(user.uid))
    cli(
        "connections",
        "add",
        "--user",
        user.email,
        "--provider",
        "spotify",
        "--tokens-json",
        "-",
        stdin=tokens,
    )
    with engine.connect() as conn:
        user_id = str(conn.execute(sa.text("SELECT id FROM users")).scalar_one())
    [outcome] = step_sync(engine, "spotify", "saved_tracks", [user_id])
    assert outcome.status == "success"
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(sa.text("SELECT track_id FROM latest_user_saved_tracks"))]
        stats = conn.execute(sa.text("SELECT details->'stats' FROM sync_log")).scalar_one()
    assert len(stored) == len(set(stored)) == len(saved) - 1
    assert stats["skipped_duplicate"] == 1
    assert "listed 1 item(s) twice" in outcome.problems["no_duplicate_items"]
    assert outcome.problems["counts_match_totals"] is None  # the provider's total counts the copy
