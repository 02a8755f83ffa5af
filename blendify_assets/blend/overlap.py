"""Overlap between members: shared tracks, artists and genres, and a taste match that explains itself.

Taste match (0-100)::

    match(A, B) = 100 x sum over k in {tracks, artists, genres} of
                  sum over x of min( W_A[k] x p_A[k](x),  W_B[k] x p_B[k](x) )

- ``p_A[tracks](x)`` is A's share of track points on recording x (points from top-list ranks, plays,
  likes and playlists; see ``blend.model``), so ``p_A[tracks]`` sums to 1; ``p_A[artists]`` and
  ``p_A[genres]`` are A's artist and genre weights, likewise scaled to sum to 1.
- ``W[k]`` = 0.35 for tracks, 0.40 for artists, 0.25 for genres, rescaled to sum to 1 over the
  components **both** members of the pair have data for: an Apple Music member (no genres) and a
  Spotify member with the same songs and artists score 100, not 75.
- Read it as "the share of your weighted taste that you have in common": identical tastes give
  100, nothing in common gives 0. Each component's part of the score is returned with the shared
  items that make it up; the shared recording with the largest term is "the song that brings you
  together" (ties: larger combined share, then cluster id).

Recordings are matched across providers first (``blend.identity``), so a Spotify member and an
Apple Music member who love the same song share it. Because the score is a sum over items of a
``min``, it is also what :func:`top_k_similar` computes sparsely for many users at once.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blendify_assets.blend.group import Holding, resolve_member
from blendify_assets.blend.identity import IdentityIndex, build_identity
from blendify_assets.blend.model import MemberTaste

COMPONENT_WEIGHTS = {"tracks": 0.35, "artists": 0.40, "genres": 0.25}
KIND_WEIGHTS = {comp[:-1]: w for comp, w in COMPONENT_WEIGHTS.items()}
"""The same weights keyed by item kind ("track", "artist", "genre")."""
FORMULA = (
    "match = 100 x sum over tracks, artists, genres of W x sum over shared items of "
    "min(share_A(item), share_B(item)); W = 0.35 tracks, 0.40 artists, 0.25 genres "
    "(rescaled over the components both members have data for)"
)
Item = tuple[str, str]
"""("track", cluster id) | ("artist", artist key) | ("genre", genre key)."""


def taste_vector(member: MemberTaste, identity: IdentityIndex) -> dict[Item, float]:
    """The member's taste as sparse items: the formula's shares ``p[k]``, unweighted.

    Each component the member has data for sums to 1; a missing component has no items. The
    weights ``W`` depend on the pair (:func:`pair_weights`), so they are applied when comparing.
    """
    return _vector(member, resolve_member(member, identity))


def _vector(member: MemberTaste, holdings: Mapping[str, Holding]) -> dict[Item, float]:
    """:func:`taste_vector` from the member's holdings (resolved once by :func:`prepare`)."""
    parts = {
        "track": {cid: h.points for cid, h in holdings.items() if h.points > 0},
        "artist": dict(member.artists),
        "genre": dict(member.genres),
    }
    out: dict[Item, float] = {}
    for kind, values in parts.items():
        total = sum(values.values())
        if total > 0:
            for x, v in values.items():
                out[(kind, x)] = v / total
    return out


def pair_weights(kinds_a: Collection[str], kinds_b: Collection[str]) -> dict[str, float]:
    """``W`` for one pair: the component weights rescaled over the kinds both members have."""
    both = [k for k in KIND_WEIGHTS if k in kinds_a and k in kinds_b]
    total = sum(KIND_WEIGHTS[k] for k in both)
    return {k: KIND_WEIGHTS[k] / total for k in both} if total > 0 else {}


