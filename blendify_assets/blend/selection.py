"""Fairness primitives shared by the algorithms: quotas, the artist cap and interleaving."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TypeVar

from blendify_assets.blend.identity import TrackInfo
from blendify_assets.blend.normalize import primary_artist_key

T = TypeVar("T")


def largest_remainder(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Integer seats proportional to weights (Hamilton's method): each within one of its exact share.

    Ties on the remainder go to the larger weight, then to the smaller user id.
    """
    s = sum(weights.values())
    if s <= 0:
        raise ValueError("weights must sum to more than zero")
    exact = {u: total * w / s for u, w in weights.items()}
    seats = {u: math.floor(x) for u, x in exact.items()}
    left = total - sum(seats.values())
    for u in sorted(weights, key=lambda u: (-(exact[u] - seats[u]), -weights[u], u))[:left]:
        seats[u] += 1
    return seats


class ArtistCap:
    """At most ``limit`` picks per primary artist (normalised, so one artist on two providers counts once)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_per_artist must be at least 1")
        self.limit = limit
        self.used: Counter[str] = Counter()

    def allows(self, track: TrackInfo) -> bool:
        return self.used[primary_artist_key(track.artist_name)] < self.limit

    def take(self, track: TrackInfo) -> None:
        self.used[primary_artist_key(track.artist_name)] += 1


def fair_turns(sizes: Mapping[str, int]) -> list[str]:
    """Whose turn each position is, so each member's picks are spread evenly over the stretch.

    Smooth weighted round-robin (as nginx balances servers): each turn every member with picks
    left gains credit equal to its number of picks, the richest member plays next and pays the
    total. Equal counts give A, B, C, A, B, C; a member with twice the picks plays every other
    turn. Ties: smaller user id. Ordering for flow (``blend.order``) only chooses *which* of a
    member's picks fills their turn, never whose turn it is.
    """
    sizes = {u: n for u, n in sizes.items() if n > 0}
    total = sum(sizes.values())
    credit = dict.fromkeys(sizes, 0)
    used = dict.fromkeys(sizes, 0)
    out: list[str] = []
    for _ in range(total):
        for u in credit:
            if used[u] < sizes[u]:
                credit[u] += sizes[u]
        u = min((u for u in credit if used[u] < sizes[u]), key=lambda u: (-credit[u], u))
        credit[u] -= total
        used[u] += 1
        out.append(u)
    return out


def interleave(queues: Mapping[str, Sequence[T]]) -> list[T]:
    """Merge per-member queues in :func:`fair_turns` order, each queue in its own order."""
    position = dict.fromkeys(queues, 0)
    out: list[T] = []
    for u in fair_turns({u: len(q) for u, q in queues.items()}):
        out.append(queues[u][position[u]])
        position[u] += 1
    return out
