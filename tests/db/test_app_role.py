"""The append-only guard binds the app too (issue 11, item 6): migrations run as the owner, every
other command as a role that may read, append, and update only tokens, statuses and blend counts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from blendify_assets.analytics.matches import prepare_taste_run
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine, open_engine, open_owner_engine
from blendify_assets.db.server import start_embedded
from tests.conftest import EXTERNAL_URL, app_url
from tests.fixtures.cli import run_blendify
from tests.fixtures.warehouse import store_top_tracks, track

# What someone holding the app's connection might try, to rewrite history.
ATTACKS = {
    "replication role": "SET session_replication_role = replica",
    "disable trigger": "ALTER TABLE user_top_tracks DISABLE TRIGGER ALL",
    "drop table": "DROP TABLE snapshots CASCADE",
    "truncate": "TRUNCATE user_top_tracks",
    "update music": "UPDATE user_top_tracks SET rank = rank + 1",
    "delete music": "DELETE FROM user_top_tracks",
    "update sync log": "UPDATE sync_log SET status = 'success'",
    "delete users": "DELETE FROM users",
    "rename a user": "UPDATE users SET email = 'x@example.com'",
    "forge a migration": "INSERT INTO schema_migrations (version, name, checksum, execution_ms) VALUES ('9999', 'x', 'x', 0)",
    "create table": "CREATE TABLE evil (x int)",
    "drop trigger function": "DROP FUNCTION blendify_reject_mutation() CASCADE",
    "become superuser": "ALTER ROLE CURRENT_USER SUPERUSER",
}


@pytest.fixture
def app_engine(database_url: str) -> Iterator[sa.engine.Engine]:
    """The test database as the app reaches it. On an external server, where we may not create a
    login role, the owner switches to the app's rights with SET ROLE for every connection."""
    engine = create_engine(app_url(database_url))
    if EXTERNAL_URL:

        @sa.event.listens_for(engine, "connect")
        def _as_app(dbapi_connection, _record) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET ROLE blendify_app")
            dbapi_connection.commit()

    yield engine
    engine.dispose()


@pytest.fixture
def history(engine: sa.engine.Engine) -> str:
    """One user with one top track, written by the owner."""
    with engine.begin() as conn:
        user = conn.execute(
            sa.text("INSERT INTO users (email) VALUES ('a@example.com') RETURNING id")
        ).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO user_top_tracks (user_id, provider, track_id, track_name, artist_name, time_range, rank) "
                "VALUES (:u, 'spotify', 't1', 'Song', 'Artist', 'short_term', 1)"
            ),
            {"u": user},
        )
    return str(user)


@pytest.mark.parametrize("statement", ATTACKS.values(), ids=ATTACKS.keys())
def test_the_app_connection_cannot_rewrite_history(app_engine, engine, history, statement) -> None:
    refused = r"permission denied|must be owner|must be superuser"
    with pytest.raises(sa.exc.DBAPIError, match=refused), app_engine.begin() as conn:
        conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT rank FROM user_top_tracks")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 1


def test_the_app_connection_can_do_its_job(app_engine, history) -> None:
    """Append music and snapshots, manage connections (tokens and status), append blend generations."""
    with app_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_top_tracks (user_id, provider, track_id, track_name, artist_name, time_range, rank) "
                "VALUES (:u, 'spotify', 't2', 'Song 2', 'Artist', 'short_term', 1)"
            ),
            {"u": history},
        )
        connection = conn.execute(
            sa.text(
                "INSERT INTO provider_connections (user_id, provider, provider_user_id, access_token_encrypted) "
                "VALUES (:u, 'spotify', '', 'x') RETURNING id"
            ),
            {"u": history},
        ).scalar()
        conn.execute(
            sa.text(
                "UPDATE provider_connections SET access_token_encrypted = 'y', status = 'needs_reauth' WHERE id = :c"
            ),
            {"c": connection},
        )
        blend = conn.execute(
            sa.text(
                "INSERT INTO blends (name, created_by_user_id, algorithm_type) VALUES ('b', :u, 'balanced') RETURNING id"
            ),
            {"u": history},
        ).scalar()
        conn.execute(
            sa.text("UPDATE blends SET total_tracks = 3, updated_at = now() WHERE id = :b"), {"b": blend}
        )
        assert conn.execute(sa.text("SELECT count(*) FROM latest_sync_status")).scalar() == 0