@dataclass(frozen=True)
class PairOverlap:
    """What two members share and the taste match built from it (JSON-ready via ``to_dict``)."""

    user_a: str
    user_b: str
    score: float
    components: Mapping[str, Mapping[str, float]]
    shared_tracks: Sequence[Mapping[str, Any]]  # JSON-shaped: stored as jsonb, shown by the CLI
    shared_artists: Sequence[Mapping[str, Any]]
    shared_genres: Sequence[Mapping[str, Any]]
    song_that_brings_you_together: Mapping[str, Any] | None
    formula: str = FORMULA

    def to_dict(self) -> dict[str, object]:
        return {
            "user_a": self.user_a,
            "user_b": self.user_b,
            "score": self.score,
            "components": {k: dict(v) for k, v in self.components.items()},
            "shared_tracks": [dict(t) for t in self.shared_tracks],
            "shared_artists": [dict(a) for a in self.shared_artists],
            "shared_genres": [dict(g) for g in self.shared_genres],
            "song_that_brings_you_together": _opt_dict(self.song_that_brings_you_together),
            "formula": self.formula,
        }


Prepared = tuple[dict[Item, float], dict[str, Holding], frozenset[str]]
"""A member's taste vector, holdings and the kinds they have data for, under one identity index."""


def prepare(member: MemberTaste, identity: IdentityIndex) -> Prepared:
    """What :func:`pair_overlap` derives from one member; compute once when scoring many pairs."""
    holdings = resolve_member(member, identity)
    vector = _vector(member, holdings)
    return vector, holdings, frozenset(kind for kind, _ in vector)


def pair_overlap(
    a: MemberTaste,
    b: MemberTaste,
    identity: IdentityIndex | None = None,
    *,
    prepared: Mapping[str, Prepared] | None = None,
) -> PairOverlap:
    """Shared tracks, artists and genres of two members, and their taste match (module formula).

    ``prepared`` (user id -> :func:`prepare` under the same ``identity``) saves recomputing each
    member's vector when one member is in many pairs, as in the overlap analytics.
    """
    if a.user_id == b.user_id:
        raise ValueError("overlap needs two different users")
    if identity is None:
        identity = build_identity([*a.tracks.values(), *b.tracks.values()])
    cache = prepared or {}
    va, ha, ka = cache[a.user_id] if a.user_id in cache else prepare(a, identity)
    vb, hb, kb = cache[b.user_id] if b.user_id in cache else prepare(b, identity)
    weights = pair_weights(ka, kb)
    # An item both hold is of a kind both have, so it always has a weight.
    terms = {item: weights[item[0]] * min(p, vb[item]) for item, p in va.items() if item in vb}
    by_kind: dict[str, dict[str, float]] = {comp[:-1]: {} for comp in COMPONENT_WEIGHTS}
    for (k, x), t in terms.items():
        by_kind[k][x] = t

    components: dict[str, dict[str, float]] = {}
    for comp in COMPONENT_WEIGHTS:
        kind = comp[:-1]
        got = sum(by_kind[kind].values())
        possible = weights.get(kind, 0.0)
        components[comp] = {
            "points": round(100 * got, 2),
            "max_points": round(100 * possible, 2),
            "similarity": round(got / possible, 4) if possible > 0 else 0.0,
            "shared": len(by_kind[kind]),
        }

    def ordered(kind: str) -> list[tuple[str, float]]:
        items = list(by_kind[kind].items())
        return sorted(items, key=lambda xt: (-xt[1], -(va[(kind, xt[0])] + vb[(kind, xt[0])]), xt[0]))

    shared_tracks = [
        {
            "cluster_id": cid,
            **ha[cid].info.display(),
            "points": round(100 * t, 3),
            "match": identity.match[cid].to_dict(),
            "members": {a.user_id: ha[cid].to_dict(), b.user_id: hb[cid].to_dict()},
        }
        for cid, t in ordered("track")
    ]
    shared_artists = [
        {"artist": a.artist_names.get(x, x), "key": x, "points": round(100 * t, 3)}
        for x, t in ordered("artist")
    ]
    shared_genres = [{"genre": g, "points": round(100 * t, 3)} for g, t in ordered("genre")]
    return PairOverlap(
        user_a=a.user_id,
        user_b=b.user_id,
        score=round(100 * sum(terms.values()), 1),
        components=components,
        shared_tracks=shared_tracks,
        shared_artists=shared_artists,
        shared_genres=shared_genres,
        song_that_brings_you_together=shared_tracks[0] if shared_tracks else None,
    )


