"""The taste-match tables: `taste_match_runs` and `user_taste_matches` (append-only), with their
`latest_*` views. Each run is appended whole, so a pair's score over time is a query."""

from __future__ import annotations

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


def current_neighbours(conn: Connection, user_id: uuid.UUID) -> list[RowMapping]:
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


def pair_history(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> list[RowMapping]:
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