@pytest.mark.skipif(
    bool(os.environ.get("BLENDIFY_DATABASE_URL")), reason="the suite runs against an external server"
)
def test_a_fresh_home_runs_the_app_as_a_role_that_owns_nothing(embedded_home: Path) -> None:
    """What every command gets on the embedded server: `db upgrade` as the owner, the rest as the app."""
    settings = WarehouseSettings.from_env({"BLENDIFY_HOME": str(embedded_home)})
    try:
        owner = open_owner_engine(settings)
        migrations.upgrade(owner)
        owner.dispose()
        app = open_engine(settings)
        with app.connect() as conn:
            role = conn.execute(sa.text("SELECT current_user")).scalar()
            superuser = conn.execute(
                sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
            owned = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
                )
            ).scalar()
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                conn.execute(sa.text("SET session_replication_role = replica"))
        assert (role, superuser, owned) == ("blendify", False, 0)
    finally:
        start_embedded(settings.postgres_dir).release()


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("BLENDIFY_DATABASE_URL")), reason="the suite runs against an external server"
)
def test_a_home_from_before_the_app_role_upgrades_in_place(embedded_home: Path, tmp_path: Path) -> None:
    """A warehouse migrated by the superuser without 0005, and a Dagster database the superuser
    owns under its old name `dagster`: commands ask for `db upgrade`, which grants the app its
    rights; on the next start Dagster's database takes its new name (runs kept) and it and its
    tables pass to the app role."""
    old_sql = tmp_path / "sql"
    old_sql.mkdir()
    for path in sorted(migrations.sql_dir().glob("000[1-4]_*.sql")):
        (old_sql / path.name).write_text(path.read_text())
    env = {"BLENDIFY_HOME": str(embedded_home)}
    settings = WarehouseSettings.from_env(env)
    server = start_embedded(settings.postgres_dir)
    try:
        owner = open_owner_engine(settings)
        migrations.upgrade(owner, old_sql)
        owner.dispose()
        owner = create_engine(server.url("postgres")).execution_options(isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.execute(sa.text("ALTER DATABASE blendify_dagster RENAME TO dagster"))
            conn.execute(sa.text("ALTER DATABASE dagster OWNER TO postgres"))
        owner.dispose()
        dagster = create_engine(server.url("dagster"))
        with dagster.begin() as conn:
            conn.execute(sa.text("CREATE TABLE runs_from_before (id bigserial PRIMARY KEY)"))
        dagster.dispose()
    finally:
        server.release()

    refused = run_blendify(["users", "list"], env)
    assert refused.returncode == 1 and "run `blendify db upgrade`" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert run_blendify(["db", "upgrade"], env).returncode == 0
    assert run_blendify(["users", "add", "after@example.com"], env).returncode == 0
    server = start_embedded(settings.postgres_dir)
    try:
        dagster = create_engine(server.url("blendify_dagster", user="blendify"))
        with dagster.begin() as conn:
            conn.execute(sa.text("ALTER TABLE runs_from_before ADD COLUMN note text"))  # an owner's right
            owners = dict(
                conn.execute(sa.text("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")).all()
            )
        dagster.dispose()
        assert owners.get("blendify_dagster") == "blendify" and "dagster" not in owners
    finally:
        server.release()


def test_the_app_connection_prepares_a_taste_match_computation(app_engine, engine, history) -> None:
    """Preparing clusters tracks in temporary tables of its transaction (issue 18): the app may
    create them, and they are gone with the transaction."""
    store_top_tracks(
        engine, history, "spotify", [track("t1", "Song", "Artist"), track("t2", "Song", "Artist")]
    )
    prepared = prepare_taste_run(app_engine, k=3, buckets=2)
    assert prepared.users == 1 and prepared.items > 0
    with app_engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM pg_class WHERE relpersistence = 't'")).scalar()
    assert left == 0
