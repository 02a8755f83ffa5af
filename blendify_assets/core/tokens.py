"""A connection's tokens and where they live: the contract between providers (which use and refresh
them) and the warehouse (which stores them encrypted)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


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
        """The tokens as this source last read or wrote them (a database source reads its row once
        per sync step; `refresh` reads it again)."""
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
