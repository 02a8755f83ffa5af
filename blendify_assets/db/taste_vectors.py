"""The working data of a bucketed taste-match computation: `taste_vectors` (each user's taste
vector, packed) and `taste_track_clusters` (identity clusters a per-track key cannot give).

Scratch, not history: a new computation deletes the rows of all but the previous one, so a bucket
of that one still running keeps its data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast

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


# --- the identity's working tables (issue 18: out of the preparing process's memory) -------------
# Temporary tables of the preparing transaction (dropped at its commit): the distinct tracks the
# users hold (the last user's copy, in user-id order, and whether copies disagree on the ISRC),
# then the same tracks numbered in key order with their normalised block keys, then the cluster
# of each linked track and each cluster's weakest link. Keys sort as Python sorts strings (code
# points: COLLATE "C").

SeenTrack = tuple[str, str, str, str, int | None, str | None, bool]
"""(provider, track_id, track_name, artist_name, duration_ms, isrc, copies disagree on the ISRC)."""
NumberedTrack = tuple[int, str, str, str | None, str, str, str, int | None, bool]
"""(number, provider, track_id, isrc, primary artist key, version words, title key, duration_ms,
copies disagree on the ISRC)."""
BlockTrack = tuple[int, str, str, str | None, int | None]
"""(number, title key, primary artist key, isrc, duration_ms)."""

TRACK_TABLES_BUFFERS = "1GB"
"""``temp_buffers`` for the session holding the working tables. PostgreSQL's 8 MB default made each
page's upsert re-read the tracks' index from the OS at 100k users (~1.8 M tracks, ~1 s a page,
3.3 TB read); the server takes this memory only as the tables grow (~150 bytes a track with its
index), and returns it when the session closes."""

_TRACK_TABLES = (
    """CREATE TEMP TABLE taste_tracks_seen (
        provider text COLLATE "C" NOT NULL, track_id text COLLATE "C" NOT NULL, track_name text NOT NULL,
        artist_name text NOT NULL, duration_ms integer, isrc text, conflict boolean NOT NULL,
        PRIMARY KEY (provider, track_id)) ON COMMIT DROP""",
    """CREATE TEMP TABLE taste_tracks_numbered (
        idx bigint PRIMARY KEY, provider text NOT NULL, track_id text NOT NULL, isrc text COLLATE "C",
        artist text COLLATE "C" NOT NULL, versions text COLLATE "C" NOT NULL,
        title text COLLATE "C" NOT NULL, duration_ms integer, conflict boolean NOT NULL) ON COMMIT DROP""",
    "CREATE TEMP TABLE taste_tracks_roots (idx bigint PRIMARY KEY, root bigint NOT NULL) ON COMMIT DROP",
    """CREATE TEMP TABLE taste_tracks_weakest (
        root bigint PRIMARY KEY, method text NOT NULL, confidence double precision NOT NULL) ON COMMIT DROP""",
)


def open_track_tables(conn: Connection) -> None:
    """Create the identity's working tables for this transaction (on a session given
    :data:`TRACK_TABLES_BUFFERS`: :func:`db.engine.own_session`)."""
    for statement in _TRACK_TABLES:
        conn.execute(sa.text(statement))


def add_track_copies(conn: Connection, rows: Sequence[SeenTrack]) -> None:
    """Merge one page's copies (one per track, the page's last) into the distinct tracks: a later
    page's copy replaces an earlier one's, and a track is in conflict once two copies' ISRCs differ."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    conn.execute(
        sa.text(
            "INSERT INTO taste_tracks_seen AS t "
            "SELECT * FROM unnest(CAST(:p AS text[]), CAST(:t AS text[]), CAST(:n AS text[]), "
            "CAST(:a AS text[]), CAST(:d AS integer[]), CAST(:i AS text[]), CAST(:c AS boolean[])) "
            "ON CONFLICT (provider, track_id) DO UPDATE SET track_name = excluded.track_name, "
            "artist_name = excluded.artist_name, duration_ms = excluded.duration_ms, isrc = excluded.isrc, "
            "conflict = t.conflict OR excluded.conflict OR t.isrc IS DISTINCT FROM excluded.isrc "
            # Only a copy that changes the row writes one: every update leaves a dead row version,
            # and nothing vacuums a temporary table (at 100k users ~15x the tracks, past temp_buffers).
            "WHERE (t.track_name, t.artist_name, t.duration_ms, t.isrc) IS DISTINCT FROM "
            "(excluded.track_name, excluded.artist_name, excluded.duration_ms, excluded.isrc) "
            "OR (excluded.conflict AND NOT t.conflict)"
        ),
        {
            "p": list(columns[0]), "t": list(columns[1]), "n": list(columns[2]), "a": list(columns[3]),
            "d": list(columns[4]), "i": list(columns[5]), "c": list(columns[6]),
        },
    )  # fmt: skip


_CURSORS = itertools.count()
FETCH_ROWS = 20_000
"""Rows of the working tables fetched at once."""


