"""The one place that reads Blendify's environment (see DESIGN.md, Configuration)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import SettingsError

DEFAULT_SPOTIFY_API_URL = "https://api.spotify.com/v1"
DEFAULT_SPOTIFY_ACCOUNTS_URL = "https://accounts.spotify.com"
DEFAULT_APPLE_MUSIC_API_URL = "https://api.music.apple.com"
DEFAULT_MUSICKIT_JS_URL = "https://js-cdn.music.apple.com/musickit/v3/musickit.js"
MIN_SESSION_SECRET = 32


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None  # None: use the embedded server under home/postgres
    owner_database_url: str | None  # the role that owns the tables (migrations); None: database_url
    encryption_keys: tuple[str, ...]  # empty: use the generated local key under home
    spotify_client_id: str | None
    spotify_client_secret: str | None
    spotify_redirect_uri: str | None
    spotify_api_url: str
    spotify_accounts_url: str
    apple_team_id: str | None
    apple_key_id: str | None
    apple_private_key_path: Path | None
    apple_music_api_url: str
    apple_musickit_js_url: str = DEFAULT_MUSICKIT_JS_URL  # the web app's Apple Music connect page
    web_url: str | None = None  # the web app's public base URL (hosted OAuth callback, Secure cookies)
    session_secret: str | None = None  # signs the web app's session cookies; None: a local one

    def __repr__(self) -> str:  # keys and secrets stay out of logs and tracebacks
        return (
            f"Settings(home={str(self.home)!r}, database={'external' if self.database_url else 'embedded'})"
        )

    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def local_key_file(self) -> Path:
        return self.home / "encryption.key"

    @property
    def local_session_secret_file(self) -> Path:
        return self.home / "session.key"

    @property
    def simulator_env_file(self) -> Path:
        """Provider settings pointing at the simulator `blendify dev --demo` runs (while it runs)."""
        return self.home / "simulator" / "simulator.env"


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _database_url(env: Mapping[str, str], name: str = "BLENDIFY_DATABASE_URL") -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme in ("postgresql", "postgres"):
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    elif scheme != "postgresql+psycopg":
        raise SettingsError(
            f"{name} must be a postgresql:// or postgresql+psycopg:// URL (got a {scheme or 'malformed'} URL)"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check (not a number, or out of range)
    except ValueError as exc:  # the message never repeats the URL: it may hold a password
        raise SettingsError(f"{name} is malformed ({exc})") from None
    if not parts.netloc and "host=" not in value:
        raise SettingsError(f"{name} has no host")
    return value


def _owner_database_url(env: Mapping[str, str], database_url: str | None) -> str | None:
    owner = _database_url(env, "BLENDIFY_OWNER_DATABASE_URL")
    if owner and not database_url:
        raise SettingsError(
            "BLENDIFY_OWNER_DATABASE_URL is set but BLENDIFY_DATABASE_URL is not "
            "(the embedded server needs neither; an external one needs the app URL too)"
        )
    return owner


def _keys(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("BLENDIFY_ENCRYPTION_KEY", "").strip()
    if not raw:
        return ()
    from cryptography.fernet import Fernet

    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError(
                f"BLENDIFY_ENCRYPTION_KEY: key {index} of {len(keys)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def _session_secret(env: Mapping[str, str]) -> str | None:
    value = env.get("BLENDIFY_SESSION_SECRET", "").strip()
    if value and len(value) < MIN_SESSION_SECRET:
        raise SettingsError(
            f"BLENDIFY_SESSION_SECRET must be at least {MIN_SESSION_SECRET} characters "
            '(make one with `python -c "import secrets; print(secrets.token_urlsafe(48))"`)'
        )
    return value or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the environment; a bad value raises SettingsError naming the variable."""
    env = os.environ if env is None else env
    home = Path(env.get("BLENDIFY_HOME", "").strip() or ".blendify").expanduser().resolve()
    key_path = env.get("APPLE_MUSIC_PRIVATE_KEY_PATH", "").strip()
    database_url = _database_url(env)
    return Settings(
        home=home,
        database_url=database_url,
        owner_database_url=_owner_database_url(env, database_url),
        encryption_keys=_keys(env),
        spotify_client_id=env.get("SPOTIFY_CLIENT_ID", "").strip() or None,
        spotify_client_secret=env.get("SPOTIFY_CLIENT_SECRET", "").strip() or None,
        spotify_redirect_uri=env.get("SPOTIFY_REDIRECT_URI", "").strip() or None,
        spotify_api_url=_url(env, "SPOTIFY_API_URL", DEFAULT_SPOTIFY_API_URL),
        spotify_accounts_url=_url(env, "SPOTIFY_ACCOUNTS_URL", DEFAULT_SPOTIFY_ACCOUNTS_URL),
        apple_team_id=env.get("APPLE_MUSIC_TEAM_ID", "").strip() or None,
        apple_key_id=env.get("APPLE_MUSIC_KEY_ID", "").strip() or None,
        apple_private_key_path=Path(key_path).expanduser() if key_path else None,
        apple_music_api_url=_url(env, "APPLE_MUSIC_API_URL", DEFAULT_APPLE_MUSIC_API_URL),
        apple_musickit_js_url=_url(env, "APPLE_MUSICKIT_JS_URL", DEFAULT_MUSICKIT_JS_URL),
        web_url=_url(env, "BLENDIFY_WEB_URL", "") if env.get("BLENDIFY_WEB_URL", "").strip() else None,
        session_secret=_session_secret(env),
    )
