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

import jwt

from blendify_assets.providers.apple_music.settings import AppleMusicSettings, SigningKey

LIFETIME_SECONDS = 150 * 24 * 3600
RENEW_WHEN_LEFT_SECONDS = 30 * 24 * 3600
MAX_LIFETIME_SECONDS = 180 * 24 * 3600  # Apple's ceiling (with a margin below its 15,777,000 s)


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


def developer_token(settings: AppleMusicSettings) -> DeveloperToken:
    """The process-wide token for these settings (the key file is read once per process, and again
    when it is replaced); SettingsError naming the variable when one is missing or wrong."""
    path = settings.private_key_path
    if path is None or not settings.team_id or not settings.key_id:
        settings.signing_key()  # raises the SettingsError naming the variable
    assert path is not None
    try:
        changed = path.stat().st_mtime_ns  # a replaced key file is read again
    except OSError:
        changed = -1
    cache_key = (str(settings.team_id), str(settings.key_id), f"{path}@{changed}")
    with _shared_lock:
        token = _shared.get(cache_key)
        if token is None:
            token = _shared[cache_key] = DeveloperToken(settings.signing_key())
        return token
