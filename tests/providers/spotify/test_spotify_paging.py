"""Paging and fingerprint logic: minimal requests, concurrency, and no endless loops on bad pages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.spotify.paging import (
    cursor_pages,
    fingerprint,
    offset_pages,
    remaining_offsets,
)

pytestmark = pytest.mark.anyio


class FakeList:
    """An offset-paged list served in-process; counts calls and the peak of concurrent ones."""

    def __init__(self, n: int, *, total: int | None = None, endless_next: bool = False) -> None:
        self.items = [{"id": f"i{k}"} for k in range(n)]
        self.total = n if total is None else total
        self.endless_next = endless_next
        self.calls: list[Any] = []
        self.in_flight = self.peak = 0

    async def get(self, path: str, stats: FetchStats, params: Any = None) -> Any:
        self.calls.append(params if params is not None else path)
        stats.requests += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if params is None:  # a `next` URL like "next:100"
            offset, limit = int(path.split(":")[1]), 50
        else:
            offset, limit = params["offset"], params["limit"]
        page = self.items[offset : offset + limit]
        more = offset + limit < len(self.items) or self.endless_next
        return {"items": page, "total": self.total, "next": f"next:{offset + limit}" if more else None}


def test_remaining_offsets() -> None:
    assert remaining_offsets(237, 50) == [50, 100, 150, 200]
    assert remaining_offsets(50, 50) == []
    assert remaining_offsets(500, 20) == []  # a short first page ends the list whatever total says
    assert remaining_offsets(500, 50, max_items=50) == []  # top lists hold 50


async def test_offset_pages_reads_ceil_total_over_50_pages_concurrently() -> None:
    fake, stats = FakeList(237), FetchStats()
    pages = await offset_pages(fake, "/me/tracks", stats)
    assert len(fake.calls) == 5 == stats.pages and fake.peak >= 2
    assert [offset for offset, _ in pages] == [0, 50, 100, 150, 200]
    assert [item["id"] for _, page in pages for item in page["items"]] == [f"i{k}" for k in range(237)]


async def test_inflated_total_is_capped_by_total() -> None:
    fake = FakeList(60, total=120, endless_next=True)  # Spotify anomaly: next on empty pages
    pages = await offset_pages(fake, "/me/tracks", FetchStats())
    assert len(fake.calls) == 3 and sum(len(p["items"]) for _, p in pages) == 60


async def test_unknown_total_follows_next_and_stops_on_empty_page() -> None:
    fake = FakeList(120, endless_next=True)
    fake.total = None
    pages = await offset_pages(fake, "/playlists/x/items", FetchStats())
    assert sum(len(p["items"]) for _, p in pages) == 120
    assert len(fake.calls) == 4  # 3 full/partial pages + 1 empty page that ends it
    assert [offset for offset, _ in pages][:3] == [0, 50, 100]


class FakeCursor:
    def __init__(self, n: int, *, stuck: bool = False, total: int | None = None) -> None:
        self.ids = [f"a{k:03d}" for k in range(n)]
        self.stuck = stuck
        self.total = n if total is None else total
        self.calls = 0

    async def get(self, path: str, stats: FetchStats, params: Any = None) -> Any:
        self.calls += 1
        start = 0 if "after" not in params or self.stuck else self.ids.index(params["after"]) + 1
        chunk = self.ids[start : start + params["limit"]]
        after = chunk[-1] if chunk else params.get("after")
        page = {
            "items": [{"id": i} for i in chunk],
            "total": self.total,
            "next": "more",
            "cursors": {"after": after},
        }
        return {"artists": page}


async def test_cursor_pages_stop_at_total() -> None:
    fake = FakeCursor(120)
    pages = await cursor_pages(fake, "/me/following", FetchStats(), unwrap=lambda b: b["artists"])
    assert fake.calls == 3 and sum(len(p["items"]) for p in pages) == 120


async def test_cursor_pages_stop_when_cursor_does_not_move() -> None:
    fake = FakeCursor(120, stuck=True, total=10_000)
    await cursor_pages(fake, "/me/following", FetchStats(), unwrap=lambda b: b["artists"])
    assert fake.calls == 2


def _saved(track_id: str, added: str, image: str) -> dict:
    return {"added_at": added, "track": {"id": track_id, "album": {"images": [{"url": image}]}}}


def test_fingerprint_ignores_expiring_image_urls_but_sees_changes() -> None:
    def key(item):
        return [item["added_at"], item["track"]["id"]]

    page = [
        _saved("t1", "2026-01-02T00:00:00Z", "https://i/1?sig=a"),
        _saved("t2", "2026-01-01T00:00:00Z", "x"),
    ]
    same = [
        _saved("t1", "2026-01-02T00:00:00Z", "https://i/1?sig=b"),
        _saved("t2", "2026-01-01T00:00:00Z", "y"),
    ]
    base = fingerprint(800, page, key)
    assert fingerprint(800, same, key) == base
    assert fingerprint(801, page, key) != base  # a save or unsave further down changes the total
    newer = [_saved("t9", "2026-01-03T00:00:00Z", "z"), *page[:1]]
    assert fingerprint(800, newer, key) != base
