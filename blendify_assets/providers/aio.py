"""Async helpers every provider shares (Spotify's paging has the same `gather_all`; it can import this)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


async def gather_all(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Like asyncio.gather, but the first failure cancels the siblings (no orphaned requests)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def gather_pair(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """`gather_all` for two awaitables of different types, their types kept."""
    results: list[Any] = await gather_all([first, second])
    return results[0], results[1]
