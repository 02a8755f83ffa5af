"""Every foundation command path, good and bad, through the real `blendify` command."""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet

from blendify_assets.cli import main
from blendify_assets.db.engine import create_engine
from blendify_assets.security.vault import Vault, VaultError
from tests.fixtures.cli import run_blendify

TOKENS = {"access_token": "AT-very-secret", "refresh_token": "RT-very-secret", "expires_in": 3600}


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        users = conn.execute(sa.text("SELECT count(*) FROM users")).scalar()
        connections = conn.execute(sa.text("SELECT count(*) FROM provider_connections")).scalar()
    engine.dispose()
    return users, connections


@pytest.fixture
def alice(blendify_env: dict[str, str]) -> str:
    result = run("users", "add", "Alice@Example.com", "--name", "Alice")
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_users_add_prints_the_id_and_list_shows_the_user(alice: str) -> None:
    assert len(alice) == 36  # a UUID and nothing else, for scripts
    listed = run("users", "list")
    assert listed.exit_code == 0
    assert "alice@example.com" in listed.output and "Alice" in listed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "not-an-email"], "not a valid email address"),
        (["users", "add", "alice@example.com"], "already exists"),
    ],
)
def test_bad_user_input_exits_1_and_writes_nothing(alice: str, blendify_env, args, message) -> None:
    before = counts(blendify_env["BLENDIFY_DATABASE_URL"])
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert counts(blendify_env["BLENDIFY_DATABASE_URL"]) == before


