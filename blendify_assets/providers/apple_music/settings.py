"""Apple Music's settings: the MusicKit key that signs developer tokens, and the base URL (defined
here, once). Loading the key is part of checking them: a missing or unreadable key file fails at
start, naming APPLE_MUSIC_PRIVATE_KEY_PATH (never showing the key)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import EnvField, http_url, value

DEFAULT_API_URL = "https://api.music.apple.com"
DEFAULT_MUSICKIT_JS_URL = "https://js-cdn.music.apple.com/musickit/v3/musickit.js"
KEY_VARIABLE = "APPLE_MUSIC_PRIVATE_KEY_PATH"


@dataclass(frozen=True)
class SigningKey:
    """Team id, key id and the loaded private key. repr() never shows the key."""

    team_id: str
    key_id: str
    private_key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(team_id={self.team_id!r}, key_id={self.key_id!r}, private_key=<hidden>)"


def load_private_key(path: Path, variable: str = KEY_VARIABLE) -> ec.EllipticCurvePrivateKey:
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


@dataclass(frozen=True)
class AppleMusicSettings:
    ENV: ClassVar[tuple[EnvField, ...]] = (
        EnvField("team_id", "APPLE_MUSIC_TEAM_ID"),
        EnvField("key_id", "APPLE_MUSIC_KEY_ID"),
        EnvField("private_key_path", KEY_VARIABLE),  # a path; the key itself never enters config
        EnvField("api_url", "APPLE_MUSIC_API_URL", DEFAULT_API_URL),
        # MusicKit JS, which the web app's Apple Music connect page loads (the simulator serves a stand-in)
        EnvField("musickit_js_url", "APPLE_MUSICKIT_JS_URL", DEFAULT_MUSICKIT_JS_URL),
    )

    team_id: str | None = None
    key_id: str | None = None
    private_key_path: Path | None = None
    api_url: str = DEFAULT_API_URL
    musickit_js_url: str = DEFAULT_MUSICKIT_JS_URL

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Self:
        path = value(cls.ENV, values, "private_key_path")
        return cls(
            team_id=value(cls.ENV, values, "team_id"),
            key_id=value(cls.ENV, values, "key_id"),
            private_key_path=Path(path).expanduser() if path else None,
            api_url=http_url(cls.ENV, values, "api_url"),
            musickit_js_url=http_url(cls.ENV, values, "musickit_js_url"),
        )

    def signing_key(self) -> SigningKey:
        """The three APPLE_MUSIC_* settings, key loaded; SettingsError names the first one missing or wrong."""
        if not self.team_id:
            raise SettingsError(
                "APPLE_MUSIC_TEAM_ID must be set to sync Apple Music (your 10-character Team ID)"
            )
        if not self.key_id:
            raise SettingsError(
                "APPLE_MUSIC_KEY_ID must be set to sync Apple Music (the MusicKit key's 10-character id)"
            )
        if self.private_key_path is None:
            raise SettingsError(f"{KEY_VARIABLE} must be set to sync Apple Music (the MusicKit .p8 file)")
        return SigningKey(self.team_id, self.key_id, load_private_key(self.private_key_path))

    def check(self) -> None:
        self.signing_key()

    def has_credentials(self) -> bool:
        return any((self.team_id, self.key_id, self.private_key_path))
