"""SQLAlchemy engines for the warehouse: the configured server, or the embedded one."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from ..errors import BlendifyError
from ..settings import Settings
from .server import DAGSTER_DB, WAREHOUSE_DB, embedded_url, start_embedded


def describe(url: str) -> str:
    """A URL fit for messages: no password."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str) -> Engine:
    # hide_parameters keeps encrypted tokens and emails out of error messages.
    return sa.create_engine(url, hide_parameters=True, pool_pre_ping=True)


def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist yet (needs CREATEDB on the server)."""
    target = make_url(url)
    probe = create_engine(url)
    try:
        with probe.connect():
            return
    except sa.exc.OperationalError as exc:
        if f'database "{target.database}" does not exist' not in str(exc):
            raise
    finally:
        probe.dispose()
    admin = create_engine(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    except sa.exc.ProgrammingError as exc:
        if "already exists" not in str(exc):  # another process created it first
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


def warehouse_url(settings: Settings) -> str:
    """The warehouse URL, starting the embedded server when no URL is configured."""
    if settings.database_url:
        return settings.database_url
    server = start_embedded(settings.postgres_dir)
    url = embedded_url(server, WAREHOUSE_DB)
    ensure_database(url)
    return url


def dagster_storage_url(settings: Settings) -> str:
    """psycopg2 URL of the database that holds Dagster's runs, events and schedules.

    It lives on the same server as the warehouse, in its own database.
    """
    base = make_url(warehouse_url(settings))
    url = base.set(drivername="postgresql+psycopg", database=DAGSTER_DB).render_as_string(hide_password=False)
    ensure_database(url)
    return make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


@functools.cache
def _engine_for(url: str) -> Engine:
    return create_engine(url)


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for the warehouse; fails with one clear line if unreachable."""
    url = warehouse_url(settings)
    engine = _engine_for(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise BlendifyError(f"cannot reach the database at {describe(url)}: {reason}") from None
    return engine
