"""Test harness: a real PostgreSQL server for the whole session, a fresh database per test.

The server is the embedded one, or the one BLENDIFY_DATABASE_URL points at when it is set (each
test then gets its own database on that server, created from a migrated template). Migrations run
as the owner; on the embedded server, commands under test connect as the app role, as they do in
production, so a right the app lacks fails the test that needs it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from blendify_assets.assets.resources import WarehouseResource, resources_for
from blendify_assets.core.settings import load_settings
from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine
from blendify_assets.db.server import APP_ROLE, dagster_database, ensure_home_databases, start_embedded
from blendify_assets.ingest.sync import StepSync
from blendify_assets.providers import registry
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.security.vault import Vault

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "blendify_test_template"
TEST_KEY = Fernet.generate_key().decode()
EXTERNAL_URL = os.environ.get("BLENDIFY_DATABASE_URL")

pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.world"]


def reference_dir() -> Path:
    return Path(os.environ.get("BLENDIFY_REFERENCE_DIR", REPO.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Admin URL (database 'postgres') of the session's server."""
    if EXTERNAL_URL:
        url = make_url(EXTERNAL_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        yield url.set(database="postgres").render_as_string(hide_password=False)
        return
    # Not under pytest's basetemp: pytest prunes old basetemps, which another session may be using.
    with tempfile.TemporaryDirectory(prefix="blendify-test-pg-") as folder:
        server = start_embedded(Path(folder) / "data")
        ensure_home_databases(server)  # Dagster's storage database, owned by the app role
        yield server.url("postgres")
        server.release()


def app_url(owner_url: str) -> str:
    """The same database as the app connects to it: the app role on the embedded server; the
    configured role on an external one (which may not let us create a login role)."""
    if EXTERNAL_URL:
        return owner_url
    return make_url(owner_url).set(username=APP_ROLE).render_as_string(hide_password=False)


def _admin(server_url: str):
    return create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")


def _url_for(server_url: str, database: str) -> str:
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    """A database migrated once per session; test databases are copied from it."""
    admin = _admin(server_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{TEMPLATE_DB}"'))
    url = _url_for(server_url, TEMPLATE_DB)
    engine = create_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    admin.dispose()
    return url


def _fresh_database(server_url: str, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin(server_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield _url_for(server_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            # Dagster's instance for this warehouse, if a test opened one (db.engine.dagster_storage_url)
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dagster_database(name)}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    yield from _fresh_database(server_url, TEMPLATE_DB)


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A BLENDIFY_HOME for a test that starts its own embedded server, outside pytest's basetemp:
    every pytest session that starts makes /tmp/pytest-of-<user> private again, which (as root)
    locks the server's own OS user out of a data directory below it."""
    with tempfile.TemporaryDirectory(prefix="blendify-test-home-") as folder:
        yield Path(folder) / "home"


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    yield from _fresh_database(server_url, None)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.engine.Engine]:
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def blendify_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment a command sees: this test's database (as the app, and as the owner for
    migrations), a known key, a private home."""
    for name in list(os.environ):
        if name.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_")) and name != "BLENDIFY_REFERENCE_DIR":
            monkeypatch.delenv(name)
    env = {
        "BLENDIFY_HOME": str(tmp_path / "home"),
        "BLENDIFY_DATABASE_URL": app_url(database_url),
        "BLENDIFY_OWNER_DATABASE_URL": database_url,
        "BLENDIFY_ENCRYPTION_KEY": TEST_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def sim_env(blendify_env: dict[str, str], simulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`blendify_env` pointed at the running `simulator` (override `simulator_config` to pick a world)."""
    for name, value in simulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "blendify-test")
    return blendify_env | simulator.env()


@pytest.fixture
def make_resources(blendify_env: dict[str, str]):
    """`make_resources(providers={name: {field: value}}, specs=PROVIDERS)`: the resources a test's
    Definitions run with (`build_definitions(specs, ...)`): this test's database and key, given as
    literals (throwaway ones), and the providers' settings."""

    def make(providers=None, specs=PROVIDERS):
        warehouse = WarehouseResource(
            home=blendify_env["BLENDIFY_HOME"],
            database_url=blendify_env["BLENDIFY_DATABASE_URL"],
            encryption_key=TEST_KEY,
        )
        return resources_for(warehouse, providers or {}, specs, allow_literal_secrets=True)

    return make


@pytest.fixture
def resources(make_resources) -> dict[str, object]:
    """Resources for tests that need no provider settings (sensors, schedules, analytics)."""
    return make_resources()


def step_sync(engine: sa.engine.Engine, provider: str, endpoint: str, user_ids: list[str]) -> list:
    """One endpoint checked for these users the way an asset's step does it (`ingest.sync.StepSync`),
    with the provider settings this test's environment holds."""
    spec = registry.get(provider)
    settings = load_settings(providers=registry.settings_types()).provider(provider)
    return StepSync(engine, Vault([TEST_KEY]), spec, settings, user_ids).run(
        spec.endpoint(endpoint), user_ids
    )
