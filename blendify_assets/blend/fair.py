"""Quota blends (``balanced`` and ``weighted``): shared tracks first, then each member's favourites.

1. Seats: ``size`` positions are shared out by weight with the largest-remainder method, so every
   member's count of attributed tracks is within one track of ``size x weight / total weight``
   (balanced = equal weights). A member with too few tracks gives its unused seats to the others.
2. Shared tier: recordings that several members hold, most holders first, then highest summed
   relevance. Each is attributed to the holder whose seats are least filled; at most
   ``shared_share`` of a member's seats go to shared tracks, so everyone's own favourites still
   appear ("maximise the joy" over "minimise the misery", as Spotify Blend chose).
3. Personal tier: round-robin over members, each taking its most relevant recording not yet
   picked and whose artist is under the cap.
4. Order: shared tracks first (most holders first); then the personal picks interleaved by
   smooth weighted round-robin, so no member dominates a stretch.

``similarity_score`` = the weighted mean over members of their affinity for the pick: the member's
relevance if they hold it, else half their weight for its primary artist, else 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from blendify_assets.blend.group import GroupTaste, Holding
from blendify_assets.blend.normalize import credited_artist_keys
from blendify_assets.blend.picks import BlendPick, describe
from blendify_assets.blend.selection import ArtistCap, interleave, largest_remainder


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

    shared = [cid for cid, hs in group.holdings.items() if len(hs) > 1]
    shared.sort(
        key=lambda c: (-len(group.holdings[c]), -sum(h.relevance for h in group.holdings[c].values()), c)
    )
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
                cid = next_for(user)
                if cid is None:
                    active.remove(user)
                else:
                    take(cid, user)

    return _order(group, picked, weights, algorithm)


def _order(
    group: GroupTaste, picked: Mapping[str, list[str]], weights: Mapping[str, float], algorithm: str
) -> list[BlendPick]:
    owner = {cid: u for u, cids in picked.items() for cid in cids}
    multi = sorted(
        (c for c in owner if len(group.holdings[c]) > 1),
        key=lambda c: (-len(group.holdings[c]), -sum(h.relevance for h in group.holdings[c].values()), c),
    )
    singles = interleave({u: [c for c in cids if len(group.holdings[c]) == 1] for u, cids in picked.items()})
    order = [*multi, *singles]
    total_w = sum(weights.values())
    return [
        _pick(group, i + 1, str(cid), owner[str(cid)], weights, total_w, algorithm)
        for i, cid in enumerate(order)
    ]


def group_affinity(group: GroupTaste, cid: str, weights: Mapping[str, float], total_w: float) -> float:
    """The weighted mean affinity of the module docstring, in 0-1."""
    holders = group.holdings[cid]
    any_copy = next(iter(holders.values())).info
    primary = (credited_artist_keys(any_copy.artist_name) or ("",))[0]
    score = 0.0
    for m in group.members:
        h = holders.get(m.user_id)
        score += weights[m.user_id] * (h.relevance if h else 0.5 * m.artists.get(primary, 0.0))
    return round(score / total_w, 4) if total_w > 0 else 0.0


def _pick(
    group: GroupTaste,
    position: int,
    cid: str,
    user: str,
    weights: Mapping[str, float],
    total_w: float,
    algorithm: str,
) -> BlendPick:
    holders = group.holdings[cid]
    source: Holding = holders[user]
    kind = "shared" if len(holders) > 1 else "personal"
    if kind == "shared":
        reason = f"shared by {len(holders)} members: " + "; ".join(
            f"{u}: {describe(h)}" for u, h in sorted(holders.items())
        )
    else:
        rank = group.ranked[user].index(cid) + 1
        reason = f"{user}'s #{rank} track: {describe(source)}"
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
    return BlendPick(position, source.info, user, group_affinity(group, cid, weights, total_w), metadata)
