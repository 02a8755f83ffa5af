"""What a provider declares about itself, once, in `providers/<name>/provider.py` (no Dagster, no SQL).

Everything else is derived from a `ProviderSpec`: Dagster's partitions, assets, checks, freshness,
job, schedules, pool and sensor (`orchestration/factory.py`), the command line's choices, the demo.

Two names, on purpose: `name` is the identity of the data (the `provider` enum value in the
warehouse, `--provider`, the sync log); `group` is the identity of the code (Dagster group and
asset-key prefix, resource key, job, partitions, pool, schedule names). Apple is `apple` and
`apple_music`. Every Dagster name is spelled by the properties below and nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import EndpointFetch, SyncState
from blendify_assets.core.tokens import TokenSource
from blendify_assets.providers.http import HttpClient

Scope = Literal["user", "time_range", "playlist", "events"]
"""What one stored snapshot covers: the whole list, one time range, one playlist; or an event log
(recently played), appended and deduplicated instead of snapshotted."""

S = TypeVar("S")


@dataclass(frozen=True)
class Check:
    """A data-quality check on one fetch, reported as a Dagster asset check."""

    name: str
    description: str
    run: Callable[[EndpointFetch], str | None]  # None: passed; otherwise what is wrong


@dataclass(frozen=True)
class Cadence:
    """How often an endpoint is refreshed: its schedule and its freshness policy read the same one,
    so a policy can never promise more than the schedule delivers."""

    cron: str
    every: timedelta


DAILY = Cadence("15 3 * * *", timedelta(days=1))  # never on a recently-played tick (:07, :22, :37, :52)


@dataclass(frozen=True)
class Endpoint:
    """One provider endpoint: one asset, one table, and the coroutine that fetches it for a user."""

    name: str  # asset key tail, sync_log.endpoint
    table: str  # a db.music.tables.TABLES key
    scope: Scope
    fetch: Callable[[Any, SyncState], Awaitable[EndpointFetch]]
    description: str  # shown on the asset in the Dagster UI
    checks: tuple[Check, ...] = ()
    cadence: Cadence = DAILY  # its schedule and its freshness
    after: str | None = None  # an endpoint whose fresh output this one reads (same step, runs first)
    adaptive: bool = (
        False  # polled per user when due (core/polling.py, its fetch sets `poll`), not all at once
    )


@dataclass(frozen=True)
class ProviderSpec(Generic[S]):
    """A provider, declared once."""

    name: str  # the `provider` enum value: "spotify", "apple"
    group: str  # Dagster group, asset-key prefix, resource key: "spotify", "apple_music"
    label: str  # for people: "Spotify", "Apple Music"
    endpoints: tuple[Endpoint, ...]
    settings: type[S]  # a frozen dataclass with ENV, from_values, check, has_credentials (core.settings)
    http: Callable[[S], HttpClient]  # one per step and endpoint: the provider-wide request bound
    session: Callable[[S, HttpClient, TokenSource], AbstractAsyncContextManager[Any]]  # one user's client
    pool_limit: int = 4  # steps of this provider running at once, across runs

    @property
    def pool(self) -> str:
        return f"{self.group}_api"

    @property
    def partitions_name(self) -> str:
        return f"{self.group}_users"

    @property
    def job_name(self) -> str:
        return f"{self.group}_sync"

    def asset_key_path(self, endpoint: str) -> tuple[str, str]:
        return (self.group, endpoint)

    @property
    def endpoint_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.endpoints)

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name`; a BlendifyError naming the choices otherwise."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise BlendifyError(
            f"unknown {self.name} endpoint {name!r}: choose one of {', '.join(self.endpoint_names)}"
        )

    def steps(self) -> list[list[Endpoint]]:
        """Endpoints grouped into steps: one that reads another's fresh output (`after`: playlist
        tracks read the playlists just stored) shares its step, so one op runs them in order."""
        steps: dict[str, list[Endpoint]] = {}
        for endpoint in self.endpoints:
            steps.setdefault(endpoint.after or endpoint.name, []).append(endpoint)
        return list(steps.values())
