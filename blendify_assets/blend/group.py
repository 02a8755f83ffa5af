"""Several members' tastes resolved onto recordings (identity clusters).

Every algorithm and the overlap analytics look at tracks per recording, not per provider id: a
Spotify member and an Apple Music member who love the same song share it here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from blendify_assets.blend.identity import IdentityIndex, TrackInfo, TrackKey, build_identity
from blendify_assets.blend.model import Evidence, MemberTaste, track_points
from blendify_assets.blend.normalize import primary_artist_key, title_key

T = TypeVar("T")

MIN_MEMBERS = 2
MAX_MEMBERS = 10


@dataclass(frozen=True)
class Holding:
    """One member's hold on one recording: their own copy of it and the merged evidence."""

    user_id: str
    info: TrackInfo
    evidence: Evidence
    points: float
    relevance: float

    def tie_key(self) -> tuple[float, str, str]:
        """Between equally relevant tracks, what a listener understands: the most recently played
        or liked first, then title and artist in alphabetical order."""
        return (
            -self.evidence.last_active,
            title_key(self.info.track_name),
            primary_artist_key(self.info.artist_name),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "provider": self.info.provider,
            "track_id": self.info.track_id,
            "relevance": round(self.relevance, 4),
            **self.evidence.to_dict(),
        }


@dataclass(frozen=True)
class GroupTaste:
    """Members (sorted by user id), the identity index, and who holds which recording."""

    members: tuple[MemberTaste, ...]
    identity: IdentityIndex
    holdings: Mapping[str, Mapping[str, Holding]]
    ranked: Mapping[str, tuple[str, ...]]
    """Each member's recordings, most relevant first; ties by ``Holding.tie_key``, then cluster id."""

    def member(self, user_id: str) -> MemberTaste:
        return next(m for m in self.members if m.user_id == user_id)


def resolve_member(member: MemberTaste, identity: IdentityIndex) -> dict[str, Holding]:
    """A member's holdings per cluster; several copies of one recording merge their evidence."""
    copies: dict[str, list[TrackKey]] = defaultdict(list)
    for key in member.tracks:
        copies[identity.cluster(key)].append(key)
    best = member.max_points or 1.0
    out: dict[str, Holding] = {}
    for cid, keys in copies.items():
        if len(keys) == 1:
            evidence, points = member.evidence[keys[0]], member.points[keys[0]]
        else:
            keys.sort(key=lambda k: (-member.points[k], k))
            evidence = member.evidence[keys[0]]
            for k in keys[1:]:
                evidence = evidence.merge(member.evidence[k])
            points = track_points(evidence)
        out[cid] = Holding(member.user_id, member.tracks[keys[0]], evidence, points, min(1.0, points / best))
    return out


def build_group(
    members: Sequence[MemberTaste],
    identity: IdentityIndex | None = None,
    *,
    min_members: int = MIN_MEMBERS,
    max_members: int = MAX_MEMBERS,
) -> GroupTaste:
    """Resolve members onto recordings; raises ValueError outside ``min..max`` distinct members."""
    ids = [m.user_id for m in members]
    if len(set(ids)) != len(ids):
        raise ValueError(f"a blend's members must be distinct users; got duplicates in {sorted(ids)}")
    if not min_members <= len(ids) <= max_members:
        raise ValueError(f"a blend needs {min_members} to {max_members} members; got {len(ids)}")
    ordered = tuple(sorted(members, key=lambda m: m.user_id))
    if identity is None:
        identity = build_identity(t for m in ordered for t in m.tracks.values())
    holdings: dict[str, dict[str, Holding]] = defaultdict(dict)
    ranked: dict[str, tuple[str, ...]] = {}
    for m in ordered:
        mine = resolve_member(m, identity)
        for cid, h in mine.items():
            holdings[cid][m.user_id] = h
        ranked[m.user_id] = _ranked(mine)
    return GroupTaste(ordered, identity, holdings, ranked)


def _ranked(mine: Mapping[str, Holding]) -> tuple[str, ...]:
    """Clusters by points, highest first; ties by ``Holding.tie_key``, then cluster id."""
    points = {c: -round(h.points, 9) for c, h in mine.items()}
    return tuple(sort_ties_apart(list(mine), points.__getitem__, lambda c: (*mine[c].tie_key(), c)))


def sort_ties_apart(items: list[T], primary: Callable[[T], Any], tie_key: Callable[[T], Any]) -> list[T]:
    """Sorted by ``primary``; items with equal ``primary`` by ``tie_key``, worked out only for them.

    The tie-break keys (normalised titles, dates) cost more than the scores, and most items do not
    tie, so this is cheaper than one sort on the full key.
    """
    items = sorted(items, key=primary)
    out: list[T] = []
    i = 0
    while i < len(items):
        level = primary(items[i])
        j = i + 1
        while j < len(items) and primary(items[j]) == level:
            j += 1
        out.extend(items[i:j] if j == i + 1 else sorted(items[i:j], key=tie_key))
        i = j
    return out
