"""Spotify, declared once: everything Blendify derives for it (assets, checks, job, schedules, pool,
partitions, the command line's choices) comes from `PROVIDER`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from blendify_assets.core.tokens import TokenSource
from blendify_assets.providers.http import HttpClient
from blendify_assets.providers.spec import ProviderSpec
from blendify_assets.providers.spotify.auth import SpotifyApp
from blendify_assets.providers.spotify.client import SpotifyClient, spotify_http
from blendify_assets.providers.spotify.endpoints import ENDPOINTS
from blendify_assets.providers.spotify.settings import SpotifySettings

CONCURRENCY = 8  # requests in flight per step, across its users


@asynccontextmanager
async def open_session(
    settings: SpotifySettings, http: HttpClient, tokens: TokenSource
) -> AsyncIterator[SpotifyClient]:
    """One user's client on the step's shared HTTP layer."""
    app = SpotifyApp.from_settings(settings)  # SettingsError naming SPOTIFY_CLIENT_ID when missing
    async with SpotifyClient(tokens, app, api_url=settings.api_url, http=http) as client:
        yield client


PROVIDER: ProviderSpec[SpotifySettings] = ProviderSpec(
    name="spotify",
    group="spotify",
    label="Spotify",
    endpoints=ENDPOINTS,
    settings=SpotifySettings,
    http=lambda settings: spotify_http(concurrency=CONCURRENCY),
    session=open_session,
    pool_limit=4,
)
