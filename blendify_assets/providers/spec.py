"""What a provider declares about itself (no Dagster, no SQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from blendify_assets.core.fetch import EndpointFetch, SyncState


@dataclass(frozen=True)
class EndpointSpec:
    """One provider endpoint: the table it fills and the coroutine that fetches it for one user."""

    name: str
    table: str
    fetch: Callable[[Any, SyncState], Awaitable[EndpointFetch]]
    after: str | None = None  # an endpoint whose fresh output this one reads (same step, runs first)
    description: str = ""  # shown on the asset in the Dagster UI
