"""A small runner for the plain-SQL migrations in `sql/`.

Each file `NNNN_name.sql` runs once, in order, in its own transaction, and is recorded with the
SHA-256 of its text. A session advisory lock makes concurrent upgrades queue instead of racing,
and an applied file that has since been edited stops the upgrade before anything runs.
(Why not yoyo or alembic: see the README's "Libraries" section.)
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.errors import BlendifyError

LOCK_KEY = 0x626C656E64  # "blend": one advisory lock for every upgrader of this database
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(BlendifyError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    migration: Migration
    applied_at: str | None  # None: pending
    checksum_ok: bool = True


def sql_dir() -> Path:
    """The migrations as installed: `blendify_assets.sql`, which is the repository's `sql/` in an
    editable install and a folder inside the package in a wheel (see pyproject.toml)."""
    return Path(str(importlib.resources.files("blendify_assets.sql")))


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    if not directory.is_dir():
        raise MigrationError(f"migrations folder not found: {directory}")
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp NOT NULL DEFAULT now(),
    execution_ms integer NOT NULL
)"""


def _applied(conn: Connection) -> dict[str, tuple[str, str]]:
    if not conn.execute(sa.text("SELECT to_regclass('schema_migrations')")).scalar():
        return {}
    try:
        rows = conn.execute(
            sa.text("SELECT version, checksum, applied_at::text FROM schema_migrations")
        ).all()
    except sa.exc.ProgrammingError as exc:
        if not isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise
        # A warehouse migrated before the app role existed (0005 grants it its rights).
        raise MigrationError(
            "this role may not read the warehouse yet: run `blendify db upgrade` (as the owner)"
        ) from None
    return {version: (checksum, applied_at) for version, checksum, applied_at in rows}


def status(engine: Engine, directory: Path | None = None) -> list[MigrationStatus]:
    """Every migration file with whether (and when) it was applied and whether it was edited since."""
    migrations = discover(directory)
    with engine.connect() as conn:
        applied = _applied(conn)
    return [
        MigrationStatus(m, applied[m.version][1], applied[m.version][0] == m.checksum)
        if m.version in applied
        else MigrationStatus(m, None)
        for m in migrations
    ]


def upgrade(engine: Engine, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations in order; returns the ones applied by this call."""
    migrations = discover(directory)
    done: list[Migration] = []
    with engine.connect() as lock_conn:
        lock_conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        lock_conn.commit()
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(_LEDGER))
                applied = _applied(conn)
            edited = [
                m.path.name
                for m in migrations
                if m.version in applied and applied[m.version][0] != m.checksum
            ]
            if edited:
                raise MigrationError(
                    f"applied migration(s) changed since they ran: {', '.join(edited)}; "
                    "restore the original file and add a new migration instead"
                )
            for migration in migrations:
                if migration.version in applied:
                    continue
                started = time.perf_counter()
                try:
                    with engine.begin() as conn:
                        # Straight to psycopg without parameters: the file runs as written,
                        # several statements and literal '%' signs included.
                        raw = conn.connection.driver_connection
                        assert isinstance(raw, psycopg.Connection), "migrations run on psycopg 3"
                        raw.execute(migration.sql)
                        conn.execute(
                            sa.text(
                                "INSERT INTO schema_migrations (version, name, checksum, execution_ms) "
                                "VALUES (:v, :n, :c, :ms)"
                            ),
                            {
                                "v": migration.version,
                                "n": migration.name,
                                "c": migration.checksum,
                                "ms": int((time.perf_counter() - started) * 1000),
                            },
                        )
                except (sa.exc.DBAPIError, psycopg.Error) as exc:
                    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
                    reason = str(cause).strip().splitlines()[0]
                    raise MigrationError(
                        f"migration {migration.path.name} failed and was rolled back: {reason}"
                    ) from None
                done.append(migration)
        finally:
            lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            lock_conn.commit()
    return done


def require_current(engine: Engine) -> None:
    """Fail clearly when the warehouse is behind the code (commands other than `db upgrade`)."""
    pending = [s.migration.path.name for s in status(engine) if s.applied_at is None]
    if pending:
        raise MigrationError(
            f"the database has {len(pending)} pending migration(s); run `blendify db upgrade`"
        )
