"""Orchestration fixtures: a warehouse with connections in it, and real Dagster instances."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from blendify_assets.assets.resources import BlendifyResource
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.engine import create_engine
from blendify_assets.db.users import add_user
from blendify_assets.orchestration.instance import instance_config, set_pool_limits
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY


@pytest.fixture
def warehouse(blendify_env) -> Iterator[sa.engine.Engine]:
    engine = create_engine(blendify_env["BLENDIFY_DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def connect(warehouse) -> Callable[..., str]:
    """connect(email, provider="spotify") -> user id: adds the user if new, then (re-)authorises."""
    vault = Vault([TEST_KEY])

    def _connect(email: str, provider: str = "spotify", tokens: dict | None = None) -> str:
        with warehouse.connect() as conn:
            found = conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar()
        user_id = found or add_user(warehouse, email)
        payload = TokenPayload.parse(
            json.dumps(tokens or {"access_token": f"token-{email}", "expires_in": 3600})
        )
        connections.upsert(warehouse, vault, email, provider, payload)
        return str(user_id)

    return _connect


@pytest.fixture
def set_status(warehouse) -> Callable[[str, str, str], None]:
    def _set(user_id: str, provider: str, status: str) -> None:
        with warehouse.begin() as conn:
            conn.execute(
                sa.text("UPDATE provider_connections SET status = CAST(:s AS connection_status) "
                        "WHERE user_id = CAST(:u AS uuid) AND provider = CAST(:p AS provider)"),
                {"s": status, "u": user_id, "p": provider},
            )  # fmt: skip

    return _set


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def resources(blendify_env) -> dict[str, object]:
    return {"blendify": BlendifyResource()}


@pytest.fixture
def pg_instance(blendify_env, server_url: str, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A Postgres-backed instance like `blendify dev`'s, in a database of its own for this test,
    owned by the role the app connects as (as the embedded server sets up Dagster's database)."""
    url = make_url(blendify_env["BLENDIFY_DATABASE_URL"])
    storage = url.set(database=f"{url.database}_dagster")
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{storage.database}" OWNER "{url.username}"'))
    admin.dispose()
    home = tmp_path / "dagster_home"
    home.mkdir()
    psycopg2_url = storage.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(psycopg2_url)))
    with dg.DagsterInstance.from_config(str(home)) as inst:
        set_pool_limits(inst)
        yield inst
    admin = create_engine(server_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{storage.database}" WITH (FORCE)'))
    admin.dispose()