def test_password_is_hashed_with_argon2_and_never_printed(blendify_env) -> None:
    result = run("users", "add", "pw@example.com", "--password-stdin", stdin="correct horse battery\n")
    assert result.exit_code == 0 and "correct horse" not in result.output
    engine = create_engine(blendify_env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users")).scalar()
    engine.dispose()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_connections_add_stores_tokens_encrypted_and_upserts(alice: str, blendify_env) -> None:
    url = blendify_env["BLENDIFY_DATABASE_URL"]
    first = run(
        "connections",
        "add",
        "--user",
        "alice@example.com",
        "--provider",
        "spotify",
        "--tokens-json",
        "-",
        stdin=json.dumps(TOKENS),
    )
    assert first.exit_code == 0, first.output
    assert "connected spotify" in first.output and "very-secret" not in first.output

    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM provider_connections")).mappings().one()
    assert "very-secret" not in json.dumps({k: str(v) for k, v in row.items()})
    with pytest.raises(VaultError):  # unreadable without the key
        Vault([Fernet.generate_key().decode()]).decrypt(row["access_token_encrypted"])
    vault = Vault([blendify_env["BLENDIFY_ENCRYPTION_KEY"]])
    assert vault.decrypt(row["access_token_encrypted"]) == "AT-very-secret"
    assert vault.decrypt(row["refresh_token_encrypted"]) == "RT-very-secret"
    assert row["token_expires_at"] is not None and row["status"] == "active"

    # A second add is a re-authorisation of the same connection: one row, new tokens, new change_seq.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE provider_connections SET status = 'needs_reauth'"))
    again = run(
        "connections",
        "add",
        "--user",
        "alice@example.com",
        "--provider",
        "spotify",
        "--tokens-json",
        "-",
        stdin=json.dumps({"access_token": "AT-2", "provider_user_id": "acct-1"}),
    )
    assert again.exit_code == 0 and "re-authorised" in again.output
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM provider_connections")).mappings().all()
    engine.dispose()
    assert len(rows) == 1
    assert rows[0]["status"] == "active" and rows[0]["change_seq"] > row["change_seq"]
    assert vault.decrypt(rows[0]["access_token_encrypted"]) == "AT-2"
    assert rows[0]["provider_user_id"] == "acct-1"


@pytest.mark.parametrize(
    ("args", "stdin", "message", "code"),
    [
        (
            ["--user", "nobody@example.com", "--provider", "spotify"],
            json.dumps(TOKENS),
            "no user with email",
            1,
        ),
        (["--user", "alice@example.com", "--provider", "spotify"], "{not json", "not valid JSON", 1),
        (["--user", "alice@example.com", "--provider", "spotify"], "[]", "JSON object", 1),
        (
            ["--user", "alice@example.com", "--provider", "spotify"],
            '{"refresh_token": "x"}',
            "access_token",
            1,
        ),
        (
            ["--user", "alice@example.com", "--provider", "spotify"],
            '{"access_token": "x", "expires_in": "soon"}',
            "expires_in",
            1,
        ),
        (
            ["--user", "alice@example.com", "--provider", "tidal"],
            json.dumps(TOKENS),
            "unknown provider 'tidal': choose one of spotify, apple",
            1,
        ),
        (["--user", "bad email", "--provider", "spotify"], json.dumps(TOKENS), "not a valid email", 1),
    ],
)
def test_bad_connection_input_is_refused_and_writes_nothing(
    alice, blendify_env, args, stdin, message, code
) -> None:
    before = counts(blendify_env["BLENDIFY_DATABASE_URL"])
    result = run("connections", "add", *args, "--tokens-json", "-", stdin=stdin)
    assert result.exit_code == code
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1  # one clear line
    assert "very-secret" not in result.output
    assert counts(blendify_env["BLENDIFY_DATABASE_URL"]) == before


def test_keys_rotate_reencrypts_under_the_new_first_key(alice, blendify_env, monkeypatch) -> None:
    run(
        "connections",
        "add",
        "--user",
        "alice@example.com",
        "--provider",
        "apple",
        "--tokens-json",
        "-",
        stdin=json.dumps({"access_token": "music-user-token"}),
    )
    old = blendify_env["BLENDIFY_ENCRYPTION_KEY"]
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("BLENDIFY_ENCRYPTION_KEY", f"{new},{old}")
    result = run("keys", "rotate")
    assert result.exit_code == 0 and "1 connection" in result.output
    engine = create_engine(blendify_env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT access_token_encrypted, change_seq FROM provider_connections")
        ).one()
    engine.dispose()
    assert Vault([new]).decrypt(stored.access_token_encrypted) == "music-user-token"


def test_keys_rotate_with_the_local_key(alice, blendify_env, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("BLENDIFY_ENCRYPTION_KEY")
    run(
        "connections",
        "add",
        "--user",
        "alice@example.com",
        "--provider",
        "apple",
        "--tokens-json",
        "-",
        stdin=json.dumps({"access_token": "mut"}),
    )
    key_file = tmp_path / "home" / "encryption.key"
    before = key_file.read_text()
    assert run("keys", "rotate").exit_code == 0
    after = key_file.read_text()
    assert after != before and "," not in after  # the old key is retired
    engine = create_engine(blendify_env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT access_token_encrypted FROM provider_connections")).scalar()
    engine.dispose()
    assert Vault([after]).decrypt(stored) == "mut"


def test_db_status_and_upgrade_on_a_migrated_database(blendify_env) -> None:
    assert "up to date" in run("db", "upgrade").output
    status = run("db", "status")
    assert status.exit_code == 0 and "0 pending" in status.output


def test_commands_refuse_an_unmigrated_database(blendify_env, empty_database_url, monkeypatch) -> None:
    monkeypatch.setenv("BLENDIFY_DATABASE_URL", empty_database_url)
    result = run("users", "list")
    assert result.exit_code == 1 and "blendify db upgrade" in result.output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BLENDIFY_DATABASE_URL": "postgresql://blendify:hunter2pw@127.0.0.1:1/blendify"},
            "cannot reach the database",
        ),
        ({"BLENDIFY_DATABASE_URL": "mysql://x@y/z"}, "BLENDIFY_DATABASE_URL"),
        ({"BLENDIFY_ENCRYPTION_KEY": "too-short"}, "BLENDIFY_ENCRYPTION_KEY"),
        ({"SPOTIFY_API_URL": "ftp://nope"}, "SPOTIFY_API_URL"),
    ],
)
def test_bad_settings_and_unreachable_database_fail_in_one_line(tmp_path, env, message) -> None:
    result = run_blendify(["users", "list"], {"BLENDIFY_HOME": str(tmp_path)} | env)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2pw" not in result.stderr + result.stdout


def test_usage_errors_exit_2(tmp_path) -> None:
    result = run_blendify(["users", "frobnicate"], {"BLENDIFY_HOME": str(tmp_path)})
    assert result.returncode == 2


def test_embedded_server_starts_persists_and_stops(embedded_home) -> None:
    """No BLENDIFY_DATABASE_URL: the embedded server holds the data under $BLENDIFY_HOME/postgres."""
    if os.environ.get("BLENDIFY_DATABASE_URL"):
        pytest.skip("the suite runs against an external server")
    env = {"BLENDIFY_HOME": str(embedded_home)}
    assert run_blendify(["db", "upgrade"], env).returncode == 0
    pgdata = embedded_home / "postgres"
    assert (pgdata / "PG_VERSION").exists()
    added = run_blendify(["users", "add", "embedded@example.com"], env)
    assert added.returncode == 0, added.stderr
    listed = run_blendify(["users", "list"], env)
    assert "embedded@example.com" in listed.stdout  # a second process found the same data
    assert not (pgdata / "postmaster.pid").exists()  # and the server stopped when the last one exited
