"""Playlist order that flows: neighbouring tracks close in sound, fairness untouched.

Spotify Blend's designers ask that a blend be *coherent* (it flows) as well as relevant, equal
and democratic. Without audio features (gone for new apps since 2024), closeness comes from what
the warehouse knows about each track's artists, across the whole group::

    closeness(a, b) = 0.5 x genre overlap   (Jaccard of the genres of their credited artists)
                    + 0.3 x shared fans     (cosine of the members' weights for their primary artists)
                    + 0.2 x shared credit   (1 if a credited artist appears on both, e.g. a feature)

and -0.25 when both are by the same primary artist: two songs by one artist in a row are avoided
(they come together only when that member has nothing else left), so an artist's tracks are spread
out rather than bunched, while related artists (same genres, same fans, features) sit together.

Fairness decides *whose* turn each position is (``selection.fair_turns``); flow only decides
*which* of that member's picks fills it: the one closest to the previous track, plus 0.15 x its
strength (the member's relevance, or the discovery score) so favourites still come early. Shared
picks stay first, tier by tier (most holders first), ordered the same way inside a tier. Nothing is
added or dropped, so seats, the artist cap and each member's share of every stretch are exactly
what the selection made. Greedy choices can lose to the plain order on rare inputs; the order with
the larger total closeness of neighbours is kept, so flow never gets worse than the plain order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from blendify_assets.blend.group import GroupTaste
from blendify_assets.blend.identity import TrackInfo
from blendify_assets.blend.normalize import credited_artist_keys
from blendify_assets.blend.selection import fair_turns, interleave

T = TypeVar("T")

GENRE_WEIGHT, FANS_WEIGHT, CREDIT_WEIGHT = 0.5, 0.3, 0.2
SAME_ARTIST = -0.25
STRENGTH_WEIGHT = 0.15


@dataclass(frozen=True)
class _Sound:
    primary: str
    credits: frozenset[str]
    genres: frozenset[str]
    fans: tuple[float, ...]
    """The members' weights for the primary artist, scaled to unit length (zeros when nobody)."""


class Flow:
    """Closeness of two tracks from the group's artists, genres and fans (module docstring)."""

    def __init__(self, group: GroupTaste) -> None:
        self._members = group.members
        genres: dict[str, set[str]] = {}
        for m in group.members:
            for artist, gs in m.artist_genres.items():
                genres.setdefault(artist, set()).update(gs)
        self._genres = genres
        self._cache: dict[tuple[str, str], _Sound] = {}

    def sound(self, info: TrackInfo) -> _Sound:
        key = (info.provider, info.track_id)
        found = self._cache.get(key)
        if found is None:
            credits = credited_artist_keys(info.artist_name)
            primary = credits[0] if credits else ""
            genres = frozenset(g for a in credits for g in self._genres.get(a, ()))
            fans = [m.artists.get(primary, 0.0) for m in self._members]
            norm = math.sqrt(sum(f * f for f in fans))
            unit = tuple(f / norm for f in fans) if norm > 0 else tuple(0.0 for _ in fans)
            found = self._cache[key] = _Sound(primary, frozenset(credits), genres, unit)
        return found

    def closeness(self, a: TrackInfo, b: TrackInfo) -> float:
        x, y = self.sound(a), self.sound(b)
        if x.primary and x.primary == y.primary:
            return SAME_ARTIST
        genres = len(x.genres & y.genres) / len(x.genres | y.genres) if x.genres and y.genres else 0.0
        fans = sum(p * q for p, q in zip(x.fans, y.fans, strict=True))
        credit = 1.0 if x.credits & y.credits else 0.0
        return GENRE_WEIGHT * genres + FANS_WEIGHT * fans + CREDIT_WEIGHT * credit


def flow_order(
    flow: Flow,
    tiers: Sequence[Sequence[T]],
    turns: Mapping[str, Sequence[T]],
    track: Callable[[T], TrackInfo],
    strength: Callable[[T], float],
) -> list[T]:
    """Shared ``tiers`` in turn, then each member's picks in :func:`fair_turns` order, every
    position filled by the pick that flows best from the one before (module docstring).

    ``tiers`` and each member's queue in ``turns`` come in their plain order (most relevant first):
    the plain order is the fallback and the tie-break.
    """
    plain = [*(item for tier in tiers for item in tier), *interleave(turns)]
    flowing: list[T] = []

    def place(candidates: list[T]) -> None:
        if not flowing:
            best = 0
        else:
            prev = track(flowing[-1])
            scores = [flow.closeness(prev, track(c)) + STRENGTH_WEIGHT * strength(c) for c in candidates]
            best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        flowing.append(candidates.pop(best))

    for tier in tiers:
        remaining = list(tier)
        while remaining:
            place(remaining)
    queues = {u: list(q) for u, q in turns.items()}
    for user in fair_turns({u: len(q) for u, q in queues.items()}):
        place(queues[user])
    return flowing if total_closeness(flow, flowing, track) >= total_closeness(flow, plain, track) else plain


def total_closeness(flow: Flow, order: Sequence[T], track: Callable[[T], TrackInfo]) -> float:
    """The sum of closeness over neighbouring tracks: how well a whole order flows."""
    return sum(flow.closeness(track(a), track(b)) for a, b in itertools.pairwise(order))