def top_k_similar(
    vectors: Mapping[str, Mapping[Hashable, float] | Collection[Hashable]],
    k: int = 10,
    *,
    max_expansion: int = 4_000_000,
    component_weights: Mapping[str, float] | None = None,
) -> dict[str, list[tuple[str, float]]]:
    """Each user's k most similar users by ``sum over items of min(u_i, v_i)``, computed sparsely.

    ``vectors`` maps a user to weighted items or to a plain set of items (weights 1/len, so the
    score is shared / max(len_u, len_v)). With ``component_weights`` the items are
    ``(component, x)`` pairs and each term is weighted by its component's weight rescaled over
    the components both users have: with :func:`taste_vector` and ``KIND_WEIGHTS`` the score is
    the taste match / 100. An inverted index (items sorted, then expanded per chunk of query users)
    touches only pairs that share an item; no user x user matrix is ever built. Ties go to the
    smaller user id; users sharing nothing are not listed.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    users = sorted(vectors)
    n_users = len(users)
    uid, iid, wts, items = _entries(users, vectors)
    if n_users < 2 or len(iid) == 0:
        return {u: [] for u in users}
    pair_table = kind_of = user_mask = None
    if component_weights is not None:
        kind_of, user_mask, pair_table = _components(n_users, items, uid, component_weights)

    # Postings: entries sorted by item; entries sorted by user are the query side.
    by_item = np.lexsort((uid, iid))
    post_user, post_w = uid[by_item], wts[by_item]
    counts = np.bincount(iid).astype(np.int32)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    keep = counts[iid] > 1  # an item nobody else has adds nothing
    q_user, q_item, q_w = uid[keep], iid[keep], wts[keep]
    q_kind = kind_of[keep] if kind_of is not None else None
    cost = counts[q_item].astype(np.int64)
    row_bounds = np.searchsorted(q_user, np.arange(n_users + 1))

    cum = np.concatenate(([0], np.cumsum(cost)))[row_bounds]  # expansion before each user
    out: dict[str, list[tuple[str, float]]] = {}
    lo = 0
    while lo < n_users:
        hi = int(np.searchsorted(cum, cum[lo] + max_expansion, side="right")) - 1
        hi = min(n_users, max(lo + 1, hi))
        a, b = row_bounds[lo], row_bounds[hi]
        lens = cost[a:b]
        offsets = (starts[q_item[a:b]] - (np.cumsum(lens) - lens)).astype(np.int32)
        pos = np.repeat(offsets, lens) + np.arange(int(lens.sum()), dtype=np.int32)
        other = post_user[pos]
        me = np.repeat(q_user[a:b], lens)
        contrib = np.minimum(np.repeat(q_w[a:b], lens), post_w[pos])
        if pair_table is not None and user_mask is not None and q_kind is not None:
            both = user_mask[me] & user_mask[other]
            contrib = contrib * pair_table[both, np.repeat(q_kind[a:b], lens)]
        mask = other != me
        keys = (me[mask] - lo).astype(np.int64) * n_users + other[mask]
        rows, cols, vals = _reduce(keys, contrib[mask], hi - lo, n_users)
        bounds = np.searchsorted(rows, np.arange(hi - lo + 1))
        for r in range(hi - lo):
            s_, e_ = bounds[r], bounds[r + 1]
            out[users[lo + r]] = _top(cols[s_:e_], vals[s_:e_], k, users)
        lo = hi
    return out


def _reduce(keys: np.ndarray, weights: np.ndarray, n_rows: int, n_cols: int) -> tuple[np.ndarray, ...]:
    """Sum weights per (row, col) key; row-major nonzeros. Dense scratch only when it is no bigger
    than the work itself, so cost follows the number of co-occurring pairs, not users squared."""
    if n_rows * n_cols <= 4 * len(keys) + 1024:
        sums = np.bincount(keys, weights=weights, minlength=n_rows * n_cols)
        flat = np.flatnonzero(sums > 1e-12)
        return flat // n_cols, flat % n_cols, sums[flat]
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=weights)
    return uniq // n_cols, uniq % n_cols, sums


def _components(
    n_users: int, items: list[Hashable], uid: np.ndarray, weights: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry its component index, per user a bit mask of the components they have, and the
    table ``W[mask][component]`` of weights rescaled over the components in ``mask``."""
    names = list(weights)
    code = {name: i for i, name in enumerate(names)}
    kinds: list[int] = []
    for item in items:
        if not isinstance(item, tuple) or item[0] not in code:
            raise ValueError(f"with component_weights every item must be (component, x); got {item!r}")
        kinds.append(code[item[0]])
    kind_of = np.asarray(kinds, np.int64)
    user_mask = np.zeros(n_users, np.int64)
    np.bitwise_or.at(user_mask, uid, 1 << kind_of)
    return kind_of, user_mask, component_table(weights)


