"""The providers Blendify syncs: their endpoints, and how to open a client for one connection."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import Settings
from blendify_assets.core.tokens import TokenSource
from blendify_assets.providers.http import HttpClient
from blendify_assets.providers.spec import EndpointSpec


@dataclass(frozen=True)
class Provider:
    name: str  # the `provider` enum value in the warehouse
    group: str  # Dagster group and asset key prefix
    endpoints: Mapping[str, EndpointSpec]
    open_http: Callable[[Settings], HttpClient]  # one per run: the provider-wide concurrency bound
    client: Callable[[Settings, HttpClient, TokenSource], AbstractAsyncContextManager[Any]]
    # Raises SettingsError naming the variable, so a command can stop before any run starts.
    check_settings: Callable[[Settings], object]
    has_credentials: Callable[[Settings], bool]  # any of the provider's credentials set at all


def spotify_app(settings: Settings, purpose: str = "sync Spotify"):  # -> SpotifyApp
    """The OAuth client from the environment; refreshing tokens needs at least the client id."""
    from blendify_assets.providers.spotify.auth import SpotifyApp

    if not settings.spotify_client_id:
        raise SettingsError(f"SPOTIFY_CLIENT_ID must be set to {purpose}")
    return SpotifyApp(
        client_id=settings.spotify_client_id,
        client_secret=settings.spotify_client_secret,
        redirect_uri=settings.spotify_redirect_uri,
        accounts_url=settings.spotify_accounts_url,
    )


def _spotify() -> Provider:
    from blendify_assets.providers.spotify import endpoints
    from blendify_assets.providers.spotify.client import SpotifyClient, spotify_http

    @asynccontextmanager
    async def client(
        settings: Settings, http: HttpClient, tokens: TokenSource
    ) -> AsyncIterator[SpotifyClient]:
        app = spotify_app(settings)
        async with SpotifyClient(tokens, app, api_url=settings.spotify_api_url, http=http) as session:
            yield session

    return Provider(
        name="spotify",
        group="spotify",
        endpoints=endpoints.ENDPOINTS,
        open_http=lambda settings: spotify_http(concurrency=8),
        client=client,
        check_settings=spotify_app,
        has_credentials=lambda settings: bool(settings.spotify_client_id),
    )


@functools.cache
def providers() -> dict[str, Provider]:
    """Every provider by warehouse name ('spotify', 'apple'), built once per process."""
    from blendify_assets.providers.apple_music.registry import provider as apple

    return {"spotify": _spotify(), "apple": apple()}


def provider(name: str) -> Provider:
    try:
        return providers()[name]
    except KeyError:
        raise SettingsError(f"unknown provider {name!r}: choose one of {', '.join(providers())}") from None
