"""Test FM: a third provider declared in one module, the way a new provider package would be
(settings, HTTP profile, session, one endpoint, the declaration). Nothing else in Blendify names it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.fetch import EndpointFetch, FetchStats, Row, ScopeSnapshot, SyncState
from blendify_assets.core.settings import EnvField, http_url
from blendify_assets.core.tokens import TokenSource
from blendify_assets.providers.checks import TOTALS, UNIQUE
from blendify_assets.providers.http import HttpClient, ProviderProfile, ProviderSession
from blendify_assets.providers.rows import parse_items, req_str
from blendify_assets.providers.spec import Endpoint, ProviderSpec


@dataclass(frozen=True)
class TestFmSettings:
    ENV: ClassVar[tuple[EnvField, ...]] = (EnvField("api_url", "TESTFM_API_URL"),)

    api_url: str | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> Self:
        return cls(http_url(cls.ENV, values, "api_url") if values.get("api_url") else None)

    def check(self) -> None:
        if not self.api_url:
            raise SettingsError("TESTFM_API_URL must be set to sync Test FM")

    def has_credentials(self) -> bool:
        return bool(self.api_url)


class TestFmProfile(ProviderProfile):
    name = "testfm"


class TestFmClient(ProviderSession):
    """One user's session: a bearer token, no refresh (a 401 means the user must connect again)."""

    def __init__(self, tokens: TokenSource, api_url: str, http: HttpClient) -> None:
        self.http, self._owns_http = http, False
        self.api_url, self._tokens = api_url, tokens

    async def headers(self, stats: FetchStats) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._tokens.current().access_token}"}

    async def on_unauthorized(self, sent: Mapping[str, str], stats: FetchStats) -> None:
        return None  # nothing to refresh: the resend fails and says so

    async def get(self, path: str, stats: FetchStats) -> Any:
        return await self.http.request_json("GET", self.api_url + path, stats=stats, auth=self)


@asynccontextmanager
async def open_session(
    settings: TestFmSettings, http: HttpClient, tokens: TokenSource
) -> AsyncIterator[TestFmClient]:
    settings.check()
    assert settings.api_url is not None
    yield TestFmClient(tokens, settings.api_url, http)


def _loved_row(item: Any) -> Row:
    return {
        "track_id": req_str(item, "id"),
        "track_name": req_str(item, "title"),
        "artist_name": req_str(item, "artist"),
        "album_name": None,
        "album_art_url": None,
        "duration_ms": item.get("duration_ms"),
        "saved_at": None,
        "popularity": None,
        "isrc": item.get("isrc"),
        "track_metadata": item,
    }


async def fetch_loved(client: TestFmClient, state: SyncState) -> EndpointFetch:
    """Every loved track, one page."""
    fetch = EndpointFetch(endpoint="loved_tracks", table="user_saved_tracks")
    body = await client.get("/me/loved", fetch.stats)
    fetch.stats.pages += 1
    rows = parse_items(body["items"], lambda item, i: _loved_row(item), fetch.stats)
    fetch.scopes = [ScopeSnapshot(scope="", rows=rows, expected_count=body["total"])]
    return fetch


TESTFM: ProviderSpec[TestFmSettings] = ProviderSpec(
    name="testfm",
    group="testfm",
    label="Test FM",
    endpoints=(
        Endpoint(
            "loved_tracks",
            "user_saved_tracks",
            "user",
            fetch_loved,
            "Tracks the user loved on Test FM.",
            checks=(UNIQUE, TOTALS),
        ),
    ),
    settings=TestFmSettings,
    http=lambda settings: HttpClient(TestFmProfile(), concurrency=4),
    session=open_session,
    pool_limit=2,
)
