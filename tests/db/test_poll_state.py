"""Poll state has its own table (migration 0007): what a warehouse kept in the sync log before is
carried over, so Apple's next poll still diffs against its last one; the app may replace it."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa

from blendify_assets.core.time import utcnow
from blendify_assets.db import migrations, poll_state, sync_log
from blendify_assets.db.engine import create_engine
from blendify_assets.db.music.state import load_state
from blendify_assets.db.music.tables import TABLES
from tests.conftest import app_url

RECENT_OLD = {"recent": ["a", "b"], "polled_at": "2026-03-01T10:00:00+00:00", "complete_read": True}
RECENT_NEW = {"recent": ["c", "a", "b"], "polled_at": "2026-03-01T11:00:00+00:00", "complete_read": False}
LIBRARY = {"full_read_at": "2026-02-27T03:15:00+00:00"}


def _log(conn: sa.Connection, user: uuid.UUID, endpoint: str, finished: str, status: str, notes: dict) -> int:
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO sync_log (user_id, provider, endpoint, started_at, finished_at, status, details) "
                "VALUES (:u, 'apple', :e, CAST(:f AS timestamp), CAST(:f AS timestamp), :s, CAST(:d AS jsonb)) "
                "RETURNING id"
            ),
            {"u": user, "e": endpoint, "f": finished, "s": status, "d": json.dumps({"notes": notes})},
        ).scalar_one()
    )


def test_the_state_kept_in_the_sync_log_is_carried_over(empty_database_url: str, tmp_path: Path) -> None:
    before = tmp_path / "sql"
    before.mkdir()
    for path in migrations.discover():
        if path.version < "0007":
            shutil.copy(path.path, before / path.path.name)
    engine = create_engine(empty_database_url)
    migrations.upgrade(engine, before)
    with engine.begin() as conn:
        user = conn.execute(
            sa.text("INSERT INTO users (email) VALUES ('a@example.com') RETURNING id")
        ).scalar_one()
        _log(conn, user, "recently_played", "2026-03-01 10:00", "success", {"state": RECENT_OLD})
        newest = _log(conn, user, "recently_played", "2026-03-01 11:00", "success", {"state": RECENT_NEW})
        _log(conn, user, "recently_played", "2026-03-01 12:00", "failed", {"state": {"recent": ["x"]}})
        _log(conn, user, "recently_played", "2026-03-01 13:00", "success", {"new_plays": 0})
        library = _log(conn, user, "library_songs", "2026-03-01 09:00", "success", {"state": LIBRARY})
        _log(conn, user, "library_playlists", "2026-03-01 09:00", "success", {"state": None})

    applied = [m.version for m in migrations.upgrade(engine)]
    assert applied[0] == "0007" and applied == sorted(applied)  # and any later migrations
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT endpoint, state, sync_log_id FROM poll_state ORDER BY 1")).all()
    assert [tuple(r) for r in kept] == [
        ("library_songs", LIBRARY, library),
        ("recently_played", RECENT_NEW, newest),
    ]
    state = load_state(
        engine, TABLES["user_recently_played"], user_id=user, provider="apple", endpoint="recently_played"
    )
    assert (dict(state.poll_state), state.poll_state_log_id) == (RECENT_NEW, newest)
    engine.dispose()


def test_the_app_replaces_the_state_with_each_check(database_url: str) -> None:
    owner = create_engine(database_url)
    with owner.begin() as conn:
        user = conn.execute(
            sa.text("INSERT INTO users (email) VALUES ('a@example.com') RETURNING id")
        ).scalar_one()
    app = create_engine(app_url(database_url))
    for state in (RECENT_OLD, RECENT_NEW):
        with app.begin() as conn:
            check = sync_log.insert(
                conn, user_id=user, provider="apple", endpoint="recently_played", started_at=utcnow().replace(tzinfo=None),
                finished_at=utcnow().replace(tzinfo=None), status="success", requests=1, rows_appended=0,
                changed=False, error=None, details={}, run_id=None,
            )  # fmt: skip
            poll_state.save(
                conn, user_id=user, provider="apple", endpoint="recently_played", state=state,
                sync_log_id=check, updated_at=utcnow().replace(tzinfo=None),
            )  # fmt: skip
    with app.connect() as conn:
        assert poll_state.load(conn, user, "apple", "recently_played") == (RECENT_NEW, check)
        assert conn.execute(sa.text("SELECT count(*) FROM poll_state")).scalar() == 1
    app.dispose()
    owner.dispose()
