"""Shared benchmark plumbing: a throwaway migrated warehouse on the embedded server (or the one
BLENDIFY_DATABASE_URL points at), created fresh and dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine
from blendify_assets.db.server import embedded_url, start_embedded


@contextmanager
def scratch_warehouse() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="blendify-bench-") as tmp:
        external = os.environ.get("BLENDIFY_DATABASE_URL")
        if external:
            admin_url = make_url(external.replace("postgresql://", "postgresql+psycopg://", 1)).set(
                database="postgres"
            )
            admin_url = admin_url.render_as_string(hide_password=False)
            server = None
        else:
            server = start_embedded(Path(tmp) / "pg")
            admin_url = embedded_url(server, "postgres")
        name = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        try:
            migrations.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            if server is not None:
                server.cleanup()


def add_user(engine: Engine, email: str) -> uuid.UUID:
    with engine.begin() as conn:
        return conn.execute(
            sa.text("INSERT INTO users (email) VALUES (:e) RETURNING id"), {"e": email}
        ).scalar_one()
