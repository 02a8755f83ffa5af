"""Taste matches for everyone: each user's top-k most similar users, appended with ``computed_at``.

Sparse all the way, and in buckets so that no process holds every user (issue 18):

1. :func:`prepare_taste_run` reads users a page at a time, clusters their tracks into recordings
   once (the identity is global), and stores every user's taste vector packed (``taste_vectors``)
   with the run's ``taste_match_runs`` row.
2. :func:`compute_bucket`, one Dagster run per bucket of users, scores its users against everyone
   with an inverted index over blocks of the stored vectors (:func:`blend.overlap.top_k_block`,
   bit-identical to :func:`blend.top_k_similar` over all users at once), explains each kept pair
   (shared tracks, artists, genres) and appends its ``user_taste_matches`` rows with its
   ``taste_match_buckets`` row. A run is current once every bucket is in, so readers never see
   half a computation; "your match went 62 -> 71 since March" is a query.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import ChainMap, Counter, deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy.engine import Connection, Engine

from blendify_assets.analytics.tastes import build_tastes, load_tastes
from blendify_assets.blend import (
    FORMULA,
    TRACK_SOURCES,
    UNTRACKED_SOURCES,
    MemberTaste,
    PairOverlap,
    member_tracks,
    pair_overlap,
    prepare,
    taste_vector,
)
from blendify_assets.blend.identity import (
    METHOD_OF,
    SINGLE,
    Clustering,
    IdentityIndex,
    Match,
    TrackInfo,
    TrackKey,
    block_keys,
    normed,
    stored_norm,
)
from blendify_assets.blend.normalize import normalize_isrc
from blendify_assets.blend.overlap import (
    KIND_WEIGHTS,
    Item,
    Prepared,
    SparseRows,
    TopK,
    component_table,
    merge_top_k,
    top_k_block,
)
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.time import utcnow
from blendify_assets.db import taste_matches, taste_vectors
from blendify_assets.db import users as users_db
from blendify_assets.db.engine import own_session
from blendify_assets.db.music.reads import taste_rows, users_with_rows

DEFAULT_K = 10
BUCKETS = 16
"""Buckets of users (by a hash of the user id); each is one Dagster run of the asset."""
SHARED_LIMIT = 20
"""Shared items kept per stored pair (the counts are exact)."""


@dataclass(frozen=True)
class MatchRun:
    """What one computation stored, and where the time went."""

    run_id: int
    computed_at: datetime
    users: int
    pairs: int
    rows: int
    mean_top_score: float
    seconds: Mapping[str, float]


def compute_taste_matches(
    engine: Engine, k: int = DEFAULT_K, dagster_run_id: str | None = None, buckets: int = BUCKETS
) -> MatchRun:
    """Prepare a computation and run every bucket in this process, one after the other (the demo
    and the command line; Dagster runs the buckets as separate runs)."""
    prepared = prepare_taste_run(engine, k=k, buckets=buckets, dagster_run_id=dagster_run_id)
    done = [
        compute_bucket(engine, b, run_id=prepared.run_id, dagster_run_id=dagster_run_id)
        for b in range(buckets)
    ]
    with engine.connect() as conn:
        firsts = taste_matches.best_scores(conn, prepared.run_id)
        pairs = taste_matches.distinct_pairs(conn, prepared.run_id)
    stages = {
        stage: round(sum(d.seconds.get(stage, 0.0) for d in done), 3)
        for stage in ("top_k", "details_and_write")
    }
    return MatchRun(
        run_id=prepared.run_id,
        computed_at=prepared.computed_at,
        users=prepared.users,
        pairs=pairs,
        rows=sum(d.rows for d in done),
        mean_top_score=round(sum(firsts) / len(firsts), 1) if firsts else 0.0,
        seconds={"prepare": round(sum(prepared.seconds.values()), 3), **stages},
    )


# --- bucketed computation -------------------------------------------------------------------------

USER_PAGE = 25
"""Users whose rows are read and built at once while preparing (bounds memory: a medium user's
rows take ~4 MB as dicts)."""
POSTING_USERS = 2_000
"""Users whose vectors are one posting block of a bucket run (bounds memory)."""
EXPLAIN_USERS = 8
"""Bucket users whose pairs are explained at once (with their neighbours' tastes loaded)."""
EXPLAIN_CACHE_ITEMS = 400_000
"""Taste-vector entries (tracks, artists, genres) of the users kept loaded while explaining, beyond
the chunk being explained: ~0.6 KB each measured, so ~250 MB; ~900 top-list users (444 entries
each), ~130 medium ones (~3,000). A user is read again only if evicted before their next use."""
KINDS = tuple(KIND_WEIGHTS)
KIND_CODE = {kind: i for i, kind in enumerate(KINDS)}
ITEM_DTYPE = np.dtype("<i8")
WEIGHT_DTYPE = np.dtype("<f8")


def bucket_of(user_id: str, buckets: int) -> int:
    """A user's bucket: stable across runs and machines (not Python's salted hash)."""
    digest = hashlib.blake2b(uuid.UUID(user_id).bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


@dataclass(frozen=True)
class PreparedRun:
    """A computation whose vectors are stored and whose buckets are still to run."""

    run_id: int
    computed_at: datetime
    users: int
    buckets: int
    items: int
    clusters_stored: int
    seconds: Mapping[str, float]


def prepare_taste_run(
    engine: Engine, *, k: int = DEFAULT_K, buckets: int = BUCKETS, dagster_run_id: str | None = None
) -> PreparedRun:
    """Cluster every user's tracks into recordings and store every user's taste vector, reading
    users a page at a time; one transaction, so a computation is prepared whole or not at all.

    The identity is global (fuzzy links chain across users' tracks), so it is built over the
    distinct tracks, as the single-process computation does: each track as the last user (in id
    order) holding it has it. The tracks stay in the database (:func:`store_identity`), so memory
    does not grow with the catalogue the users hold. Only what a per-track key cannot give is
    stored: clusters of several tracks, and tracks whose copies disagree on the ISRC; every other
    track is its own cluster (``isrc:<ISRC>`` or ``provider:track_id``).
    """
    clock = _Clock()
    with own_session(engine, temp_buffers=taste_vectors.TRACK_TABLES_BUFFERS) as conn:
        users = 0

        def copies() -> Iterator[list[TrackInfo]]:
            nonlocal users
            for ids in users_db.user_id_pages(conn, USER_PAGE):
                rows = taste_rows(conn, ids, TRACK_SOURCES)
                others = [u for u in ids if u not in rows]
                users += len(rows) + len(users_with_rows(conn, others, UNTRACKED_SOURCES) if others else ())
                yield [info for u in sorted(rows) for info in member_tracks(rows[u]).values()]

        clustered = cluster_tracks(conn, copies(), clock)
        computed_at = utcnow().replace(tzinfo=None)
        previous = taste_vectors.previous_run(conn)
        run_id = taste_matches.start_run(
            conn, computed_at=computed_at, users=users, k=k, buckets=buckets, formula=FORMULA,
            dagster_run_id=dagster_run_id,
        )  # fmt: skip
        taste_vectors.keep_only(conn, [run_id] if previous is None else [run_id, previous])
        stored = clustered.store(conn, run_id)
        tracks, clusters = clustered.tracks, clustered.clusters
        del clustered
        clock.lap("store_clusters")
        numbering = _ItemNumbers(tracks)
        for tastes in _taste_pages(conn):
            identity = IdentityIndex({}, {}, {})
            _extend_identity(conn, run_id, identity, tastes)
            numbering.page(conn, identity, tastes)
            taste_vectors.append_vectors(
                conn, [_vector_row(run_id, m, identity, numbering, buckets) for m in tastes]
            )
        clock.lap("vectors")
    items = clusters + len(numbering.others)
    return PreparedRun(run_id, computed_at, users, buckets, items, stored, clock.laps)


class _ItemNumbers:
    """The computation's item numbers, without a map of every item: a track cluster's number is
    its smallest track number (from the identity's tables, a page at a time); artists and genres
    (far fewer) follow, numbered as first seen. Scores do not depend on the numbers, only on
    equal items having equal numbers."""

    def __init__(self, tracks: int) -> None:
        self.tracks = tracks
        self.clusters: dict[str, int] = {}
        self.others: dict[Item, int] = {}

    def page(self, conn: Connection, identity: IdentityIndex, tastes: Sequence[MemberTaste]) -> None:
        """Look up the clusters of this page's tracks (forgetting the previous page's)."""
        keys = sorted({key for m in tastes for key in m.tracks})
        numbers = taste_vectors.cluster_numbers(conn, keys)
        self.clusters = {identity.cluster_of[key]: numbers[key] for key in keys}

    def number(self, item: Item) -> int:
        if item[0] == "track":
            return self.clusters[item[1]]
        return self.tracks + self.others.setdefault(item, len(self.others))


NUMBERING_PAGE = 20_000
"""Distinct tracks numbered (and normalised) at once."""


@dataclass(frozen=True)
class ClusteredTracks:
    """The identity over the distinct tracks, as a union-find's result: which tracks are linked
    to others (and their cluster's root, its smallest number) and each linked cluster's weakest
    link, as arrays; the tracks themselves stay in the transaction's temporary tables."""

    tracks: int
    clusters: int
    linked: np.ndarray
    roots: np.ndarray
    weakest: tuple[np.ndarray, np.ndarray, np.ndarray]
    """(root, method strength, confidence) of each linked cluster."""

    def store(self, conn: Connection, run_id: int) -> int:
        """Store the clusters a per-track key cannot give in ``taste_track_clusters`` (and keep
        each linked track's root for :func:`db.taste_vectors.cluster_numbers`); returns the rows
        stored."""
        root, strength, confidence = self.weakest
        return taste_vectors.store_clusters(
            conn,
            run_id,
            _rows(self.linked, self.roots),
            ((r, METHOD_OF[s], c) for r, s, c in _rows(root, strength, confidence)),
        )


def _rows(*columns: np.ndarray, chunk: int = 65_536) -> Iterator[tuple[Any, ...]]:
    """Rows of equally long arrays as Python values, a chunk at a time (not millions of objects)."""
    for lo in range(0, len(columns[0]), chunk):
        yield from zip(*(c[lo : lo + chunk].tolist() for c in columns), strict=True)


def cluster_tracks(
    conn: Connection, pages: Iterable[Sequence[TrackInfo]], clock: _Clock | None = None
) -> ClusteredTracks:
    """Cluster the tracks of ``pages`` (users' copies, in user-id order) exactly as
    :func:`blend.build_identity` clusters each track's last copy (a track whose copies disagree
    on the ISRC is marked), in the connection's transaction.

    Memory holds one page of copies, one block of tracks, and per distinct track only the
    union-find, the links and the roots (~40 bytes); the tracks wait in temporary tables.
    """
    clock = clock or _Clock()
    taste_vectors.open_track_tables(conn)
    for page in pages:
        last: dict[TrackKey, TrackInfo] = {}
        isrcs: dict[TrackKey, set[str | None]] = {}
        for info in page:
            last[info.key] = info
            isrcs.setdefault(info.key, set()).add(info.isrc)
        taste_vectors.add_track_copies(
            conn,
            [
                (p, t, i.track_name, i.artist_name, i.duration_ms, i.isrc, len(isrcs[(p, t)]) > 1)
                for (p, t), i in last.items()
            ],
        )
    clock.lap("read_tracks")
    n = 0
    for seen in taste_vectors.seen_tracks(conn, NUMBERING_PAGE):
        numbered = []
        for p, t, name, artist, duration, isrc, conflict in seen:
            norm = normed(TrackInfo(p, t, name, artist, duration_ms=duration, isrc=isrc))
            numbered.append((n, p, t, *block_keys(norm), duration, conflict))
            n += 1
        taste_vectors.add_numbered_tracks(conn, numbered)
    taste_vectors.forget_seen_tracks(conn)
    clock.lap("number_tracks")
    clustering = Clustering(n)
    for group in taste_vectors.isrc_groups(conn):
        clustering.isrc_group(group)
    for by, visit in (("artist", clustering.artist_block), ("title", clustering.title_block)):
        for block in taste_vectors.track_blocks(conn, by):
            visit([b[0] for b in block], {b[0]: stored_norm(*b[1:]) for b in block})
    roots = np.frombuffer(clustering.roots(), np.int64)
    linked = np.flatnonzero(np.bincount(roots, minlength=n)[roots] > 1) if n else roots
    clusters = int(np.count_nonzero(roots == np.arange(n)))
    weakest = clustering.weakest_arrays(roots)
    del clustering
    clock.lap("identity")
    return ClusteredTracks(n, clusters, linked, roots[linked], weakest)


def _taste_pages(conn: Connection) -> Iterator[list[MemberTaste]]:
    """Every user with taste rows, built a page at a time, in user-id order."""
    for ids in users_db.user_id_pages(conn, USER_PAGE):
        rows = taste_rows(conn, ids)
        yield build_tastes(rows)
        del rows


def _vector_row(
    run_id: int, member: MemberTaste, identity: IdentityIndex, numbering: _ItemNumbers, buckets: int
) -> tuple[object, ...]:
    """The member's taste vector packed: item codes (item number x 4 + kind) and shares, in the
    vector's own order (the order the single-process computation sums a pair's terms in)."""
    codes: list[int] = []
    weights: list[float] = []
    kinds = 0
    for item, w in taste_vector(member, identity).items():
        if w > 0:
            code = KIND_CODE[item[0]]
            codes.append(numbering.number(item) * 4 + code)
            weights.append(w)
            kinds |= 1 << code
    return (
        run_id,
        member.user_id,
        bucket_of(member.user_id, buckets),
        kinds,
        np.asarray(codes, ITEM_DTYPE).tobytes(),
        np.asarray(weights, WEIGHT_DTYPE).tobytes(),
    )


@dataclass(frozen=True)
class BucketRun:
    """What one bucket run appended."""

    run_id: int
    bucket: int
    users: int
    candidate_pairs: int
    pairs: int
    rows: int
    complete: bool
    seconds: Mapping[str, float]
    tastes_loaded: int = 0
    """Users' tastes read to explain the pairs (bucket users and neighbours, reloads included)."""


def compute_bucket(
    engine: Engine, bucket: int, *, run_id: int | None = None, dagster_run_id: str | None = None
) -> BucketRun:
    """One bucket of a prepared computation (by default the newest): its users' k best matches
    against every user, scored exactly as the single-process computation scores them, explained
    and appended with the bucket's row in one transaction.

    Memory holds the bucket's vectors, one block of everyone's vectors (streamed in user-id order)
    and each bucket user's k best so far; then a few bucket users and their neighbours' tastes at a
    time while explaining.
    """
    clock = _Clock()
    with engine.connect() as conn:
        run = taste_matches.bucketed_run(conn, run_id)
        if run is None:
            raise BlendifyError(
                "no taste-match computation is prepared: materialise analytics/taste_vectors first"
            )
        run_id, k, buckets = int(run["id"]), int(run["k"]), int(run["buckets"])
        if not 0 <= bucket < buckets:
            raise BlendifyError(f"bucket {bucket} is not one of the computation's {buckets} buckets")
        if bucket in run["done"]:
            return BucketRun(run_id, bucket, 0, 0, 0, 0, len(run["done"]) == buckets, {})
        ids: list[str] = []
        masks: list[int] = []
        for user, kinds in taste_vectors.user_kinds(conn, run_id):
            ids.append(user)
            masks.append(kinds)
        index = {u: i for i, u in enumerate(ids)}
        user_mask = np.asarray(masks, np.int64)
        del masks
        mine = taste_vectors.bucket_vectors(conn, run_id, bucket)
        query = _sparse(mine, index)
        del mine
        table = component_table({kind: KIND_WEIGHTS[kind] for kind in KINDS})
        best: TopK = {}
        candidates = 0
        for block in taste_vectors.vector_blocks(conn, run_id, POSTING_USERS):
            found, expanded = top_k_block(query, _sparse(block, index), user_mask, table, k)
            merge_top_k(best, found, k)
            candidates += expanded
        clock.lap("top_k")
    users = [ids[i] for i in np.unique(query.user).tolist()]
    neighbours = {
        ids[u]: [(ids[int(c)], round(float(v), 6)) for c, v in zip(*best[u], strict=True)]
        for u in sorted(best)
    }
    del best, query, index
    with engine.begin() as conn:
        computed_at = run["computed_at"]
        rows, pairs, loaded = explain_pairs(conn, run_id, computed_at, users, neighbours)
        clock.lap("details_and_write")
        taste_matches.append_bucket(
            conn, run_id=run_id, bucket=bucket, users=len(users), candidate_pairs=candidates, rows=rows,
            seconds=clock.laps, finished_at=utcnow().replace(tzinfo=None), dagster_run_id=dagster_run_id,
        )  # fmt: skip
    with engine.connect() as conn:
        after = taste_matches.bucketed_run(conn, run_id)
    complete = after is not None and len(after["done"]) == buckets
    return BucketRun(run_id, bucket, len(users), candidates, pairs, rows, complete, clock.laps, loaded)


def _sparse(rows: Sequence[taste_vectors.VectorRow], index: Mapping[str, int]) -> SparseRows:
    """Packed vectors as arrays under the computation's global user numbering."""
    codes = [np.frombuffer(items, ITEM_DTYPE) for _, _, items, _ in rows]
    sizes = [len(c) for c in codes]
    code = np.concatenate(codes) if codes else np.zeros(0, ITEM_DTYPE)
    return SparseRows(
        user=np.repeat(np.asarray([index[u] for u, _, _, _ in rows], np.int64), sizes),
        item=code >> 2,
        weight=np.concatenate([np.frombuffer(w, WEIGHT_DTYPE) for _, _, _, w in rows])
        if rows
        else np.zeros(0, WEIGHT_DTYPE),
        kind=code & 3,
    )


def explain_pairs(
    conn: Connection,
    run_id: int,
    computed_at: datetime,
    users: Sequence[str],
    neighbours: Mapping[str, Sequence[tuple[str, float]]],
) -> tuple[int, int, int]:
    """Explain and append each bucket user's kept pairs (in user order, then rank), as the
    single-process computation explains them; returns (rows, distinct pairs, tastes read).

    ``EXPLAIN_USERS`` bucket users at a time, with their neighbours' tastes. Which tastes each
    chunk needs is known before the first is read, so the cache keeps those needed again soonest
    and drops a taste after its last use (issue 18: least-recently-used kept tastes that were never
    needed again, and read a neighbour again for each bucket user far apart in id order).
    """
    uses = Counter((min(u, o), max(u, o)) for u in users for o, _ in neighbours.get(u, ()))
    with_top = [u for u in users if neighbours.get(u)]
    chunks = [with_top[lo : lo + EXPLAIN_USERS] for lo in range(0, len(with_top), EXPLAIN_USERS)]
    explainer = _Explainer(
        conn, run_id, [{*chunk, *(o for u in chunk for o, _ in neighbours[u])} for chunk in chunks],
        uses.copy(), EXPLAIN_CACHE_ITEMS,
    )  # fmt: skip
    rows = 0
    for i, chunk in enumerate(chunks):
        explainer.load(i)
        out = [
            (run_id, uuid.UUID(u), uuid.UUID(o), rank, *explainer.part(u, o), computed_at)
            for u in chunk
            for rank, (o, _) in enumerate(neighbours[u], start=1)
        ]
        explainer.done(i)
        taste_matches.append_matches(conn, out)
        rows += len(out)
    return rows, len(uses), explainer.loaded


@dataclass(frozen=True)
class _Explained:
    """What explaining a pair needs of one user, and no more: the taste's vector, holdings and
    kinds (:func:`blend.prepare`), the names of their artists in the vector, and the matches of
    their recordings clustered from several tracks (any other is a single track). The taste's
    rows and per-track maps are dropped once this is built."""

    member: MemberTaste
    prepared: Prepared
    matches: dict[str, Match]


class _Matches(ChainMap[str, Match]):
    """Two users' recordings' matches: a recording neither lists is a single track."""

    def __missing__(self, key: str) -> Match:
        return SINGLE


class _Explainer:
    """Explains pairs as the single-process computation does (the pair in user-id order, under the
    computation's identity), holding the chunk's users and at most ``cache`` vector entries of
    others: each chunk's missing tastes are read together; of the others, those needed again
    soonest are kept (the needs of every chunk are known up front), and a taste is dropped after
    its last use."""

    def __init__(
        self,
        conn: Connection,
        run_id: int,
        needs: Sequence[Collection[str]],
        pairs: Counter[tuple[str, str]],
        cache: int,
    ) -> None:
        self.conn, self.run_id, self.cache = conn, run_id, cache
        self.needs = needs
        self.next_use: dict[str, deque[int]] = {}
        for i, need in enumerate(needs):
            for u in need:
                self.next_use.setdefault(u, deque()).append(i)
        self.uses = pairs
        self.tastes: dict[str, _Explained] = {}
        self.items = 0
        self.parts: dict[tuple[str, str], tuple[object, ...]] = {}
        self.loaded = 0

    def load(self, chunk: int) -> None:
        """Make the tastes chunk ``chunk`` needs present, first evicting (of the others) those
        needed again latest until the others hold at most ``cache`` entries."""
        need = self.needs[chunk]
        missing = sorted(u for u in need if u not in self.tastes)
        others = [u for u in self.tastes if u not in need]
        held = self.items - sum(len(self.tastes[u].prepared[0]) for u in need if u in self.tastes)
        if held > self.cache:
            for u in sorted(others, key=lambda u: -self.next_use[u][0]):
                held -= self._drop(u)
                if held <= self.cache:
                    break
        if not missing:
            return
        fresh = load_tastes(self.conn, missing)
        self.loaded += len(fresh)
        identity = IdentityIndex({}, {}, {})
        _extend_identity(self.conn, self.run_id, identity, fresh)
        for m in fresh:
            explained = self.tastes[m.user_id] = _explained(m, identity)
            self.items += len(explained.prepared[0])

    def _drop(self, user: str) -> int:
        """Forget a user's taste; returns its vector entries."""
        gone = self.tastes.pop(user, None)
        size = len(gone.prepared[0]) if gone else 0
        self.items -= size
        return size

    def done(self, chunk: int) -> None:
        """Chunk ``chunk`` is explained: drop the tastes no later chunk needs."""
        for u in self.needs[chunk]:
            later = self.next_use[u]
            later.popleft()
            if not later:
                del self.next_use[u]
                self._drop(u)

    def part(self, user: str, other: str) -> tuple[object, ...]:
        """The stored columns of the pair, explained once and kept until its other direction."""
        pair = (min(user, other), max(user, other))
        found = self.parts.get(pair)
        if found is None:
            a, b = self.tastes[pair[0]], self.tastes[pair[1]]
            identity = IdentityIndex({}, {}, _Matches(a.matches, b.matches))
            prepared = {pair[0]: a.prepared, pair[1]: b.prepared}
            found = _stored_part(pair_overlap(a.member, b.member, identity, prepared=prepared))
        self.uses[pair] -= 1
        if self.uses[pair]:
            self.parts[pair] = found
        else:
            self.parts.pop(pair, None)
        return found


def _explained(member: MemberTaste, identity: IdentityIndex) -> _Explained:
    """A taste reduced to what :func:`pair_overlap` reads of it, under the computation's identity."""
    prepared = prepare(member, identity)
    artists = {x for kind, x in prepared[0] if kind == "artist"}
    names = {x: name for x, name in member.artist_names.items() if x in artists}
    slim = MemberTaste(member.user_id, {}, {}, {}, names, {}, {}, member.providers)
    matches = {cid: m for cid in prepared[1] if (m := identity.match[cid]) != SINGLE}
    return _Explained(slim, prepared, matches)


def _extend_identity(
    conn: Connection, run_id: int, identity: IdentityIndex, tastes: Sequence[MemberTaste]
) -> None:
    """Add these members' tracks to a partial copy of the computation's identity: the stored
    clusters, else each track its own cluster, named as ``build_identity`` names a cluster of one."""
    cluster_of = cast(dict[TrackKey, str], identity.cluster_of)
    match = cast(dict[str, Match], identity.match)
    keys = sorted({key for m in tastes for key in m.tracks if key not in cluster_of})
    stored = taste_vectors.clusters_for(conn, run_id, keys)
    for m in tastes:
        for key, info in m.tracks.items():
            if key in cluster_of:
                continue
            if key in stored:
                cid, method, confidence = stored[key]
                cluster_of[key] = cid
                match[cid] = Match(method, confidence)
            else:
                isrc = normalize_isrc(info.isrc)
                cid = f"isrc:{isrc}" if isrc else "{}:{}".format(*key)
                cluster_of[key] = cid
                match[cid] = SINGLE


def _stored_part(o: PairOverlap) -> tuple[object, ...]:
    """The pair's columns shared by both directions (score .. components)."""
    c = o.components
    song = o.song_that_brings_you_together
    return (
        o.score, c["tracks"]["points"], c["artists"]["points"], c["genres"]["points"],
        len(o.shared_tracks), len(o.shared_artists), len(o.shared_genres),
        _json([compact_track(t) for t in o.shared_tracks[:SHARED_LIMIT]]),
        _json(list(o.shared_artists[:SHARED_LIMIT])),
        _json(list(o.shared_genres[:SHARED_LIMIT])),
        _json(compact_track(song)) if song else None,
        _json(o.components),
    )  # fmt: skip


def compact_track(t: Mapping[str, object]) -> dict[str, object]:
    """A shared track as stored: what it is, how it was matched, each member's copy and evidence."""
    return {
        "cluster_id": t["cluster_id"],
        "track_name": t["track_name"],
        "artist_name": t["artist_name"],
        "points": t["points"],
        "match": t["match"],
        "members": t["members"],
    }


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def taste_match(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> PairOverlap:
    """The live taste match of two users across all their providers (same formula as the asset)."""
    tastes = {t.user_id: t for t in load_tastes(conn, [str(a), str(b)])}
    return pair_overlap(tastes[str(a)], tastes[str(b)])
