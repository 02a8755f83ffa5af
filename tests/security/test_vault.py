"""Tokens at rest: encrypted, rotatable, unreadable without the key."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.security.vault import Vault, VaultError, local_keys, vault_from_settings


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
