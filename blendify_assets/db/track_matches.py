"""The match cache, `track_matches` (append-only): which track of a target service a blend track
is, or why none was found. The latest row for (target, source_key) is the answer; an unmatched
answer older than `UNMATCHED_TTL` is asked again (catalogues grow)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.core.time import naive_utc

UNMATCHED_TTL = timedelta(days=7)


@dataclass(frozen=True)
class CachedMatch:
    """One stored answer: a match (`method`, `track_id`) or an unmatched `reason`."""

    source_key: str
    method: str | None
    confidence: float
    track_id: str | None
    reason: str | None
    detail: str | None


def lookup(engine: Engine, target: str, keys: Iterable[str], now: datetime) -> dict[str, CachedMatch]:
    """The latest answer for each key that has a usable one (one query)."""
    wanted = sorted(set(keys))
    at = naive_utc(now)
    assert at is not None
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT ON (source_key) source_key, method, confidence, target_track_id, reason, "
                "detail, matched_at FROM track_matches WHERE target = CAST(:t AS provider) "
                "AND source_key = ANY(:k) ORDER BY source_key, matched_at DESC, id DESC"
            ),
            {"t": target, "k": wanted},
        ).mappings()
        return {
            r["source_key"]: CachedMatch(
                r["source_key"],
                r["method"],
                float(r["confidence"]),
                r["target_track_id"],
                r["reason"],
                r["detail"],
            )
            for r in rows
            if r["method"] is not None or at - r["matched_at"] < UNMATCHED_TTL
        }


def append(engine: Engine, target: str, answers: Sequence[Mapping[str, object]], now: datetime) -> None:
    """New answers (source_key, method, confidence, track_id, reason, detail), one transaction."""
    if not answers:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO track_matches (target, source_key, method, confidence, target_track_id, reason, "
                "detail, matched_at) VALUES (CAST(:target AS provider), :source_key, :method, :confidence, "
                ":track_id, :reason, :detail, :now)"
            ),
            [{**a, "target": target, "now": naive_utc(now)} for a in answers],
        )
