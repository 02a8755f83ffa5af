"""SQLAlchemy engines for the warehouse: the configured server, or the embedded one.

Every engine here is the caller's: it disposes of it when done (a command when it exits, a Dagster
resource when its run or tick ends)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db.server import (
    APP_ROLE,
    SUPERUSER,
    WAREHOUSE_DB,
    EmbeddedServer,
    dagster_database,
    ensure_home_databases,
    start_embedded,
)


def describe(url: str) -> str:
    """A URL fit for messages: no password."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str) -> Engine:
    # hide_parameters keeps encrypted tokens and emails out of error messages.
    return sa.create_engine(url, hide_parameters=True, pool_pre_ping=True)


@contextmanager
def own_session(engine: Engine, **settings: str) -> Iterator[Connection]:
    """A transaction on a new session of its own, with server settings a session takes only before
    it does anything (``temp_buffers`` before its first temporary table), closed afterwards so the
    memory they let it take is returned; never a pooled session. The settings are its first
    statement, not connection ``options``: those would replace the deployment's own (an
    ``?options=`` in the URL, or ``PGOPTIONS``, e.g. the warehouse's ``search_path``)."""
    own = sa.create_engine(engine.url, hide_parameters=True, poolclass=sa.pool.NullPool)
    try:
        with own.begin() as conn:
            for name, value in settings.items():
                conn.execute(
                    sa.text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value}
                )
            yield conn
    finally:
        own.dispose()


CREATE_DATABASE_LOCK = 0x626C656E6401  # serialises "create the database if missing" across processes


def _exists(url: str) -> bool:
    probe = create_engine(url)
    try:
        with probe.connect():
            return True
    except sa.exc.OperationalError as exc:
        if f'database "{make_url(url).database}" does not exist' not in str(exc):
            raise
        return False
    finally:
        probe.dispose()


def ensure_database(url: str, creator_url: str | None = None) -> None:
    """Create the URL's database if it does not exist yet, owned by the URL's role.

    `creator_url` is a role allowed to create it (the tables' owner); without one the URL's own role
    creates it, which needs CREATEDB. Safe when several processes do it at once: they queue on an
    advisory lock on the server's `postgres` database and look again before creating.
    """
    if _exists(url):
        return
    target = make_url(url)
    creator = make_url(creator_url) if creator_url else target
    owner = f' OWNER "{target.username}"' if target.username and creator.username != target.username else ""
    admin = create_engine(creator.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": CREATE_DATABASE_LOCK})
            try:
                found = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}
                ).first()
                if found is None:
                    conn.execute(sa.text(f'CREATE DATABASE "{target.database}"{owner}'))
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": CREATE_DATABASE_LOCK})
    except (sa.exc.ProgrammingError, sa.exc.IntegrityError) as exc:
        # Another server-side creator (not one of ours, so not under the lock) may win the race:
        # "already exists" or a unique violation on pg_database both mean the database is there.
        if "already exists" not in str(exc) and "pg_database_datname_index" not in str(exc):
            raise BlendifyError(
                f'database "{target.database}" does not exist on {describe(url)} and could not be created '
                "(create it, or grant CREATEDB to this role)"
            ) from None
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise BlendifyError(
            f'cannot create database "{target.database}" on {describe(url)}: {reason}'
        ) from None
    finally:
        admin.dispose()


def _embedded(settings: WarehouseSettings) -> EmbeddedServer:
    """The home's embedded server, started with its databases and roles in place."""
    server = start_embedded(settings.postgres_dir)
    if not server.home_ready:
        ensure_home_databases(server)
        server.home_ready = True
    return server


def warehouse_url(settings: WarehouseSettings) -> str:
    """The app's warehouse URL (SELECT and INSERT on music data), starting the embedded server when
    no URL is configured."""
    if settings.database_url:
        return settings.database_url
    return _embedded(settings).url(WAREHOUSE_DB, user=APP_ROLE)


def owner_url(settings: WarehouseSettings) -> str:
    """The URL migrations run with: the role that owns the tables (`db upgrade`, `dev`, `demo`).

    Embedded: the server's superuser. External: BLENDIFY_OWNER_DATABASE_URL, or
    BLENDIFY_DATABASE_URL when that is unset (one role for both: see the README).
    """
    if settings.database_url:
        return settings.owner_database_url or settings.database_url
    return _embedded(settings).url(WAREHOUSE_DB, user=SUPERUSER)


def dagster_storage_url(settings: WarehouseSettings) -> str:
    """psycopg2 URL of the database that holds Dagster's runs, events and schedules.

    It lives on the same server as the warehouse, in a database of its own named after it
    (`<warehouse>_dagster`): two warehouses on one server (tests, staging beside production) never
    share runs, pool slots or sensor cursors. It is reached with the app's credentials and belongs to
    the app role (Dagster creates and migrates its own tables there); the tables' owner creates it
    when missing.
    """
    base = make_url(warehouse_url(settings))
    name = dagster_database(base.database or WAREHOUSE_DB)
    url = base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    ensure_database(url, creator_url=owner_url(settings))
    return make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def open_engine(settings: WarehouseSettings) -> Engine:
    """A new engine for the warehouse, as the app role, checked reachable (one clear line if not).
    The caller disposes of it."""
    return _checked(warehouse_url(settings))


def open_owner_engine(settings: WarehouseSettings) -> Engine:
    """A new engine as the role that owns the tables: for migrations only. The caller disposes of it."""
    return _checked(owner_url(settings))


def _checked(url: str) -> Engine:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise BlendifyError(f"cannot reach the database at {describe(url)}: {reason}") from None
    return engine
