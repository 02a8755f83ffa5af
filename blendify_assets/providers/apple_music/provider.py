"""Apple Music, declared once: warehouse name `apple`, Dagster group `apple_music`. Everything
Blendify derives for it comes from `PROVIDER`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from blendify_assets.core.tokens import TokenSource
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import developer_token
from blendify_assets.providers.apple_music.endpoints import ENDPOINTS
from blendify_assets.providers.apple_music.settings import AppleMusicSettings
from blendify_assets.providers.http import HttpClient
from blendify_assets.providers.spec import ProviderSpec

CONCURRENCY = 8  # requests in flight per step, across its users


@asynccontextmanager
async def open_session(
    settings: AppleMusicSettings, http: HttpClient, tokens: TokenSource
) -> AsyncIterator[AppleClient]:
    """One user's client: the shared developer token and the user's Music-User-Token."""
    developer = developer_token(settings)  # SettingsError naming the variable when one is missing
    async with AppleClient(tokens, developer, api_url=settings.api_url, http=http) as client:
        yield client


PROVIDER: ProviderSpec[AppleMusicSettings] = ProviderSpec(
    name="apple",
    group="apple_music",
    label="Apple Music",
    endpoints=ENDPOINTS,
    settings=AppleMusicSettings,
    http=lambda settings: apple_http(concurrency=CONCURRENCY),
    session=open_session,
    pool_limit=4,
)
