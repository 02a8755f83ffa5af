"""Orchestration fixtures: a warehouse with connections in it, and real Dagster instances."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.engine import create_engine
from blendify_assets.db.users import add_user
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS
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
def defs(resources) -> dg.Definitions:
    """The code location with this test's resources."""
    return build_definitions(PROVIDERS, resources)


@pytest.fixture
def pg_instance(blendify_env) -> Iterator[dg.DagsterInstance]:
    """The Postgres-backed instance `blendify dev` uses, for this test's warehouse (its own database,
    named after the warehouse's and dropped with it)."""
    with dagster_instance(WarehouseSettings.from_env(), PROVIDERS) as inst:
        yield inst
