"""What every provider shares: tokens, errors, and the shape of one endpoint fetch.

Providers turn API responses into rows for the provider-agnostic tables. They know nothing of
Dagster or SQL: the ingest engine hands them a `SyncState` (what the warehouse already holds)
and a `TokenSource` (where tokens live), and gets back an `EndpointFetch`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

Row = dict[str, Any]
"""One row for a music table: its columns except id, user_id, provider and fetched_at."""


@dataclass(frozen=True)
class Tokens:
    """A connection's decrypted tokens. repr() never shows them."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None  # timezone-aware UTC; None = unknown
    scope: str | None = None

    def __repr__(self) -> str:
        return f"Tokens(access_token=<hidden>, refresh_token=<hidden>, expires_at={self.expires_at!r})"

    __str__ = __repr__


class TokenSource(Protocol):
    """Where one connection's tokens live (the database in production, memory in tests)."""

    def current(self) -> Tokens:
        """The tokens as stored now."""
        ...

    def refresh(self, exchange: Callable[[Tokens], Awaitable[Tokens]], stale: Tokens) -> Awaitable[Tokens]:
        """Refresh once per connection, even when several callers ask at the same time.

        Implementations re-read the stored tokens and, if another caller has already replaced
        `stale.access_token`, return the stored ones without calling `exchange`. Otherwise they
        call `exchange(current)` and persist the result (keeping the old refresh token when the
        provider returned none) only if the store still holds `current`: when someone else wrote
        meanwhile (a re-authorisation), theirs stands and is returned.
        """
        ...

    def mark_needs_reauth(self, reason: str, tokens: Tokens) -> bool:
        """Flag the connection so that nothing retries it until the user re-authorises, but only
        if it still holds `tokens` (the grant that failed): a newer grant is never flagged.
        Returns whether it was flagged."""
        ...


# --- errors -------------------------------------------------------------------------------------
# Messages are shown to operators: they name the provider, endpoint and cause, never a token.


class ProviderError(Exception):
    """A provider call failed; `retryable` says whether trying again later may help."""

    retryable = True


class NeedsReauth(ProviderError):
    """The user must authorise again (Spotify invalid_grant, Apple Music-User-Token 403)."""

    retryable = False


class QuotaExceeded(ProviderError):
    """The developer account's quota is spent (Spotify 429 reason QUOTA_EXCEEDED): stop, don't wait."""

    retryable = False


class RateLimited(ProviderError):
    """Still rate limited after the bounded waits; `retry_after` is the provider's last hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """5xx, timeouts or unparseable bodies that outlasted the retries."""


class UnreadableResponse(ProviderError):
    """Every item of a non-empty list failed to parse: the provider answers in a shape Blendify
    does not read. Storing the empty result would erase the current state and report success."""

    retryable = False


class Forbidden(ProviderError):
    """403 on one resource (e.g. a playlist the user neither owns nor collaborates on)."""

    retryable = False


# --- what a fetch returns --------------------------------------------------------------------------


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
    baseline_log_id: int | None = None  # the sync log row notes["state"] was diffed against, if any


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
    previous: dict[str, Any] = field(default_factory=dict)  # provider-specific memory (Apple poll diff)
    previous_log_id: int | None = None  # the sync log row `previous` came from


@dataclass(frozen=True)
class EndpointSpec:
    """One provider endpoint: the table it fills and the coroutine that fetches it for one user."""

    name: str
    table: str
    fetch: Callable[[Any, SyncState], Awaitable[EndpointFetch]]
    after: str | None = None  # an endpoint whose fresh output this one reads (same step, runs first)
    description: str = ""  # shown on the asset in the Dagster UI
