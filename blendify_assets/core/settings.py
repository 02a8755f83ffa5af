"""The one place that reads Blendify's environment (see DESIGN.md, Configuration).

Every setting is an `EnvField` in a settings type's `ENV` table: the warehouse's here, each
provider's in its own package (`providers/<name>/settings.py`). The command line reads them with
`load_settings`; Dagster's resources (`assets/resources.py`) carry the same fields, as `EnvVar`s,
and build the same types with the same `from_values`. Either way a missing or malformed value fails
with one line that names the variable, and secrets never appear in a repr.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from blendify_assets.core.errors import SettingsError


@dataclass(frozen=True)
class EnvField:
    """One setting: the attribute it fills, the variable it comes from, its default, and whether it
    is a secret (never a literal in Dagster config, never shown)."""

    field: str
    env: str
    default: str | None = None
    secret: bool = False


def read_env(fields: tuple[EnvField, ...], env: Mapping[str, str]) -> dict[str, str]:
    """The values of the variables that are set (and not blank), by field name."""
    return {f.field: env[f.env].strip() for f in fields if env.get(f.env, "").strip()}


class ProviderSettings(Protocol):
    """What every provider's settings type offers (see `providers/spec.py`)."""

    ENV: ClassVar[tuple[EnvField, ...]]

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Self:
        """Build and validate; SettingsError names the variable."""
        ...

    def check(self) -> None:
        """SettingsError naming the first variable a sync needs and lacks."""
        ...

    def has_credentials(self) -> bool:
        """Whether any of the provider's credentials is set at all."""
        ...


def env_name(fields: tuple[EnvField, ...], name: str) -> str:
    return next(f.env for f in fields if f.field == name)


def value(fields: tuple[EnvField, ...], values: Mapping[str, str], name: str) -> str | None:
    """A field's value (stripped), else its default; None when neither."""
    given = (values.get(name) or "").strip()
    return given or next(f.default for f in fields if f.field == name)


def http_url(fields: tuple[EnvField, ...], values: Mapping[str, str], name: str) -> str:
    """A base URL, checked: http(s) with a host; SettingsError naming the variable otherwise."""
    url = value(fields, values, name) or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{env_name(fields, name)} must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def _database_url(variable: str, url: str | None) -> str | None:
    if not url:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif scheme != "postgresql+psycopg":
        raise SettingsError(
            f"{variable} must be a postgresql:// or postgresql+psycopg:// URL (got a {scheme or 'malformed'} URL)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check (not a number, or out of range)
    except ValueError as exc:  # the message never repeats the URL: it may hold a password
        raise SettingsError(f"{variable} is malformed ({exc})") from None
    if not parts.netloc and "host=" not in url:
        raise SettingsError(f"{variable} has no host")
    return url


def _keys(raw: str | None) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in (raw or "").split(",") if k.strip())
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError(
                f"BLENDIFY_ENCRYPTION_KEY: key {index} of {len(keys)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return keys


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the warehouse is, and the keys its tokens are encrypted with."""

    ENV: ClassVar[tuple[EnvField, ...]] = (
        EnvField("home", "BLENDIFY_HOME", ".blendify"),
        EnvField("database_url", "BLENDIFY_DATABASE_URL", secret=True),  # may hold a password
        EnvField("owner_database_url", "BLENDIFY_OWNER_DATABASE_URL", secret=True),
        EnvField("encryption_key", "BLENDIFY_ENCRYPTION_KEY", secret=True),
    )

    home: Path
    database_url: str | None = field(default=None, repr=False)  # None: the embedded server under home
    owner_database_url: str | None = field(default=None, repr=False)  # migrations' role; None: database_url
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)  # empty: the local key under home

    def __repr__(self) -> str:  # keys and secrets stay out of logs and tracebacks
        database = "external" if self.database_url else "embedded"
        return f"WarehouseSettings(home={str(self.home)!r}, database={database})"

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Self:
        fields = cls.ENV
        database_url = _database_url("BLENDIFY_DATABASE_URL", value(fields, values, "database_url"))
        owner = _database_url("BLENDIFY_OWNER_DATABASE_URL", value(fields, values, "owner_database_url"))
        if owner and not database_url:
            raise SettingsError(
                "BLENDIFY_OWNER_DATABASE_URL is set but BLENDIFY_DATABASE_URL is not "
                "(the embedded server needs neither; an external one needs the app URL too)"
            )
        return cls(
            home=Path(value(fields, values, "home") or ".blendify").expanduser().resolve(),
            database_url=database_url,
            owner_database_url=owner,
            encryption_keys=_keys(value(fields, values, "encryption_key")),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        return cls.from_values(read_env(cls.ENV, os.environ if env is None else env))

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
        """The web app's generated session secret when BLENDIFY_SESSION_SECRET is not set (local only)."""
        return self.home / "session.key"

    @property
    def simulator_env_file(self) -> Path:
        """Provider settings pointing at the simulator `blendify dev --demo` runs (while it runs)."""
        return self.home / "simulator" / "simulator.env"


MIN_SESSION_SECRET = 32


@dataclass(frozen=True)
class WebSettings:
    """The listeners' web app (`blendify web`): its public address and the secret that signs its
    session cookies. Without a secret, `web/config.py` uses a generated one under BLENDIFY_HOME, on
    a loopback address only."""

    ENV: ClassVar[tuple[EnvField, ...]] = (
        EnvField("url", "BLENDIFY_WEB_URL"),  # the public base URL (hosted OAuth callback, Secure cookies)
        EnvField("session_secret", "BLENDIFY_SESSION_SECRET", secret=True),
    )

    url: str | None = None
    session_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Self:
        secret = value(cls.ENV, values, "session_secret")
        if secret and len(secret) < MIN_SESSION_SECRET:
            raise SettingsError(
                f"BLENDIFY_SESSION_SECRET must be at least {MIN_SESSION_SECRET} characters "
                '(make one with `python -c "import secrets; print(secrets.token_urlsafe(48))"`)'
            )
        return cls(
            url=http_url(cls.ENV, values, "url") if value(cls.ENV, values, "url") else None,
            session_secret=secret,
        )


@dataclass(frozen=True)
class Settings:
    """Everything a command reads from the environment: the warehouse, every provider's settings,
    and the web app's."""

    warehouse: WarehouseSettings
    providers: Mapping[str, Any] = field(default_factory=dict)  # provider name -> its settings
    web: WebSettings = field(default_factory=WebSettings)

    def __repr__(self) -> str:
        return f"Settings({self.warehouse!r}, providers={sorted(self.providers)})"

    def provider(self, name: str) -> Any:
        return self.providers[name]


def load_settings(
    env: Mapping[str, str] | None = None, providers: Mapping[str, type[ProviderSettings]] | None = None
) -> Settings:
    """Read and validate the environment, the warehouse's and each provider's settings; a bad value
    raises SettingsError naming the variable (at start, so no command fails half-way)."""
    env = os.environ if env is None else env
    return Settings(
        warehouse=WarehouseSettings.from_env(env),
        providers={
            name: kind.from_values(read_env(kind.ENV, env)) for name, kind in (providers or {}).items()
        },
        web=WebSettings.from_values(read_env(WebSettings.ENV, env)),
    )
