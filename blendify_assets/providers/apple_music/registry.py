"""Apple Music as the ingest engine sees it: endpoints, the shared HTTP layer, a client per connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from blendify_assets.core.settings import Settings
from blendify_assets.core.tokens import TokenSource
from blendify_assets.ingest.registry import Provider
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import developer_token, signing_key_from_settings
from blendify_assets.providers.apple_music.endpoints import ENDPOINTS
from blendify_assets.providers.http import HttpClient

CONCURRENCY = 8


@asynccontextmanager
async def _client(settings: Settings, http: HttpClient, tokens: TokenSource) -> AsyncIterator[AppleClient]:
    developer = developer_token(settings)  # SettingsError naming the variable when one is missing
    async with AppleClient(tokens, developer, api_url=settings.apple_music_api_url, http=http) as session:
        yield session


def provider() -> Provider:
    """Apple Music: warehouse name 'apple', Dagster group and key prefix 'apple_music'."""
    return Provider(
        name="apple",
        group="apple_music",
        endpoints=ENDPOINTS,
        open_http=lambda settings: apple_http(concurrency=CONCURRENCY),
        client=_client,
        check_settings=signing_key_from_settings,
        has_credentials=lambda s: any((s.apple_team_id, s.apple_key_id, s.apple_private_key_path)),
    )
