"""The three blend algorithms behind one entry point, with the checks every blend shares.

All of them: 2-10 distinct members (ValueError otherwise), no recording twice (identity clusters,
so the Spotify and Apple copies of a song count once), at most ``max_per_artist`` picks per primary
artist, ``size`` picks when enough candidates exist (fewer, never padded, otherwise), and the same
output for the same inputs whatever their order: members are sorted by user id and every ranking
ends in a stable tie-break (cluster id, then user id). No randomness is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from blendify_assets.blend.discovery import discovery_blend
from blendify_assets.blend.fair import quota_blend
from blendify_assets.blend.group import build_group
from blendify_assets.blend.identity import IdentityIndex
from blendify_assets.blend.model import MemberTaste
from blendify_assets.blend.picks import BlendPick

ALGORITHMS = ("balanced", "weighted", "discovery")
DEFAULT_SIZE = 50
DEFAULT_MAX_PER_ARTIST = 3
DEFAULT_SHARED_SHARE = 0.5
DEFAULT_DISCOVERY_HEAD = 20


def balanced(
    members: Sequence[MemberTaste],
    *,
    size: int = DEFAULT_SIZE,
    max_per_artist: int = DEFAULT_MAX_PER_ARTIST,
    shared_share: float = DEFAULT_SHARED_SHARE,
    identity: IdentityIndex | None = None,
) -> list[BlendPick]:
    """Equal seats per member; shared tracks first, then favourites, interleaved (see ``blend.fair``)."""
    _check(size, max_per_artist)
    group = build_group(members, identity)
    equal = {m.user_id: 1.0 for m in group.members}
    return quota_blend(
        group,
        equal,
        algorithm="balanced",
        size=size,
        max_per_artist=max_per_artist,
        shared_share=shared_share,
    )


def weighted(
    members: Sequence[MemberTaste],
    weights: Mapping[str, float],
    *,
    size: int = DEFAULT_SIZE,
    max_per_artist: int = DEFAULT_MAX_PER_ARTIST,
    shared_share: float = DEFAULT_SHARED_SHARE,
    identity: IdentityIndex | None = None,
) -> list[BlendPick]:
    """Seats proportional to ``weights`` (blend_participants.weight; a missing member counts 1.0)."""
    _check(size, max_per_artist)
    group = build_group(members, identity)
    ids = {m.user_id for m in group.members}
    stray = sorted(set(map(str, weights)) - ids)
    if stray:
        raise ValueError(f"weights name users who are not members: {stray}")
    w = {u: float(weights.get(u, 1.0)) for u in sorted(ids)}
    bad = {u: x for u, x in w.items() if not math.isfinite(x) or x < 0}
    if bad or sum(w.values()) <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero; got {w}")
    return quota_blend(
        group, w, algorithm="weighted", size=size, max_per_artist=max_per_artist, shared_share=shared_share
    )


def discovery(
    members: Sequence[MemberTaste],
    *,
    size: int = DEFAULT_SIZE,
    max_per_artist: int = 2,
    head: int = DEFAULT_DISCOVERY_HEAD,
    identity: IdentityIndex | None = None,
) -> list[BlendPick]:
    """Tracks new to all members but their source, near the group's artists and genres."""
    _check(size, max_per_artist)
    if head < 0:
        raise ValueError("head must be >= 0")
    group = build_group(members, identity)
    return discovery_blend(group, size=size, max_per_artist=max_per_artist, head=head)


def generate_blend(
    algorithm: str,
    members: Sequence[MemberTaste],
    *,
    weights: Mapping[str, float] | None = None,
    config: Mapping[str, object] | None = None,
    identity: IdentityIndex | None = None,
) -> list[BlendPick]:
    """Run ``blends.algorithm_type`` with ``blends.algorithm_config`` (size, max_per_artist, ...)."""
    options: dict[str, Any] = dict(
        config or {}
    )  # the blend's stored config (JSON), checked by each algorithm
    if algorithm == "balanced":
        return balanced(members, identity=identity, **options)
    if algorithm == "weighted":
        return weighted(members, weights or {}, identity=identity, **options)
    if algorithm == "discovery":
        return discovery(members, identity=identity, **options)
    raise ValueError(f"unknown blend algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")


def _check(size: int, max_per_artist: int) -> None:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer; got {size!r}")
    if not isinstance(max_per_artist, int) or max_per_artist < 1:
        raise ValueError(f"max_per_artist must be a positive integer; got {max_per_artist!r}")
