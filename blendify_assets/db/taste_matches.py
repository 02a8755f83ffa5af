"""The taste-match tables: `taste_match_runs`, `user_taste_matches` and `taste_match_buckets`
(append-only), with their views. A run is appended whole, or (bucketed) its run row first and then
each bucket whole with its `taste_match_buckets` row; readers see only complete runs
(`complete_taste_match_runs`, `latest_*`), so a pair's score over time is a query."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from blendify_assets.db.copy import copy_rows

COLUMNS = (
    "run_id", "user_id", "other_user_id", "rank", "score", "track_points", "artist_points",
    "genre_points", "shared_track_count", "shared_artist_count", "shared_genre_count",
    "shared_tracks", "shared_artists", "shared_genres", "song_that_brings_you_together",
    "components", "computed_at",
)  # fmt: skip


def append_run(
    engine: Engine,
    *,
    computed_at: datetime,
    users: int,
    k: int,
    pairs: int,
    formula: str,
    dagster_run_id: str | None,
    rows: Callable[[int], Iterable[tuple[object, ...]]],
) -> int:
    """One run and its rows (`rows(run_id)`, in COLUMNS order, streamed into COPY) in one
    transaction; returns the run's id."""
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                sa.text(
                    "INSERT INTO taste_match_runs (computed_at, users, k, pairs, formula, run_id) "
                    "VALUES (:t, :u, :k, :p, :f, :r) RETURNING id"
                ),
                {"t": computed_at, "u": users, "k": k, "p": pairs, "f": formula, "r": dagster_run_id},
            ).scalar_one()
        )
        copy_rows(conn, "user_taste_matches", COLUMNS, rows(run_id))
    return run_id


def start_run(
    conn: Connection,
    *,
    computed_at: datetime,
    users: int,
    k: int,
    buckets: int,
    formula: str,
    dagster_run_id: str | None,
) -> int:
    """A bucketed run's row, in the caller's transaction; its rows follow bucket by bucket
    (`append_bucket`). ``pairs`` is 0 here: each bucket records its own counts."""
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO taste_match_runs (computed_at, users, k, pairs, formula, run_id, buckets) "
                "VALUES (:t, :u, :k, 0, :f, :r, :b) RETURNING id"
            ),
            {"t": computed_at, "u": users, "k": k, "f": formula, "r": dagster_run_id, "b": buckets},
        ).scalar_one()
    )


def bucketed_run(conn: Connection, run_id: int | None = None) -> RowMapping | None:
    """A bucketed run (id, computed_at, k, buckets, users) and the buckets it has: this one, or
    the newest."""
    where = "WHERE r.id = :r" if run_id is not None else "WHERE r.buckets IS NOT NULL"
    return (
        conn.execute(
            sa.text(
                "SELECT r.id, r.computed_at, r.k, r.buckets, r.users, "
                "coalesce(array_agg(b.bucket ORDER BY b.bucket) FILTER (WHERE b.bucket IS NOT NULL), '{}') AS done "
                f"FROM taste_match_runs r LEFT JOIN taste_match_buckets b ON b.run_id = r.id {where} "
                "GROUP BY r.id ORDER BY r.id DESC LIMIT 1"
            ),
            {"r": run_id},
        )
        .mappings()
        .first()
    )


def append_bucket(
    conn: Connection,
    *,
    run_id: int,
    bucket: int,
    users: int,
    candidate_pairs: int,
    rows: int,
    seconds: dict[str, float],
    finished_at: datetime,
    dagster_run_id: str | None,
) -> None:
    """The bucket's row, in the transaction that appended its matches (`append_matches`)."""
    conn.execute(
        sa.text(
            "INSERT INTO taste_match_buckets (run_id, bucket, users, candidate_pairs, rows, seconds, "
            "finished_at, dagster_run_id) VALUES (:r, :b, :u, :c, :n, CAST(:s AS jsonb), :t, :d)"
        ),
        {
            "r": run_id, "b": bucket, "u": users, "c": candidate_pairs, "n": rows,
            "s": json.dumps(seconds), "t": finished_at, "d": dagster_run_id,
        },
    )  # fmt: skip


