"""The shape of one endpoint fetch: the contract between providers and the warehouse.

Providers turn API responses into rows for the provider-agnostic tables. They know nothing of
Dagster or SQL: the ingest engine hands them a `SyncState` (what the warehouse already holds)
and a `TokenSource` (where tokens live, `core.tokens`), and gets back an `EndpointFetch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blendify_assets.core.polling import PollObservation

Row = dict[str, Any]
"""One row for a music table: its columns except id, user_id, provider and fetched_at."""


@dataclass
class FetchStats:
    """Counters reported as Dagster metadata and in the sync log."""

    requests: int = 0
    pages: int = 0
    items: int = 0
    skipped_malformed: int = 0  # items that failed to parse: skipped and counted, never the snapshot
    skipped_null: int = 0  # null entries (e.g. unavailable playlist tracks)
    skipped_forbidden: int = 0  # resources the API refused (403), e.g. followed playlists
    repaired_items: int = 0  # items with undecodable text (a lone surrogate): kept, U+FFFD in its place
    skipped_duplicate: int = 0  # items listed twice in one list: the first is kept (ingest/checks.py)
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    retries: int = 0
    token_refreshes: int = 0

    def add(self, other: FetchStats) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class ScopeSnapshot:
    """The complete current contents of one scope (a time range, a playlist, or the whole list)."""

    scope: str  # '' for whole-user lists; 'short_term' etc. for top lists; playlist_id for tracks
    rows: list[Row]
    version: str | None = None  # provider's version marker: playlist snapshot_id, saved-list fingerprint
    expected_count: int | None = None  # what the provider said the scope holds (its `total`)


@dataclass
class EndpointFetch:
    """Everything one (provider, endpoint, user) check produced."""

    endpoint: str  # e.g. 'top_tracks'
    table: str  # e.g. 'user_top_tracks'
    scopes: list[ScopeSnapshot] = field(default_factory=list)  # scopes read in full
    unchanged_scopes: list[str] = field(default_factory=list)  # scopes not re-read: version unchanged
    events: list[Row] | None = None  # event tables (recently played): rows to append, deduplicated
    provider_user_id: str | None = None  # learned from /me (Spotify account_id) when this fetch called it
    stats: FetchStats = field(default_factory=FetchStats)
    notes: dict[str, Any] = field(default_factory=dict)  # extra facts for metadata (never secrets)
    next_state: dict[str, Any] | None = None  # what the next check of this endpoint gets as poll_state
    baseline_log_id: int | None = None  # the check whose poll_state this one started from, if any
    poll: PollObservation | None = None  # what an adaptively polled endpoint saw (plans its next poll)


@dataclass
class PlaylistRef:
    """A playlist as the latest stored playlists snapshot knows it."""

    playlist_id: str
    version: str | None  # snapshot_id (Spotify) or versionHash marker (Apple)
    is_owner: bool
    collaborative: bool = False  # with is_owner, decides whether Spotify lets us read the contents
    total: int | None = None


@dataclass
class SyncState:
    """What the warehouse already holds for one (provider, endpoint, user): the incremental inputs."""

    scope_versions: dict[str, str] = field(default_factory=dict)  # scope -> version of latest snapshot
    last_played_at: datetime | None = None  # newest stored play (recently played)
    playlists: list[PlaylistRef] = field(default_factory=list)  # for playlist tracks
    provider_user_id: str | None = None
    poll_state: Mapping[str, Any] = field(default_factory=dict)  # the last check's `next_state`
    poll_state_log_id: int | None = None  # the sync log row of the check that left `poll_state`
