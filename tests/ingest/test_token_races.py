"""A user reconnects while a sync is refreshing the old, revoked grant (issue 11, items 2 and 10):
`connections add` does not wait for the refresh's HTTP round trip, and the new connection stays
active with its new tokens, through real `blendify` processes against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from blendify_assets.core.tokens import Tokens
from blendify_assets.db import connections
from blendify_assets.db.connections import DatabaseTokenSource, TokenPayload, rotate_tokens
from blendify_assets.db.engine import create_engine
from blendify_assets.db.users import add_user
from blendify_assets.security.vault import Vault
from tests.conftest import TEST_KEY

TOKEN_DELAY_MS = 12_000  # the provider's token endpoint is slow: the refresh is in flight this long


def blendify(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "blendify_assets", *args], env=os.environ | env, input=stdin,
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def stored(env: dict[str, str], email: str) -> tuple[str, str, str | None]:
    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT c.status::text, c.access_token_encrypted, c.status_reason FROM provider_connections c "
                "JOIN users u ON u.id = c.user_id WHERE u.email = :e"
            ),
            {"e": email},
        ).one()
    engine.dispose()
    return row[0], Vault([TEST_KEY]).decrypt(row[1]), row[2]


@pytest.mark.slow
def test_a_reauthorisation_during_a_doomed_refresh_wins(sim_env, simulator) -> None:
    sim, env = simulator, sim_env
    user = sim.world.spotify_users[0]
    assert blendify(["users", "add", user.email], env).returncode == 0
    old = sim.spotify.issue_tokens(user.uid, expires_in=30)  # expires within a minute: refreshed first
    add = ["connections", "add", "--user", user.email, "--provider", "spotify", "--tokens-json", "-"]
    assert blendify(add, env, json.dumps(old)).returncode == 0
    sim.spotify.revoke(user.uid)  # the old grant is dead: its refresh will answer invalid_grant
    delay = sim.faults.add("/api/token", "latency", ms=TOKEN_DELAY_MS)

    sync = subprocess.Popen(
        [sys.executable, "-m", "blendify_assets", "sync", "--user", user.email, "--provider", "spotify",
         "--endpoint", "top_tracks"],
        env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while delay.hits == 0:  # the sync's refresh has reached the provider and is waiting there
            assert sync.poll() is None and time.monotonic() < deadline, "the sync never refreshed"
            time.sleep(0.1)
        fresh = sim.spotify.issue_tokens(user.uid)  # the user reconnects meanwhile
        reconnected = blendify(add, env, json.dumps(fresh))
        assert reconnected.returncode == 0, reconnected.stderr
        assert len(sim.request_log.filter("/api/token")) == 0, (
            "connections add waited for the refresh's HTTP call"
        )
    finally:
        sync.communicate(timeout=240)

    status, access_token, reason = stored(env, user.email)
    assert (status, reason) == ("active", None), "the sync flagged the new connection"
    assert access_token == fresh["access_token"]
    sim.faults.clear()
    again = blendify(["sync", "--user", user.email, "--provider", "spotify", "--endpoint", "top_tracks"], env)
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.fixture
def connection(engine) -> tuple[DatabaseTokenSource, Callable[[str], None]]:
    """A Spotify connection's token store, and reconnect(access_token): the user re-authorises."""
    vault = Vault([TEST_KEY])
    add_user(engine, "cas@example.com")

    def reconnect(access_token: str) -> None:
        payload = TokenPayload(access_token, f"refresh-{access_token}", 3600, None)
        connections.upsert(engine, vault, "cas@example.com", "spotify", payload)

    reconnect("first")
    with engine.connect() as conn:
        user_id = str(conn.execute(sa.text("SELECT user_id FROM provider_connections")).scalar_one())
    return DatabaseTokenSource(
        engine, vault, connections.for_sync(engine, "spotify", [user_id])[user_id]
    ), reconnect


def _status(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT status::text FROM provider_connections")).scalar_one()


def test_only_the_grant_that_failed_is_flagged(engine, connection) -> None:
    source, reconnect = connection
    failed = source.current()
    rotate_tokens(engine, Vault([Fernet.generate_key().decode(), TEST_KEY]))  # new ciphertext, same grant
    reconnect("second")
    assert source.mark_needs_reauth("invalid_grant", failed) is False
    assert _status(engine) == "active" and source.current().access_token == "second"
    assert source.mark_needs_reauth("invalid_grant", source.current()) is True
    assert _status(engine) == "needs_reauth"


def test_a_refresh_result_never_overwrites_a_newer_grant(engine, connection) -> None:
    source, reconnect = connection

    async def exchange(tokens: Tokens) -> Tokens:  # the provider answers after the user reconnected
        await asyncio.to_thread(reconnect, "second")
        return Tokens("refreshed", "refreshed-refresh-token", datetime.now(UTC) + timedelta(hours=1))

    async def plain(tokens: Tokens) -> Tokens:
        return Tokens("refreshed", None, datetime.now(UTC) + timedelta(hours=1))

    assert asyncio.run(source.refresh(exchange, source.current())).access_token == "second"
    assert source.current().access_token == "second"
    assert asyncio.run(source.refresh(plain, source.current())).access_token == "refreshed"
    assert source.current().refresh_token == "refresh-second"  # kept: none came back