def append_matches(conn: Connection, rows: Iterable[tuple[object, ...]]) -> None:
    """Rows in COLUMNS order, by COPY, in the caller's transaction."""
    copy_rows(conn, "user_taste_matches", COLUMNS, rows)


def best_scores(conn: Connection, run_id: int) -> list[float]:
    """Every user's best score in one run (the run's "mean best match")."""
    rows = conn.execute(
        sa.text("SELECT score FROM user_taste_matches WHERE run_id = :r AND rank = 1"), {"r": run_id}
    )
    return [float(s) for (s,) in rows]


def distinct_pairs(conn: Connection, run_id: int) -> int:
    """Unordered pairs in one run's top lists (a pair in both users' lists counts once)."""
    return int(
        conn.execute(
            sa.text(
                "SELECT count(DISTINCT (least(user_id, other_user_id), greatest(user_id, other_user_id))) "
                "FROM user_taste_matches WHERE run_id = :r"
            ),
            {"r": run_id},
        ).scalar_one()
    )


def current_neighbours(conn: Connection, user_id: uuid.UUID) -> list[RowMapping]:
    """The user's top-k from the latest run (index: user_id, computed_at, rank)."""
    return list(
        conn.execute(
            sa.text(
                "SELECT m.rank, m.other_user_id, coalesce(u.display_name, u.email) AS other, m.score, "
                "m.shared_track_count, m.shared_artist_count, m.shared_genre_count, "
                "m.song_that_brings_you_together, m.computed_at "
                "FROM user_taste_matches m JOIN users u ON u.id = m.other_user_id "
                "WHERE m.user_id = :u AND m.computed_at = (SELECT computed_at FROM latest_taste_match_run) "
                "ORDER BY m.rank"
            ),
            {"u": user_id},
        ).mappings()
    )


def pair_history(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> list[RowMapping]:
    """The pair's stored score at every complete run where either was in the other's top-k, oldest
    first."""
    return list(
        conn.execute(
            sa.text(
                "SELECT DISTINCT ON (computed_at) computed_at, score, shared_track_count, "
                "shared_artist_count, shared_genre_count FROM user_taste_matches "
                "WHERE ((user_id = :a AND other_user_id = :b) OR (user_id = :b AND other_user_id = :a)) "
                "AND computed_at IN (SELECT computed_at FROM complete_taste_match_runs) "
                "ORDER BY computed_at, user_id"
            ),
            {"a": a, "b": b},
        ).mappings()
    )


def stored_match(conn: Connection, user_id: uuid.UUID, other_id: uuid.UUID) -> dict[str, Any] | None:
    """The pair's taste match from the latest analytics run, if either is in the other's top-k
    (the score is symmetric; the index on (user_id, computed_at, rank) answers each side)."""
    found = (
        conn.execute(
            sa.text(
                "SELECT m.score, m.components, m.shared_tracks, m.shared_artists, m.shared_genres, "
                "m.shared_track_count, m.shared_artist_count, m.song_that_brings_you_together, m.computed_at "
                "FROM latest_user_taste_matches m "
                "WHERE (m.user_id = :u AND m.other_user_id = :o) OR (m.user_id = :o AND m.other_user_id = :u) "
                "ORDER BY m.user_id = :u DESC LIMIT 1"
            ),
            {"u": user_id, "o": other_id},
        )
        .mappings()
        .first()
    )
    return dict(found) if found else None


def stored_scores(conn: Connection, user_id: uuid.UUID) -> dict[str, float]:
    """other user id -> the stored score of the user's current top-k (the friends page)."""
    rows = conn.execute(
        sa.text("SELECT other_user_id::text, score FROM latest_user_taste_matches WHERE user_id = :u"),
        {"u": user_id},
    )
    return {str(o): float(s) for o, s in rows}
