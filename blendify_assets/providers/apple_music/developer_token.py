"""The Apple Music developer token: an ES256 JWT signed with the team's MusicKit key.

Apple accepts an `exp` at most ~6 months ahead (some report rejections at exactly 15,777,000 s),
so tokens live 150 days and are re-signed once fewer than 30 days remain, long before Apple would
refuse them. One `DeveloperToken` per (team, key, file) is shared by the whole process, so the
key file is read once and every client sends the same token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import Settings

LIFETIME_SECONDS = 150 * 24 * 3600
RENEW_WHEN_LEFT_SECONDS = 30 * 24 * 3600
MAX_LIFETIME_SECONDS = 180 * 24 * 3600  # Apple's ceiling (with a margin below its 15,777,000 s)


@dataclass(frozen=True)
class SigningKey:
    """Team id, key id and the loaded private key. repr() never shows the key."""

    team_id: str
    key_id: str
    private_key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(team_id={self.team_id!r}, key_id={self.key_id!r}, private_key=<hidden>)"


def load_private_key(
    path: Path, variable: str = "APPLE_MUSIC_PRIVATE_KEY_PATH"
) -> ec.EllipticCurvePrivateKey:
    """The P-256 key from a MusicKit .p8 file; SettingsError naming `variable` (never the key) if not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"{variable}: cannot read {path} ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SettingsError(
            f"{variable}: {path} is not an unencrypted PEM private key (expected a MusicKit .p8 file)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SettingsError(
            f"{variable}: {path} is not an EC P-256 key; Apple signs developer tokens with ES256"
        )
    return key


def signing_key_from_settings(settings: Settings) -> SigningKey:
    """Read the three APPLE_MUSIC_* settings; SettingsError names the first one missing or wrong."""
    if not settings.apple_team_id:
        raise SettingsError("APPLE_MUSIC_TEAM_ID must be set to sync Apple Music (your 10-character Team ID)")
    if not settings.apple_key_id:
        raise SettingsError(
            "APPLE_MUSIC_KEY_ID must be set to sync Apple Music (the MusicKit key's 10-character id)"
        )
    if settings.apple_private_key_path is None:
        raise SettingsError(
            "APPLE_MUSIC_PRIVATE_KEY_PATH must be set to sync Apple Music (the MusicKit .p8 file)"
        )
    return SigningKey(
        settings.apple_team_id, settings.apple_key_id, load_private_key(settings.apple_private_key_path)
    )


class DeveloperToken:
    """A cached developer token, re-signed when it nears expiry or when Apple answers 401."""

    def __init__(
        self,
        key: SigningKey,
        *,
        lifetime: int = LIFETIME_SECONDS,
        renew_when_left: int = RENEW_WHEN_LEFT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"developer token lifetime must be 1..{MAX_LIFETIME_SECONDS} seconds")
        if not 0 <= renew_when_left < lifetime:
            raise ValueError("renew_when_left must be shorter than the lifetime")
        self.key = key
        self.lifetime = lifetime
        self.renew_when_left = renew_when_left
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.signed = 0  # how many tokens this instance has signed (tests and metadata)

    def __repr__(self) -> str:
        return f"DeveloperToken({self.key!r}, expires_at={self._expires_at:.0f})"

    @property
    def expires_at(self) -> float:
        return self._expires_at

    def get(self) -> str:
        """The current token, re-signed first if fewer than `renew_when_left` seconds remain."""
        with self._lock:
            if self._token is None or self._expires_at - self._clock() < self.renew_when_left:
                self._sign()
            assert self._token is not None
            return self._token

    def renew(self, rejected: str | None = None) -> str:
        """Sign a fresh token, unless another caller already replaced `rejected`."""
        with self._lock:
            if rejected is None or self._token == rejected:
                self._sign()
            assert self._token is not None
            return self._token

    def _sign(self) -> None:
        now = int(self._clock())
        self._token = jwt.encode(
            {"iss": self.key.team_id, "iat": now, "exp": now + self.lifetime},
            self.key.private_key,
            algorithm="ES256",
            headers={"kid": self.key.key_id},
        )
        self._expires_at = float(now + self.lifetime)
        self.signed += 1


_shared: dict[tuple[str, str, str], DeveloperToken] = {}
_shared_lock = threading.Lock()


def developer_token(settings: Settings) -> DeveloperToken:
    """The process-wide token for these settings (the key file is read once per process)."""
    if settings.apple_private_key_path is None or not settings.apple_team_id or not settings.apple_key_id:
        signing_key_from_settings(settings)  # raises the SettingsError naming the variable
    path = settings.apple_private_key_path
    try:
        changed = path.stat().st_mtime_ns  # a replaced key file is read again
    except OSError:
        changed = -1
    cache_key = (str(settings.apple_team_id), str(settings.apple_key_id), f"{path}@{changed}")
    with _shared_lock:
        token = _shared.get(cache_key)
        if token is None:
            token = _shared[cache_key] = DeveloperToken(signing_key_from_settings(settings))
        return token