def _entries(
    users: list[str], vectors: Mapping[str, Mapping[Hashable, float] | Collection[Hashable]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Hashable]]:
    """Flatten to (user index, item index, weight) arrays, items numbered by pandas.factorize,
    and the items themselves in entry order."""
    items: list[Hashable] = []
    weights: list[float] = []
    sizes = np.zeros(len(users), np.int64)
    for u, user in enumerate(users):
        vec = vectors[user]
        if isinstance(vec, Mapping):
            kept = {x: w for x, w in vec.items() if w > 0}
            items.extend(kept)
            weights.extend(kept.values())
            sizes[u] = len(kept)
        else:
            distinct = set(vec)
            items.extend(distinct)
            weights.extend([1.0 / len(distinct)] * len(distinct))
            sizes[u] = len(distinct)
    uid = np.repeat(np.arange(len(users), dtype=np.int32), sizes)
    codes, _ = pd.factorize(pd.Series(items, dtype=object), sort=False)
    return uid, codes.astype(np.int32), np.asarray(weights, np.float64), items


def _top(cols: np.ndarray, vals: np.ndarray, k: int, users: list[str]) -> list[tuple[str, float]]:
    """The k largest, ties to the smaller user index (users are sorted by id)."""
    if len(vals) > k:
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        keep = vals >= kth  # keep every tie with the k-th so the id tie-break decides, not chance
        cols, vals = cols[keep], vals[keep]
    order = np.lexsort((cols, -vals))[:k]
    return [(users[int(c)], round(float(v), 6)) for c, v in zip(cols[order], vals[order], strict=True)]


@dataclass(frozen=True)
class SparseRows:
    """Sparse vectors as arrays: entry ``i`` is ``weight[i]`` of item ``item[i]`` for user ``user[i]``
    (a global user index: its rank in user-id order), with its component ``kind[i]``. A user's
    entries are contiguous and in the order of their taste vector."""

    user: np.ndarray
    item: np.ndarray
    weight: np.ndarray
    kind: np.ndarray


def component_table(weights: Mapping[str, float]) -> np.ndarray:
    """``W[mask][component]``: the weights rescaled over the components present in ``mask``."""
    names = list(weights)
    table = np.zeros((1 << len(names), len(names)))
    for mask in range(1, 1 << len(names)):
        present = [i for i in range(len(names)) if mask >> i & 1]
        total = sum(weights[names[i]] for i in present)
        for i in present:
            table[mask, i] = weights[names[i]] / total if total > 0 else 0.0
    return table


TopK = dict[int, tuple[np.ndarray, np.ndarray]]
"""Global user index -> (other users' global indices, unrounded scores), best first."""


