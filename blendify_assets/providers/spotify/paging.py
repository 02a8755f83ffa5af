"""Reading Spotify's paging objects in as few round trips as possible.

Offset paging: the first page tells the total, so every remaining page is requested at once (the
HTTP layer's semaphore keeps it within the provider's bound). Cursor paging (followed artists) is
sequential by nature. Both are capped by `total`, so a `next` link on an empty page (a known
Spotify anomaly) can never loop forever.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.aio import gather_all
from blendify_assets.providers.http import Params
from blendify_assets.providers.spotify.parse import page_items

T = TypeVar("T")
PAGE_LIMIT = 50
MAX_PAGES = 2_000  # 100,000 items: Spotify's own offset ceiling for /me/playlists


class Getter(Protocol):
    def get(self, path: str, stats: FetchStats, params: Params | None = None) -> Awaitable[Any]: ...


def remaining_offsets(
    total: int, first_count: int, *, limit: int = PAGE_LIMIT, max_items: int | None = None
) -> list[int]:
    """Offsets still to read after the first page. A short first page means there is nothing more,
    whatever `total` claims."""
    if first_count < limit:
        return []
    cap = total if max_items is None else min(total, max_items)
    return list(range(limit, cap, limit))[:MAX_PAGES]


def _total(page: Any) -> int | None:
    total = page.get("total") if isinstance(page, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


async def offset_pages(
    client: Getter,
    path: str,
    stats: FetchStats,
    params: Params | None = None,
    *,
    first: Any = None,
    max_items: int | None = None,
    limit: int = PAGE_LIMIT,
) -> list[tuple[int, Any]]:
    """All pages of an offset-paged list as (offset, page), in order.

    Pass `first` when the first page was already read (e.g. to fingerprint it).
    """
    base = dict(params or {})
    if first is None:
        first = await client.get(path, stats, {**base, "limit": limit, "offset": 0})
    stats.pages += 1
    pages: list[tuple[int, Any]] = [(0, first)]
    total = _total(first)
    first_count = len(page_items(first))
    if total is not None:

        async def read(offset: int) -> tuple[int, Any]:
            page = await client.get(path, stats, {**base, "limit": limit, "offset": offset})
            stats.pages += 1
            return offset, page

        offsets = remaining_offsets(total, first_count, limit=limit, max_items=max_items)
        pages.extend(await gather_all(read(o) for o in offsets))
        return pages
    # No total (seen on Spotify-generated playlists): follow `next`, stop on an empty page.
    page, offset = first, 0
    while isinstance(page, dict) and page.get("next") and page_items(page) and len(pages) < MAX_PAGES:
        offset += len(page_items(page))
        if max_items is not None and offset >= max_items:
            break
        page = await client.get(page["next"], stats)
        stats.pages += 1
        pages.append((offset, page))
    return pages


async def cursor_pages(
    client: Getter,
    path: str,
    stats: FetchStats,
    params: Params | None = None,
    *,
    unwrap: Callable[[Any], Any] = lambda body: body,
    limit: int = PAGE_LIMIT,
) -> list[Any]:
    """All pages of a cursor-paged list (`cursors.after`), capped by `total` and by progress."""
    base = dict(params or {})
    pages: list[Any] = []
    after: str | None = None
    seen = 0
    while len(pages) < MAX_PAGES:
        query = {**base, "limit": limit, **({"after": after} if after else {})}
        page = unwrap(await client.get(path, stats, query))
        stats.pages += 1
        pages.append(page)
        items = page_items(page)
        seen += len(items)
        total = _total(page)
        cursors = page.get("cursors") if isinstance(page, dict) else None
        next_after = cursors.get("after") if isinstance(cursors, dict) else None
        if (
            not items
            or not page.get("next")
            or not isinstance(next_after, str)
            or next_after == after
            or (total is not None and seen >= total)
        ):
            break
        after = next_after
    return pages


def fingerprint(total: int | None, first_items: list[Any], key: Callable[[Any], Any]) -> str:
    """A version marker for a newest-first list: its total plus the identity of its first page.

    `key` picks stable fields (ids, added_at), never image URLs, which expire and would make every
    check look like a change.
    """
    keys = []
    for item in first_items:
        try:
            keys.append(key(item))
        except (KeyError, TypeError, AttributeError):
            keys.append(None)
    digest = hashlib.sha256(json.dumps([total, keys], sort_keys=True, default=str).encode()).hexdigest()
    return f"{total}:{digest[:24]}"
