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

from sqlalchemy.engine import Connection, Engine

from blendify_assets.analytics.tastes import build_tastes, load_tastes
from blendify_assets.blend import FORMULA, PairOverlap, build_identity, pair_overlap, prepare, top_k_similar
from blendify_assets.blend.overlap import KIND_WEIGHTS
from blendify_assets.core.time import utcnow
from blendify_assets.db import taste_matches
from blendify_assets.db.music.reads import taste_rows

DEFAULT_K = 10
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


def compute_taste_matches(engine: Engine, k: int = DEFAULT_K, dagster_run_id: str | None = None) -> MatchRun:
    """Read every user's latest state, find each one's k best matches, append them as one run."""
    clock = _Clock()
    with engine.connect() as conn:
        rows = taste_rows(conn)
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
    by_id = {m.user_id: m for m in tastes}

    def explain(a: str, b: str) -> PairOverlap:
        return pair_overlap(by_id[a], by_id[b], identity, prepared=prepared)

    run_id = taste_matches.append_run(
        engine,
        computed_at=computed_at,
        users=len(tastes),
        k=k,
        pairs=len(uses),
        formula=FORMULA,
        dagster_run_id=dagster_run_id,
        rows=lambda run_id: _rows(run_id, computed_at, neighbours, uses, explain),
    )
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


def taste_match(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> PairOverlap:
    """The live taste match of two users across all their providers (same formula as the asset)."""
    tastes = {t.user_id: t for t in load_tastes(conn, [str(a), str(b)])}
    return pair_overlap(tastes[str(a)], tastes[str(b)])
