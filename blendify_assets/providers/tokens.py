"""An in-memory `TokenSource`: for tests, benchmarks and one-off scripts (the database one is elsewhere)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from blendify_assets.core.tokens import Tokens


class InMemoryTokenSource:
    """Holds one connection's tokens; follows the `TokenSource` contract (one refresh at a time)."""

    def __init__(self, tokens: Tokens) -> None:
        self._tokens = tokens
        self._lock = asyncio.Lock()
        self.refresh_calls = 0  # exchanges actually performed
        self.needs_reauth: str | None = None

    def __repr__(self) -> str:
        return f"InMemoryTokenSource({self._tokens!r}, needs_reauth={self.needs_reauth!r})"

    def current(self) -> Tokens:
        return self._tokens

    async def refresh(self, exchange: Callable[[Tokens], Awaitable[Tokens]], stale: Tokens) -> Tokens:
        async with self._lock:
            current = self._tokens
            if current.access_token != stale.access_token:
                return current  # someone else refreshed while we waited
            fresh = await exchange(current)
            self.refresh_calls += 1
            if not fresh.refresh_token:
                fresh = replace(fresh, refresh_token=current.refresh_token)
            if self._tokens is not current:  # replaced during the exchange (a re-authorisation)
                return self._tokens
            self._tokens = fresh
            return fresh

    def replace_tokens(self, tokens: Tokens) -> None:
        """A re-authorisation: new tokens, and the connection is usable again."""
        self._tokens = tokens
        self.needs_reauth = None

    def mark_needs_reauth(self, reason: str, tokens: Tokens) -> bool:
        if (self._tokens.access_token, self._tokens.refresh_token) != (
            tokens.access_token,
            tokens.refresh_token,
        ):
            return False
        self.needs_reauth = reason
        return True