def top_k_block(
    query: SparseRows,
    postings: SparseRows,
    user_mask: np.ndarray,
    table: np.ndarray,
    k: int,
    *,
    max_expansion: int = 4_000_000,
) -> tuple[TopK, int]:
    """The query users' k best among the posting users, exactly as :func:`top_k_similar` scores.

    Each pair's score is summed in the query user's entry order, with the same element-wise
    operations, so the floats are bit-identical to the single-process computation; the k best of a
    user over all posting blocks are the k best of the per-block k best (order: score descending,
    then user index). Returns the per-user candidates and how many (user, other) contributions
    were expanded (the candidate work).
    """
    out: TopK = {}
    if len(query.user) == 0 or len(postings.user) == 0:
        return out, 0
    n_users = len(user_mask)
    by_item = np.lexsort((postings.user, postings.item))
    post_user, post_w = postings.user[by_item], postings.weight[by_item]
    uniq, first, counts = np.unique(postings.item[by_item], return_index=True, return_counts=True)
    slot = np.searchsorted(uniq, query.item)
    slot = np.minimum(slot, len(uniq) - 1)
    found = uniq[slot] == query.item
    q_user, q_w, q_kind, q_slot = query.user[found], query.weight[found], query.kind[found], slot[found]
    cost = counts[q_slot].astype(np.int64)
    starts = first[q_slot]
    query_users = np.unique(query.user)
    row_bounds = np.searchsorted(q_user, query_users)
    row_bounds = np.append(row_bounds, len(q_user))
    cum = np.concatenate(([0], np.cumsum(cost)))[row_bounds]
    expanded = 0
    lo, n_rows = 0, len(query_users)
    while lo < n_rows:
        hi = int(np.searchsorted(cum, cum[lo] + max_expansion, side="right")) - 1
        hi = min(n_rows, max(lo + 1, hi))
        a, b = row_bounds[lo], row_bounds[hi]
        lens = cost[a:b]
        total = int(lens.sum())
        expanded += total
        offsets = starts[a:b] - (np.cumsum(lens) - lens)
        pos = np.repeat(offsets, lens) + np.arange(total, dtype=np.int64)
        other = post_user[pos]
        me = np.repeat(q_user[a:b], lens)
        contrib = np.minimum(np.repeat(q_w[a:b], lens), post_w[pos])
        both = user_mask[me] & user_mask[other]
        contrib = contrib * table[both, np.repeat(q_kind[a:b], lens)]
        mask = other != me
        local = np.searchsorted(query_users[lo:hi], me[mask])
        keys = local.astype(np.int64) * n_users + other[mask]
        rows, cols, vals = _reduce(keys, contrib[mask], hi - lo, n_users)
        bounds = np.searchsorted(rows, np.arange(hi - lo + 1))
        for r in range(hi - lo):
            s_, e_ = bounds[r], bounds[r + 1]
            if e_ > s_:
                out[int(query_users[lo + r])] = _best(cols[s_:e_], vals[s_:e_], k)
        lo = hi
    return out, expanded


def merge_top_k(into: TopK, more: TopK, k: int) -> None:
    """Keep each user's k best of both (score descending, then user index)."""
    for user, (cols, vals) in more.items():
        if user in into:
            cols = np.concatenate((into[user][0], cols))
            vals = np.concatenate((into[user][1], vals))
            into[user] = _best(cols, vals, k)
        else:
            into[user] = (cols, vals)


def _best(cols: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((cols, -vals))[:k]
    return cols[order], vals[order]


def top_k_taste_matches(
    members: Sequence[MemberTaste], k: int = 10, identity: IdentityIndex | None = None
) -> dict[str, list[tuple[str, float]]]:
    """Each member's k best taste matches (0-100), the same formula as :func:`pair_overlap`."""
    if identity is None:
        identity = build_identity(t for m in members for t in m.tracks.values())
    vectors = {m.user_id: taste_vector(m, identity) for m in members}
    top = top_k_similar(vectors, k, component_weights=KIND_WEIGHTS)
    return {u: [(v, round(100 * s, 1)) for v, s in best] for u, best in top.items()}


def _opt_dict(value: Mapping[str, object] | None) -> dict[str, object] | None:
    return None if value is None else dict(value)
