"""Pure blend algorithms: track identity, member tastes, overlap analytics and blends.

No Dagster, no SQL, no I/O: the asset layer runs SQL over the latest-state views, passes the row
dicts to :func:`build_member_taste`, and writes what these functions return.
"""

from blendify_assets.blend.algorithms import ALGORITHMS, balanced, discovery, generate_blend, weighted
from blendify_assets.blend.group import MAX_MEMBERS, MIN_MEMBERS
from blendify_assets.blend.identity import IdentityIndex, Match, TrackInfo, build_identity, match_tracks
from blendify_assets.blend.model import (
    SOURCES,
    TRACK_SOURCES,
    UNTRACKED_SOURCES,
    MemberTaste,
    build_member_taste,
    member_tracks,
)
from blendify_assets.blend.overlap import (
    FORMULA,
    PairOverlap,
    pair_overlap,
    prepare,
    taste_vector,
    top_k_similar,
    top_k_taste_matches,
)
from blendify_assets.blend.picks import BlendPick

__all__ = [
    "ALGORITHMS",
    "FORMULA",
    "MAX_MEMBERS",
    "MIN_MEMBERS",
    "SOURCES",
    "TRACK_SOURCES",
    "UNTRACKED_SOURCES",
    "BlendPick",
    "IdentityIndex",
    "Match",
    "MemberTaste",
    "PairOverlap",
    "TrackInfo",
    "balanced",
    "build_identity",
    "build_member_taste",
    "discovery",
    "generate_blend",
    "match_tracks",
    "member_tracks",
    "pair_overlap",
    "prepare",
    "taste_vector",
    "top_k_similar",
    "top_k_taste_matches",
    "weighted",
]
