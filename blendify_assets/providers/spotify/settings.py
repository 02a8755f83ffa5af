"""Spotify's settings: the OAuth app and the base URLs (defined here, once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Self

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import EnvField, http_url, value

DEFAULT_API_URL = "https://api.spotify.com/v1"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"


@dataclass(frozen=True)
class SpotifySettings:
    ENV: ClassVar[tuple[EnvField, ...]] = (
        EnvField("client_id", "SPOTIFY_CLIENT_ID"),
        EnvField("client_secret", "SPOTIFY_CLIENT_SECRET", secret=True),  # none: PKCE
        EnvField("redirect_uri", "SPOTIFY_REDIRECT_URI"),
        EnvField("api_url", "SPOTIFY_API_URL", DEFAULT_API_URL),
        EnvField("accounts_url", "SPOTIFY_ACCOUNTS_URL", DEFAULT_ACCOUNTS_URL),
        # Requests the daily re-syncs may spend per UTC day, polls included (ingest/budget.py); unset: no limit.
        EnvField("request_budget", "BLENDIFY_SPOTIFY_REQUEST_BUDGET"),
    )

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    api_url: str = DEFAULT_API_URL
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    request_budget: int | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Self:
        return cls(
            client_id=value(cls.ENV, values, "client_id"),
            client_secret=value(cls.ENV, values, "client_secret"),
            redirect_uri=value(cls.ENV, values, "redirect_uri"),
            api_url=http_url(cls.ENV, values, "api_url"),
            accounts_url=http_url(cls.ENV, values, "accounts_url"),
            request_budget=_budget(value(cls.ENV, values, "request_budget")),
        )

    def require_client_id(self, purpose: str = "sync Spotify") -> str:
        """Refreshing tokens needs at least the client id."""
        if not self.client_id:
            raise SettingsError(f"SPOTIFY_CLIENT_ID must be set to {purpose}")
        return self.client_id

    def check(self) -> None:
        self.require_client_id()

    def has_credentials(self) -> bool:
        return bool(self.client_id)


def _budget(text: str | None) -> int | None:
    if not text:
        return None
    try:
        budget = int(text)
    except ValueError:
        budget = 0
    if budget <= 0:
        raise SettingsError(
            f"BLENDIFY_SPOTIFY_REQUEST_BUDGET must be a positive whole number of requests, not {text!r}"
        )
    return budget
