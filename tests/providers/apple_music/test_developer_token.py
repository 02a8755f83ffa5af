"""The developer token: ES256 claims Apple accepts, renewal before expiry, settings errors that name the variable."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import read_env
from blendify_assets.providers.apple_music.developer_token import (
    MAX_LIFETIME_SECONDS,
    DeveloperToken,
    developer_token,
)
from blendify_assets.providers.apple_music.settings import AppleMusicSettings, SigningKey

DAY = 24 * 3600


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def test_token_has_apple_claims_and_is_renewed_well_before_expiry(key) -> None:
    clock = Clock()
    token = DeveloperToken(SigningKey("TEAM123456", "KEY1234567", key), clock=clock)
    first = token.get()
    header = jwt.get_unverified_header(first)
    claims = jwt.decode(first, key.public_key(), algorithms=["ES256"], options={"verify_exp": False})
    assert header["alg"] == "ES256" and header["kid"] == "KEY1234567"
    assert claims["iss"] == "TEAM123456" and claims["iat"] == int(clock.now)
    assert 0 < claims["exp"] - claims["iat"] <= MAX_LIFETIME_SECONDS <= 180 * DAY

    clock.now += 100 * DAY  # 50 days left: still cached
    assert token.get() == first and token.signed == 1
    clock.now += 25 * DAY  # 25 days left: re-signed before Apple would refuse it
    second = token.get()
    assert second != first and token.signed == 2
    assert token.expires_at - clock.now > 100 * DAY


def test_renew_after_401_signs_once_for_concurrent_callers(key) -> None:
    token = DeveloperToken(SigningKey("TEAM123456", "KEY1234567", key), clock=Clock())
    rejected = token.get()
    fresh = token.renew(rejected)
    assert token.renew(rejected) == fresh and token.signed == 2  # a second 401 on the old token


def test_lifetime_over_180_days_is_refused(key) -> None:
    with pytest.raises(ValueError):
        DeveloperToken(SigningKey("T", "K", key), lifetime=181 * DAY)


def settings(tmp_path: Path, **env: str):
    base = {
        "BLENDIFY_HOME": str(tmp_path),
        "APPLE_MUSIC_TEAM_ID": "TEAM123456",
        "APPLE_MUSIC_KEY_ID": "KEY1234567",
    }
    return AppleMusicSettings.from_values(read_env(AppleMusicSettings.ENV, {**base, **env}))


@pytest.mark.parametrize(
    "missing", ["APPLE_MUSIC_TEAM_ID", "APPLE_MUSIC_KEY_ID", "APPLE_MUSIC_PRIVATE_KEY_PATH"]
)
def test_missing_setting_is_named(tmp_path: Path, key, missing: str) -> None:
    path = tmp_path / "key.p8"
    path.write_text(pem(key))
    env = {"APPLE_MUSIC_PRIVATE_KEY_PATH": str(path), missing: ""}
    with pytest.raises(SettingsError, match=missing) as raised:
        developer_token(settings(tmp_path, **env))
    assert getattr(raised.value, "retryable", True) is False


def test_unreadable_or_wrong_key_is_named_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="APPLE_MUSIC_PRIVATE_KEY_PATH: cannot read"):
        developer_token(settings(tmp_path, APPLE_MUSIC_PRIVATE_KEY_PATH=str(tmp_path / "nope.p8")))
    garbage = tmp_path / "garbage.p8"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SettingsError, match="not an unencrypted PEM private key") as raised:
        developer_token(settings(tmp_path, APPLE_MUSIC_PRIVATE_KEY_PATH=str(garbage)))
    assert "c2VjcmV0" not in str(raised.value)
    rsa_key = tmp_path / "rsa.p8"
    rsa_key.write_text(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    with pytest.raises(SettingsError, match="not an EC P-256 key"):
        developer_token(settings(tmp_path, APPLE_MUSIC_PRIVATE_KEY_PATH=str(rsa_key)))


def test_one_shared_token_per_key_and_repr_hides_it(tmp_path: Path, key) -> None:
    path = tmp_path / "key.p8"
    path.write_text(pem(key))
    configured = settings(tmp_path, APPLE_MUSIC_PRIVATE_KEY_PATH=str(path))
    token = developer_token(configured)
    assert developer_token(configured) is token
    assert "BEGIN" not in repr(token) and "hidden" in repr(token.key)
