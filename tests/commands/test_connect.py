"""`blendify connect spotify`: a real Authorization Code + PKCE flow against the simulated accounts
service, with the callback served on 127.0.0.1 by the command itself."""

from __future__ import annotations

import threading

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from blendify_assets.cli import main
from blendify_assets.db.engine import create_engine
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import SimulatorConfig
from tests.fixtures.servers import free_port


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(users=2, seed=3, profile_mix="tiny")


@pytest.fixture
def sim(simulator):
    return simulator


@pytest.fixture
def env(sim_env, monkeypatch):
    monkeypatch.setenv("SPOTIFY_REDIRECT_URI", f"http://127.0.0.1:{free_port()}/callback")
    return sim_env


def _browser(login_hint: str):
    """Stands in for the user's browser: follows Spotify's redirect to our callback."""

    def open_url(url: str) -> None:
        def visit() -> None:
            httpx.get(url + f"&login_hint={login_hint}", follow_redirects=True, timeout=10)

        threading.Thread(target=visit, daemon=True).start()

    return open_url


def test_connect_stores_encrypted_tokens_and_the_account_id(env, sim, monkeypatch) -> None:
    user = sim.world.spotify_truth("user0001")["user"]
    assert CliRunner().invoke(main, ["users", "add", user["email"]]).exit_code == 0
    monkeypatch.setattr("webbrowser.open", _browser("user0001"))
    result = CliRunner().invoke(main, ["connect", "spotify", "--user", user["email"], "--timeout", "30"])
    assert result.exit_code == 0, result.output
    assert user["account_id"] in result.output
    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM provider_connections")).mappings().one()
    engine.dispose()
    vault = Vault([env["BLENDIFY_ENCRYPTION_KEY"]])
    access = vault.decrypt(row["access_token_encrypted"])
    assert access not in result.output and row["refresh_token_encrypted"] and row["status"] == "active"
    assert row["provider_user_id"] == user["account_id"]
    me = httpx.get(f"{sim.spotify_api_url}/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200  # the stored token works


def test_connect_reports_a_denied_consent(env, sim, monkeypatch) -> None:
    assert CliRunner().invoke(main, ["users", "add", "someone@example.com"]).exit_code == 0
    monkeypatch.setattr("webbrowser.open", _browser("nobody-such"))
    result = CliRunner().invoke(
        main, ["connect", "spotify", "--user", "someone@example.com", "--timeout", "30"]
    )
    assert result.exit_code == 1 and "did not authorise" in result.output


def test_connect_needs_a_loopback_redirect(env, monkeypatch) -> None:
    assert CliRunner().invoke(main, ["users", "add", "x@example.com"]).exit_code == 0
    monkeypatch.setenv("SPOTIFY_REDIRECT_URI", "http://localhost:8888/callback")
    result = CliRunner().invoke(main, ["connect", "spotify", "--user", "x@example.com", "--no-browser"])
    assert result.exit_code == 1 and "loopback" in result.output


def _granted(env, sim) -> frozenset[str]:
    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT access_token_encrypted FROM provider_connections")).one()
        opted = conn.execute(sa.text("SELECT publish, provider::text FROM publish_preferences")).all()
    engine.dispose()
    access = Vault([env["BLENDIFY_ENCRYPTION_KEY"]]).decrypt(row[0])
    return sim.spotify.scopes_of(access), opted


def test_the_write_scopes_are_asked_for_only_when_the_member_opts_in_to_publishing(
    env, sim, monkeypatch
) -> None:
    email = sim.world.spotify_truth("user0001")["user"]["email"]
    assert CliRunner().invoke(main, ["users", "add", email]).exit_code == 0
    monkeypatch.setattr("webbrowser.open", _browser("user0001"))
    plain = CliRunner().invoke(main, ["connect", "spotify", "--user", email, "--timeout", "30"])
    assert plain.exit_code == 0, plain.output
    scopes, opted = _granted(env, sim)
    assert "user-top-read" in scopes and not scopes & {"playlist-modify-private", "playlist-modify-public"}
    assert opted == []
    publish = CliRunner().invoke(
        main, ["connect", "spotify", "--user", email, "--timeout", "30", "--publish"]
    )
    assert publish.exit_code == 0 and "published" in publish.output, publish.output
    scopes, opted = _granted(env, sim)
    assert {"user-top-read", "playlist-modify-private", "playlist-modify-public"} <= scopes
    assert [tuple(r) for r in opted] == [(True, "spotify")]
