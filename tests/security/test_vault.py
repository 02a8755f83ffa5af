"""Tokens at rest: encrypted, rotatable, unreadable without the key."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db.engine import create_engine
from blendify_assets.security.vault import (
    Vault,
    VaultError,
    local_keys,
    read_local_keys,
    vault_from_settings,
    write_local_keys,
)
from tests.conftest import REPO
from tests.fixtures.cli import run_blendify


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    vault = Vault([Fernet.generate_key().decode()])
    secret = "BQD-access-token-123"
    encrypted = vault.encrypt(secret)
    assert secret not in encrypted
    assert vault.decrypt(encrypted) == secret
    assert vault.encrypt(secret) != encrypted  # fresh IV every time


def test_rotation_moves_tokens_to_the_first_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    encrypted = Vault([old]).encrypt("refresh-me")
    both = Vault([new, old])
    assert both.decrypt(encrypted) == "refresh-me"  # the old key still decrypts
    with pytest.raises(VaultError):
        Vault([new]).decrypt(encrypted)  # not under the first key yet
    rotated = both.rotate(encrypted)
    assert Vault([new]).decrypt(rotated) == "refresh-me"
    with pytest.raises(VaultError, match="cannot be decrypted"):
        Vault([old]).decrypt(rotated)


def test_wrong_key_fails_clearly_without_showing_anything() -> None:
    encrypted = Vault([Fernet.generate_key().decode()]).encrypt("s3cret")
    with pytest.raises(VaultError) as info:
        Vault([Fernet.generate_key().decode()]).decrypt(encrypted)
    assert "s3cret" not in str(info.value) and encrypted not in str(info.value)


def test_local_key_is_generated_private_and_reused(tmp_path, caplog) -> None:
    settings = WarehouseSettings.from_env({"BLENDIFY_HOME": str(tmp_path / "home")})
    vault = vault_from_settings(settings)
    key_file = settings.local_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "production must set BLENDIFY_ENCRYPTION_KEY" in caplog.text
    token = vault.encrypt("x")
    assert vault_from_settings(settings).decrypt(token) == "x"
    assert local_keys(settings) == [key_file.read_text().strip()]


def test_a_long_lived_process_follows_keys_rotate_in_another(blendify_env) -> None:
    """Issue 11: a process that built its vault from the local key file before `blendify keys
    rotate` (Dagster's daemon, a long sync) decrypts tokens written after the rotation and writes
    tokens the new key list decrypts, through two real processes."""
    env = {k: v for k, v in blendify_env.items() if k != "BLENDIFY_ENCRYPTION_KEY"}  # the local key
    add = ["connections", "add", "--provider", "spotify", "--tokens-json", "-", "--user"]
    for email, token in (("early@example.com", "before"), ("late@example.com", "placeholder")):
        assert run_blendify(["users", "add", email], env).returncode == 0
        assert run_blendify([*add, email], env, json.dumps({"access_token": token})).returncode == 0
    key_file = WarehouseSettings.from_env(env).local_key_file

    full = {k: v for k, v in os.environ.items() if not k.startswith("BLENDIFY_")} | env
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.long_lived_vault"], env=full, cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert daemon.stdin is not None and daemon.stdout is not None

    def ask(command: str) -> str:
        daemon.stdin.write(command + "\n")  # type: ignore[union-attr]
        daemon.stdin.flush()  # type: ignore[union-attr]
        return daemon.stdout.readline().strip()  # type: ignore[union-attr]

    try:
        assert daemon.stdout.readline().strip() == "ready", daemon.stderr.read() if daemon.stderr else ""
        assert ask("read early@example.com") == "token before"
        old_keys = read_local_keys(key_file)

        rotated = run_blendify(["keys", "rotate"], env)
        assert rotated.returncode == 0, rotated.stderr
        assert read_local_keys(key_file) != old_keys
        assert (
            run_blendify([*add, "late@example.com"], env, json.dumps({"access_token": "after"})).returncode
            == 0
        )

        assert ask("read late@example.com") == "token after"  # written under the new key only
        assert ask("read early@example.com") == "token before"  # re-encrypted by the rotation
        assert ask("write early@example.com written-late") == "written"
    finally:
        daemon.stdin.close()
        daemon.wait(timeout=60)

    engine = create_engine(env["BLENDIFY_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT c.access_token_encrypted FROM provider_connections c JOIN users u ON u.id = c.user_id "
                "WHERE u.email = 'early@example.com'"
            )
        ).scalar_one()
    engine.dispose()
    assert Vault(read_local_keys(key_file)).decrypt(stored) == "written-late"


def test_a_local_key_vault_reads_a_replaced_key_file_and_ignores_a_broken_one(tmp_path) -> None:
    settings = WarehouseSettings.from_env({"BLENDIFY_HOME": str(tmp_path / "home")})
    vault = vault_from_settings(settings)
    old = local_keys(settings)
    new = Fernet.generate_key().decode()
    write_local_keys(settings, [new])  # as `keys rotate` leaves it
    assert Vault([new]).decrypt(vault.encrypt("x")) == "x"
    assert vault.decrypt(Vault([new]).encrypt("y")) == "y"
    settings.local_key_file.write_text("not a key")  # a hand edit gone wrong: the keys in hand stay
    assert vault.decrypt(Vault([new]).encrypt("z")) == "z"
    with pytest.raises(VaultError):
        vault.decrypt(Vault(old).encrypt("gone"))
