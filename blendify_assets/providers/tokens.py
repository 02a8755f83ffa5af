"""An in-memory `TokenSource`: for tests, benchmarks and one-off scripts (the database one is elsewhere)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from blendify_assets.providers.base import Tokens


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
            if self._tokens.access_token != stale.access_token:
                return self._tokens  # someone else refreshed while we waited
            fresh = await exchange(self._tokens)
            self.refresh_calls += 1
            if not fresh.refresh_token:
                fresh = replace(fresh, refresh_token=self._tokens.refresh_token)
            self._tokens = fresh
            return fresh

    def mark_needs_reauth(self, reason: str) -> None:
        self.needs_reauth = reason