def _fetch_pages(conn: Connection, query: str, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """A query's rows, `size` at a time, through a cursor of the transaction (other statements may
    run on the connection between pages)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor(name=f"taste_tracks_{next(_CURSORS)}") as cursor:
        cursor.execute(query)
        while rows := cursor.fetchmany(size):
            yield [tuple(r) for r in rows]


def seen_tracks(conn: Connection, size: int) -> Iterator[list[SeenTrack]]:
    """The distinct tracks in key order, `size` at a time."""
    query = (
        "SELECT provider, track_id, track_name, artist_name, duration_ms, isrc, conflict "
        "FROM taste_tracks_seen ORDER BY provider, track_id"
    )
    for page in _fetch_pages(conn, query, size):
        yield [cast(SeenTrack, r) for r in page]


def add_numbered_tracks(conn: Connection, rows: Iterable[NumberedTrack]) -> None:
    copy_rows(
        conn,
        "taste_tracks_numbered",
        ("idx", "provider", "track_id", "isrc", "artist", "versions", "title", "duration_ms", "conflict"),
        rows,
    )


def forget_seen_tracks(conn: Connection) -> None:
    """The copies are numbered: free their space, and index the numbers by track."""
    conn.execute(sa.text("TRUNCATE taste_tracks_seen"))
    conn.execute(sa.text("CREATE INDEX ON taste_tracks_numbered (provider, track_id)"))
    conn.execute(sa.text("ANALYZE taste_tracks_numbered"))


def isrc_groups(conn: Connection) -> Iterator[list[int]]:
    """The numbers of the tracks sharing each ISRC, ascending, for ISRCs of several tracks."""
    query = (
        "SELECT array_agg(idx ORDER BY idx) FROM taste_tracks_numbered WHERE isrc IS NOT NULL "
        "GROUP BY isrc HAVING count(*) > 1"
    )
    for page in _fetch_pages(conn, query, FETCH_ROWS):
        for (group,) in page:
            yield [int(i) for i in group]


def track_blocks(conn: Connection, by: str) -> Iterator[list[BlockTrack]]:
    """Blocks of several tracks with equal keys (`by`: "artist" - primary artist and version
    words - or "title"), in order of their smallest number, each block's tracks ascending."""
    keys = {"artist": "artist, versions", "title": "title"}[by]
    query = (
        "SELECT idx, title, artist, isrc, duration_ms, first FROM ("
        "SELECT idx, title, artist, isrc, duration_ms, min(idx) OVER w AS first, count(*) OVER w AS n "
        f"FROM taste_tracks_numbered WINDOW w AS (PARTITION BY {keys})) b "
        "WHERE n > 1 ORDER BY first, idx"
    )
    block: list[BlockTrack] = []
    current = -1
    for page in _fetch_pages(conn, query, FETCH_ROWS):
        for idx, title, artist, isrc, duration, first in page:
            if first != current and block:
                yield block
                block = []
            current = first
            block.append((int(idx), str(title), str(artist), isrc, duration))
    if block:
        yield block


def store_clusters(
    conn: Connection, run_id: int, roots: Iterable[tuple[int, int]], weakest: Iterable[tuple[int, str, float]]
) -> int:
    """Store the computation's clusters that a per-track key cannot give: every track of a cluster
    of several (``roots``: (number, root) of each), and each track whose copies disagree on the ISRC.
    A cluster is named ``isrc:<smallest ISRC>``, else ``provider:track_id`` of its smallest number;
    its match is its weakest link (``weakest``: root, method, confidence). Returns rows stored."""
    copy_rows(conn, "taste_tracks_roots", ("idx", "root"), roots)
    copy_rows(conn, "taste_tracks_weakest", ("root", "method", "confidence"), weakest)
    return conn.execute(
        sa.text(
            "WITH linked AS ("
            "  SELECT n.idx, coalesce(r.root, n.idx) AS root, n.provider, n.track_id, n.isrc "
            "  FROM taste_tracks_numbered n LEFT JOIN taste_tracks_roots r ON r.idx = n.idx "
            "  WHERE r.root IS NOT NULL OR n.conflict), "
            "named AS ("
            "  SELECT root, coalesce('isrc:' || min(isrc), "
            "    (array_agg(provider || ':' || track_id ORDER BY idx))[1]) AS cluster_id "
            "  FROM linked GROUP BY root) "
            "INSERT INTO taste_track_clusters (run_id, provider, track_id, cluster_id, method, confidence) "
            "SELECT :r, l.provider, l.track_id, c.cluster_id, coalesce(w.method, 'single'), "
            "  coalesce(w.confidence, 1.0) "
            "FROM linked l JOIN named c ON c.root = l.root LEFT JOIN taste_tracks_weakest w ON w.root = l.root"
        ),
        {"r": run_id},
    ).rowcount


def cluster_numbers(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(provider, track_id) -> its cluster's number (the smallest number among its tracks), for
    the keys numbered in this transaction (after :func:`store_clusters`)."""
    if not keys:
        return {}
    rows = conn.execute(
        sa.text(
            "SELECT n.provider, n.track_id, coalesce(r.root, n.idx) "
            "FROM unnest(CAST(:p AS text[]), CAST(:t AS text[])) AS k(provider, track_id) "
            "JOIN taste_tracks_numbered n ON n.provider = k.provider AND n.track_id = k.track_id "
            "LEFT JOIN taste_tracks_roots r ON r.idx = n.idx"
        ),
        {"p": [p for p, _ in keys], "t": [t for _, t in keys]},
    )
    return {(str(p), str(t)): int(c) for p, t, c in rows}
