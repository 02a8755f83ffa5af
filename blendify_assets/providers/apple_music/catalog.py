"""ISRCs for library songs: Apple's library items have none, their catalog twins do.

Catalog ids (`playParams.catalogId`) are looked up in the user's storefront, up to 300 per request,
all batches at once. Ids Apple does not return (no longer in the catalog, not in this storefront)
simply have no ISRC.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.aio import gather_all
from blendify_assets.providers.apple_music.client import AppleClient
from blendify_assets.providers.apple_music.paging import page_data
from blendify_assets.providers.rows import normalise_isrc

IDS_PER_REQUEST = 300  # Apple's maximum for /v1/catalog/{sf}/songs?ids=


def batches(ids: Iterable[str], size: int = IDS_PER_REQUEST) -> list[list[str]]:
    """Unique ids in first-seen order, cut into batches of at most `size`."""
    unique = list(dict.fromkeys(i for i in ids if i))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


async def catalog_isrcs(client: AppleClient, catalog_ids: Iterable[str], stats: FetchStats) -> dict[str, str]:
    """catalog song id -> ISRC for every id the catalog knows (and that has an ISRC)."""
    chunks = batches(catalog_ids)
    if not chunks:
        return {}
    storefront = quote(await client.storefront(stats), safe="")

    async def lookup(chunk: list[str]) -> list[Any]:
        body = await client.get(f"/v1/catalog/{storefront}/songs", stats, {"ids": ",".join(chunk)})
        return page_data(body)

    found: dict[str, str] = {}
    for songs in await gather_all(lookup(chunk) for chunk in chunks):
        for song in songs:
            if not isinstance(song, dict) or not isinstance(song.get("id"), str):
                continue
            attrs = song.get("attributes")
            isrc = normalise_isrc(attrs.get("isrc")) if isinstance(attrs, dict) else None
            if isrc:
                found[song["id"]] = isrc
    return found
