"""Matching blend tracks to a member's service: the lookups around the pure rules of blend/matching.py.

For a list of blend tracks and one target service: tracks a member already holds on that service
need no request (``own_id``); the rest are looked up by ISRC first (Spotify: one `isrc:` search per
distinct ISRC, concurrently within the provider's bound; Apple: 25 ISRCs a request), and only
those still unmatched are searched by title and primary artist (one request each). Each distinct
lookup is asked once, however many tracks share it. No SQL, no Dagster: the caller stores the
choices.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from blendify_assets.blend.matching import Choice, SourceTrack, match_track, usable_id
from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.aio import gather_all
from blendify_assets.providers.apple_music import publish as apple
from blendify_assets.providers.apple_music.client import AppleClient
from blendify_assets.providers.publishing import CatalogTrack
from blendify_assets.providers.spotify import publish as spotify
from blendify_assets.providers.spotify.client import SpotifyClient


def needs_lookup(source: SourceTrack, target: str) -> bool:
    """Whether no member already holds a copy the target service's playlist can take."""
    own = source.copies.get(target)
    return not (own and usable_id(target, own))


async def match_on_spotify(
    client: SpotifyClient, sources: Sequence[SourceTrack], stats: FetchStats
) -> list[Choice]:
    """One choice per source (same order) for a Spotify member."""
    todo = [s for s in sources if needs_lookup(s, "spotify")]
    isrcs = sorted({s.isrc for s in todo if s.isrc})
    found = await gather_all(spotify.search_isrc(client, code, stats) for code in isrcs)
    by_isrc: dict[str, list[CatalogTrack]] = dict(zip(isrcs, found, strict=True))

    async def search(terms: tuple[str, str]) -> list[CatalogTrack]:
        return await spotify.search_tracks(client, *terms, stats)

    return await _choose(sources, "spotify", by_isrc, search)


async def match_on_apple(
    client: AppleClient, sources: Sequence[SourceTrack], stats: FetchStats
) -> list[Choice]:
    """One choice per source (same order) for an Apple Music member, in their storefront."""
    todo = [s for s in sources if needs_lookup(s, "apple")]
    by_isrc = await apple.songs_by_isrc(client, (s.isrc for s in todo if s.isrc), stats)

    async def search(terms: tuple[str, str]) -> list[CatalogTrack]:
        return await apple.search_songs(client, *terms, stats)

    return await _choose(sources, "apple", by_isrc, search)


Search = Callable[[tuple[str, str]], Awaitable[list[CatalogTrack]]]


async def _choose(
    sources: Sequence[SourceTrack], target: str, by_isrc: dict[str, list[CatalogTrack]], search: Search
) -> list[Choice]:
    """ISRC candidates first; a title and artist search only for what they left unmatched."""
    choices = [match_track(s, target, by_isrc.get(s.isrc or "", [])) for s in sources]
    pending = {
        i: s.search_terms() for i, s in enumerate(sources) if not choices[i].matched and s.title.strip()
    }
    terms = sorted(set(pending.values()))
    results = dict(zip(terms, await gather_all(search(t) for t in terms), strict=True))
    for i, key in pending.items():
        s = sources[i]
        choices[i] = match_track(s, target, [*by_isrc.get(s.isrc or "", []), *results[key]])
    return choices
