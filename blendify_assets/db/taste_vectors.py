"""The working data of a bucketed taste-match computation: `taste_vectors` (each user's taste
vector, packed) and `taste_track_clusters` (identity clusters a per-track key cannot give).

Scratch, not history: a new computation deletes the rows of all but the previous one, so a bucket
of that one still running keeps its data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from blendify_assets.db.copy import copy_rows

VECTOR_COLUMNS = ("run_id", "user_id", "bucket", "kinds", "items", "weights")
CLUSTER_COLUMNS = ("run_id", "provider", "track_id", "cluster_id", "method", "confidence")

VectorRow = tuple[str, int, bytes, bytes]
"""(user id, kinds bit mask, packed item codes, packed weights)."""


def keep_only(conn: Connection, run_ids: Sequence[int]) -> None:
    """Delete the working data of every computation but these."""
    keep = {"keep": list(run_ids)}
    conn.execute(sa.text("DELETE FROM taste_vectors WHERE NOT run_id = ANY(CAST(:keep AS bigint[]))"), keep)
    conn.execute(
        sa.text("DELETE FROM taste_track_clusters WHERE NOT run_id = ANY(CAST(:keep AS bigint[]))"), keep
    )


def previous_run(conn: Connection) -> int | None:
    """The newest computation that still has vectors."""
    found = conn.execute(sa.text("SELECT max(run_id) FROM taste_vectors")).scalar()
    return None if found is None else int(found)


def append_vectors(conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows in VECTOR_COLUMNS order, by COPY, in the caller's transaction."""
    copy_rows(conn, "taste_vectors", VECTOR_COLUMNS, rows)


def append_clusters(conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Rows in CLUSTER_COLUMNS order, by COPY, in the caller's transaction."""
    copy_rows(conn, "taste_track_clusters", CLUSTER_COLUMNS, rows)


def user_kinds(conn: Connection, run_id: int) -> Iterator[tuple[str, int]]:
    """(user id, kinds bit mask) of every user of the computation, in user-id order."""
    result = conn.execution_options(stream_results=True, yield_per=50_000).execute(
        sa.text("SELECT user_id::text, kinds FROM taste_vectors WHERE run_id = :r ORDER BY user_id"),
        {"r": run_id},
    )
    for user, kinds in result:
        yield str(user), int(kinds)


def bucket_vectors(conn: Connection, run_id: int, bucket: int) -> list[VectorRow]:
    """The vectors of one bucket's users, in user-id order."""
    rows = conn.execute(
        sa.text(
            "SELECT user_id::text, kinds, items, weights FROM taste_vectors "
            "WHERE run_id = :r AND bucket = :b ORDER BY user_id"
        ),
        {"r": run_id, "b": bucket},
    )
    return [(str(u), int(k), bytes(i), bytes(w)) for u, k, i, w in rows]


def vector_blocks(conn: Connection, run_id: int, users_per_block: int) -> Iterator[list[VectorRow]]:
    """Every user's vector in user-id order, a block of users at a time (a server-side cursor, so
    only one block is in memory)."""
    result = conn.execution_options(stream_results=True, yield_per=users_per_block).execute(
        sa.text(
            "SELECT user_id::text, kinds, items, weights FROM taste_vectors WHERE run_id = :r ORDER BY user_id"
        ),
        {"r": run_id},
    )
    for part in result.partitions(users_per_block):
        yield [(str(u), int(k), bytes(i), bytes(w)) for u, k, i, w in part]


def clusters_for(
    conn: Connection, run_id: int, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str, float]]:
    """(provider, track_id) -> (cluster id, method, confidence) for the keys stored."""
    if not keys:
        return {}
    rows = conn.execute(
        sa.text(
            "SELECT c.provider, c.track_id, c.cluster_id, c.method, c.confidence "
            "FROM unnest(CAST(:p AS text[]), CAST(:t AS text[])) AS k(provider, track_id) "
            "JOIN taste_track_clusters c ON c.run_id = :r AND c.provider = k.provider AND c.track_id = k.track_id"
        ),
        {"r": run_id, "p": [p for p, _ in keys], "t": [t for _, t in keys]},
    )
    return {(str(p), str(t)): (str(c), str(m), float(f)) for p, t, c, m, f in rows}
