"""Quota blends (``balanced`` and ``weighted``): shared tracks first, then each member's favourites.

1. Seats: ``size`` positions are shared out by weight with the largest-remainder method, so every
   member's count of attributed tracks is within one track of ``size x weight / total weight``
   (balanced = equal weights). A member with too few tracks gives its unused seats to the others.
2. Shared tier: recordings that several members hold, most holders first, then highest summed
   relevance (ties: the latest play or like, then title). Each is attributed to the holder whose
   seats are least filled; at most ``shared_share`` of a member's seats go to shared tracks, so
   everyone's own favourites still appear ("maximise the joy" over "minimise the misery", as
   Spotify Blend chose).
3. Personal tier: round-robin over members, each taking its most relevant recording not yet
   picked and whose artist is under the cap.
4. Order (``blend.order``): shared tracks first (most holders first), then the personal picks in
   fair turns (smooth weighted round-robin, so no member dominates a stretch); each position takes
   the pick that flows best from the track before it.

``similarity_score`` (0-100) = how strongly the members who hold the track are into it now: the
mean of their relevance (their points for it / their best track's points) x 100. 100 = every
holder's most relevant track right now; a personal pick scores its member's relevance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from blendify_assets.blend.group import GroupTaste, Holding, sort_ties_apart
from blendify_assets.blend.order import Flow, flow_order
from blendify_assets.blend.picks import BlendPick, describe, names
from blendify_assets.blend.selection import ArtistCap, largest_remainder


def quota_blend(
    group: GroupTaste,
    weights: Mapping[str, float],
    *,
    algorithm: str,
    size: int,
    max_per_artist: int,
    shared_share: float,
) -> list[BlendPick]:
    """The algorithm of the module docstring; ``weights`` has one entry per member."""
    seats = largest_remainder(weights, size)
    picked: dict[str, list[str]] = {u: [] for u in seats}  # user -> cluster ids attributed
    chosen: set[str] = set()
    cap = ArtistCap(max_per_artist)
    shared_limit = {u: math.ceil(n * shared_share) for u, n in seats.items()}

    def take(cid: str, user: str) -> None:
        chosen.add(cid)
        picked[user].append(cid)
        cap.take(group.holdings[cid][user].info)

    shared = _shared_order(group, [cid for cid, hs in group.holdings.items() if len(hs) > 1])
    shared_used = dict.fromkeys(seats, 0)
    for cid in shared:
        holders = group.holdings[cid]
        open_ = [u for u in holders if len(picked[u]) < seats[u] and shared_used[u] < shared_limit[u]]
        if not open_:
            continue
        user = min(open_, key=lambda u: (len(picked[u]) / seats[u], -holders[u].relevance, u))
        if cap.allows(holders[user].info):
            take(cid, user)
            shared_used[user] += 1

    cursor = dict.fromkeys(seats, 0)

    def next_for(user: str) -> str | None:
        ranked = group.ranked[user]
        while cursor[user] < len(ranked):
            cid = ranked[cursor[user]]
            cursor[user] += 1
            if cid not in chosen and cap.allows(group.holdings[cid][user].info):
                return cid
        return None

    for respect_seats in (True, False):  # second pass hands unused seats to members with tracks left
        active = [u for u in sorted(seats) if weights[u] > 0 and cursor[u] < len(group.ranked[u])]
        while active and len(chosen) < size:
            for user in list(active):
                if len(chosen) >= size:
                    break
                if respect_seats and len(picked[user]) >= seats[user]:
                    active.remove(user)
                    continue
                found = next_for(user)
                if found is None:
                    active.remove(user)
                else:
                    take(found, user)

    return _order(group, picked, algorithm)


def _shared_order(group: GroupTaste, cids: list[str]) -> list[str]:
    """Most holders, then highest summed relevance; ties: latest play or like, title, artist."""

    def primary(cid: str) -> tuple[int, float]:
        holders = group.holdings[cid].values()
        return (-len(holders), -round(sum(h.relevance for h in holders), 9))

    def tie(cid: str) -> tuple[object, ...]:
        best = max(group.holdings[cid].values(), key=lambda h: (h.evidence.last_active, h.info.key))
        return (*best.tie_key(), cid)

    return sort_ties_apart(cids, primary, tie)


def _order(group: GroupTaste, picked: Mapping[str, list[str]], algorithm: str) -> list[BlendPick]:
    owner = {cid: u for u, cids in picked.items() for cid in cids}
    shared = _shared_order(group, [c for c in owner if len(group.holdings[c]) > 1])
    tiers = [
        [c for c in shared if len(group.holdings[c]) == n]
        for n in sorted({len(group.holdings[c]) for c in shared}, reverse=True)
    ]
    turns = {u: [c for c in cids if len(group.holdings[c]) == 1] for u, cids in picked.items()}
    order = flow_order(
        Flow(group),
        tiers,
        turns,
        track=lambda c: group.holdings[c][owner[c]].info,
        strength=lambda c: fit_score(group, c) / 100,
    )
    return [_pick(group, i + 1, cid, owner[cid], algorithm) for i, cid in enumerate(order)]


def fit_score(group: GroupTaste, cid: str) -> float:
    """``similarity_score`` of the module docstring, 0-100."""
    holders = group.holdings[cid].values()
    return round(100 * sum(h.relevance for h in holders) / len(holders), 1)


def _pick(group: GroupTaste, position: int, cid: str, user: str, algorithm: str) -> BlendPick:
    holders = group.holdings[cid]
    source: Holding = holders[user]
    kind = "shared" if len(holders) > 1 else "personal"
    if kind == "shared":
        ids = sorted(holders, key=lambda u: (-holders[u].relevance, u))  # who loves it most first
        reason = f"shared by {names(ids)}: " + "; ".join(f"{u}: {describe(holders[u])}" for u in ids)
    else:
        reason = f"{user}'s pick: {describe(source)}"
    metadata = {
        "algorithm": algorithm,
        "kind": kind,
        "cluster_id": cid,
        "shared_by": len(holders),
        "attributed_to": user,
        "members": {u: h.to_dict() for u, h in sorted(holders.items())},
        "match": group.identity.match[cid].to_dict(),
        "reason": reason,
    }
    return BlendPick(position, source.info, user, fit_score(group, cid), metadata)
