"""Taste matches for everyone: each user's top-k most similar users, appended with ``computed_at``.

Sparse all the way: the neighbours come from :func:`blend.top_k_similar` over taste vectors (an
inverted index touches only pairs that share an item), and the shared tracks, artists and genres
are worked out only for those k pairs per user. Every run appends one ``taste_match_runs`` row and
its ``user_taste_matches`` rows, so "your match went 62 -> 71 since March" is a query.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.analytics.tastes import build_tastes, load_rows
from blendify_assets.blend import FORMULA, PairOverlap, build_identity, pair_overlap, prepare, top_k_similar
from blendify_assets.blend.overlap import KIND_WEIGHTS
from blendify_assets.core.time import utcnow
from blendify_assets.ingest.store import copy_rows

DEFAULT_K = 10
SHARED_LIMIT = 20
"""Shared items kept per stored pair (the counts are exact)."""

COLUMNS = (
    "run_id", "user_id", "other_user_id", "rank", "score", "track_points", "artist_points",
    "genre_points", "shared_track_count", "shared_artist_count", "shared_genre_count",
    "shared_tracks", "shared_artists", "shared_genres", "song_that_brings_you_together",
    "components", "computed_at",
)  # fmt: skip


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


def compute_taste_matches(engine: Engine, k: int = DEFAULT_K, dagster_run_id: str | None = None) -> MatchRun:
    """Read every user's latest state, find each one's k best matches, append them as one run."""
    clock = _Clock()
    with engine.connect() as conn:
        rows = load_rows(conn)
    clock.lap("read")
    tastes = build_tastes(rows)
    del rows
    identity = build_identity(t for m in tastes for t in m.tracks.values())
    prepared = {m.user_id: prepare(m, identity) for m in tastes}
    clock.lap("tastes")
    neighbours = top_k_similar({u: p[0] for u, p in prepared.items()}, k, component_weights=KIND_WEIGHTS)
    clock.lap("top_k")
    uses = Counter((min(u, o), max(u, o)) for u, top in neighbours.items() for o, _ in top)
    computed_at = utcnow().replace(tzinfo=None)
    with engine.begin() as conn:
        run_id = conn.execute(
            sa.text(
                "INSERT INTO taste_match_runs (computed_at, users, k, pairs, formula, run_id) "
                "VALUES (:t, :u, :k, :p, :f, :r) RETURNING id"
            ),
            {"t": computed_at, "u": len(tastes), "k": k, "p": len(uses), "f": FORMULA, "r": dagster_run_id},
        ).scalar_one()

        by_id = {m.user_id: m for m in tastes}

        def explain(a: str, b: str) -> PairOverlap:
            return pair_overlap(by_id[a], by_id[b], identity, prepared=prepared)

        copy_rows(conn, "user_taste_matches", COLUMNS, _rows(run_id, computed_at, neighbours, uses, explain))
    clock.lap("details_and_write")
    firsts = [top[0][1] for top in neighbours.values() if top]
    return MatchRun(
        run_id=run_id,
        computed_at=computed_at,
        users=len(tastes),
        pairs=len(uses),
        rows=sum(len(top) for top in neighbours.values()),
        mean_top_score=round(100 * sum(firsts) / len(firsts), 1) if firsts else 0.0,
        seconds=clock.laps,
    )


def _rows(
    run_id: int,
    computed_at: datetime,
    neighbours: Mapping[str, Sequence[tuple[str, float]]],
    uses: Counter[tuple[str, str]],
    explain: Callable[[str, str], PairOverlap],
) -> Iterator[tuple[object, ...]]:
    """Rows streamed into COPY. A pair is explained once and its stored part is kept only until
    its other direction (if any) has been written, so memory stays at a few rows, not all pairs."""
    pending: dict[tuple[str, str], tuple[object, ...]] = {}
    for user, top in neighbours.items():
        for rank, (other, _) in enumerate(top, start=1):
            pair = (min(user, other), max(user, other))
            part = pending.get(pair) or _stored_part(explain(*pair))
            uses[pair] -= 1
            if uses[pair]:
                pending[pair] = part
            else:
                pending.pop(pair, None)
            yield (run_id, uuid.UUID(user), uuid.UUID(other), rank, *part, computed_at)


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


# --- reads -------------------------------------------------------------------------------------------


def current_neighbours(conn: Connection, user_id: uuid.UUID) -> list[Mapping[str, object]]:
    """The user's top-k from the latest run (index: user_id, computed_at, rank)."""
    return list(
        conn.execute(
            sa.text(
                "SELECT m.rank, m.other_user_id, coalesce(u.display_name, u.email) AS other, m.score, "
                "m.shared_track_count, m.shared_artist_count, m.shared_genre_count, "
                "m.song_that_brings_you_together, m.computed_at "
                "FROM user_taste_matches m JOIN users u ON u.id = m.other_user_id "
                "WHERE m.user_id = :u AND m.computed_at = (SELECT max(computed_at) FROM taste_match_runs) "
                "ORDER BY m.rank"
            ),
            {"u": user_id},
        ).mappings()
    )


def pair_history(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> list[Mapping[str, object]]:
    """The pair's stored score at every run where either was in the other's top-k, oldest first."""
    return list(
        conn.execute(
            sa.text(
                "SELECT DISTINCT ON (computed_at) computed_at, score, shared_track_count, "
                "shared_artist_count, shared_genre_count FROM user_taste_matches "
                "WHERE (user_id = :a AND other_user_id = :b) OR (user_id = :b AND other_user_id = :a) "
                "ORDER BY computed_at, user_id"
            ),
            {"a": a, "b": b},
        ).mappings()
    )
