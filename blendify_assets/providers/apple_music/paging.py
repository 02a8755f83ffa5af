"""Reading Apple's paginated collections: `limit` on every page, concurrent pages when the total is known.

Apple's `next` links are root-relative and drop `limit` (page 2 would silently fall back to 25), so
every request sets it. When the first page reports `meta.total`, the remaining offsets are requested
at once; otherwise `next` is followed page by page. Empty collections that answer 404 (an empty
playlist's tracks, an empty library) are empty lists.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.aio import gather_all
from blendify_assets.providers.http import ClientError, Params

LIBRARY_LIMIT = 100  # library songs/albums/artists/playlists: default 25, max 100
PLAYLIST_TRACKS_LIMIT = 100  # library playlist tracks: max 100 (200 is a 400)
RECENT_LIMIT = 30  # recently played tracks: max 30
MAX_PAGES = 1_000


class Getter(Protocol):
    def get(self, path: str, stats: FetchStats, params: Params | None = None) -> Awaitable[Any]: ...

    def split(self, path_or_next: str) -> tuple[str, dict[str, str]]: ...


@dataclass
class Collection:
    """Every resource of a collection in API order, and what Apple said about its size."""

    items: list[Any] = field(default_factory=list)
    total: int | None = None
    not_found: bool = False  # the collection answered 404: treated as empty


def page_data(page: Any) -> list[Any]:
    """A page's `data`, or [] when the page is malformed."""
    data = page.get("data") if isinstance(page, dict) else None
    return data if isinstance(data, list) else []


def page_total(page: Any) -> int | None:
    meta = page.get("meta") if isinstance(page, dict) else None
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def next_link(page: Any) -> str | None:
    link = page.get("next") if isinstance(page, dict) else None
    return link if isinstance(link, str) and link else None


async def follow(
    client: Getter,
    path: str,
    stats: FetchStats,
    *,
    limit: int,
    params: Params | None = None,
    first: Any = None,
) -> AsyncGenerator[Any, None]:
    """Pages one after another by `next`, re-adding `limit` (and the caller's params) to each."""
    base = {k: v for k, v in (params or {}).items() if v is not None}
    page = first if first is not None else await client.get(path, stats, {**base, "limit": limit})
    for _ in range(MAX_PAGES):
        stats.pages += 1
        yield page
        link = next_link(page)
        if link is None or not page_data(page):
            return
        next_path, query = client.split(link)
        page = await client.get(next_path, stats, {**base, **query, "limit": limit})


async def first_page(
    client: Getter, path: str, stats: FetchStats, *, limit: int, params: Params | None = None
) -> Any | None:
    """A collection's first page, or None when it answers 404 (an empty collection)."""
    base = {k: v for k, v in (params or {}).items() if v is not None}
    try:
        return await client.get(path, stats, {**base, "limit": limit})
    except ClientError as exc:
        if exc.status != 404:
            raise
        return None


_UNREAD = object()


async def read_collection(
    client: Getter,
    path: str,
    stats: FetchStats,
    *,
    limit: int,
    params: Params | None = None,
    first: Any = _UNREAD,
) -> Collection:
    """A whole collection in order; 404 on the first page means empty. `first`: the first page
    (or None for a 404) when the caller already holds it."""
    base = {k: v for k, v in (params or {}).items() if v is not None}
    if first is _UNREAD:
        first = await first_page(client, path, stats, limit=limit, params=base)
    if first is None:
        return Collection(total=0, not_found=True)
    total = page_total(first)
    if total is None or not next_link(first):
        items: list[Any] = []
        async for page in follow(client, path, stats, limit=limit, params=base, first=first):
            items.extend(page_data(page))
        return Collection(items, total)
    stats.pages += 1
    first_items = page_data(first)
    if len(first_items) < limit:  # a short page is the last one, whatever the total says
        return Collection(first_items, total)

    async def read(offset: int) -> list[Any]:
        page = await client.get(path, stats, {**base, "limit": limit, "offset": offset})
        stats.pages += 1
        return page_data(page)

    rest = await gather_all(read(offset) for offset in range(limit, total, limit)[:MAX_PAGES])
    return Collection([item for chunk in [first_items, *rest] for item in chunk], total)
