"""Reads of the music tables for analytics and the command line: the schema document's three query
patterns (profile, overlap, recent) as index-friendly SQL, the rows members' tastes are built from,
and row counts.

Each query keeps the document's shape and is extended where the append-only warehouse needs it:
counts show the current state (latest snapshots) beside everything stored, and the overlap reads
current top lists rather than every snapshot ever fetched (which would repeat each shared track once
per pair of snapshots). Every statement filters on ``user_id`` first, which leads an index.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from blendify_assets.db.music.tables import IS_EXPORT, TABLES

PROFILE_TABLES = (
    ("top_tracks", "user_top_tracks", "latest_user_top_tracks"),
    ("top_artists", "user_top_artists", "latest_user_top_artists"),
    ("saved_tracks", "user_saved_tracks", "latest_user_saved_tracks"),
    ("saved_albums", "user_saved_albums", "latest_user_saved_albums"),
    ("followed_artists", "user_followed_artists", "latest_user_followed_artists"),
    ("playlists", "user_playlists", "latest_user_playlists"),
    ("playlist_tracks", "user_playlist_tracks", "latest_user_playlist_tracks"),
    ("recently_played", "user_recently_played", "user_recently_played"),
)

PROFILE_SQL = "\nUNION ALL\n".join(
    f"SELECT '{name}' AS type, provider::text AS provider, 'stored' AS kind, count(*) AS n "
    f"FROM {table} WHERE user_id = :u GROUP BY provider\n"
    f"UNION ALL\n"
    f"SELECT '{name}', provider::text, 'current', count(*) FROM {view} WHERE user_id = :u GROUP BY provider"
    for name, table, view in PROFILE_TABLES
)
"""Per type and provider: rows in the current state, and rows stored over all time."""

SAME_PROVIDER_OVERLAP_SQL = """
SELECT t1.provider::text AS provider, t1.track_id, min(t1.track_name) AS track_name,
       min(t1.artist_name) AS artist_name, min(t1.rank) AS rank_a, min(t2.rank) AS rank_b
FROM latest_user_top_tracks t1
JOIN latest_user_top_tracks t2 ON t1.track_id = t2.track_id AND t1.provider = t2.provider
WHERE t1.user_id = :a AND t2.user_id = :b
GROUP BY t1.provider, t1.track_id
ORDER BY min(t1.rank) + min(t2.rank), t1.track_id
"""
"""The document's self-join, on current top lists, one row per shared track (best ranks)."""

RECENT_SQL = """
SELECT track_name, artist_name, album_name, played_at, provider::text AS provider
FROM user_recently_played
WHERE user_id = :u
ORDER BY played_at DESC
LIMIT :n
"""
"""The document's query as written; ``(user_id, played_at DESC)`` makes it a short index scan."""


def profile(conn: Connection, user_id: uuid.UUID) -> list[dict[str, object]]:
    """One row per (type, provider): current and stored counts."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for kind_name, provider, kind, n in conn.execute(sa.text(PROFILE_SQL), {"u": user_id}):
        counts.setdefault((kind_name, provider), {"current": 0, "stored": 0})[kind] = int(n)
    order = {name: i for i, (name, _, _) in enumerate(PROFILE_TABLES)}
    return [
        {"type": t, "provider": p, **c}
        for (t, p), c in sorted(counts.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
    ]


def same_provider_overlap(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> list[RowMapping]:
    return list(conn.execute(sa.text(SAME_PROVIDER_OVERLAP_SQL), {"a": a, "b": b}).mappings())


def recent(conn: Connection, user_id: uuid.UUID, limit: int = 50) -> list[RowMapping]:
    return list(conn.execute(sa.text(RECENT_SQL), {"u": user_id, "n": limit}).mappings())


# --- members' tastes ------------------------------------------------------------------------------

TRACK_COLUMNS = "provider::text AS provider, track_id, track_name, artist_name, album_name, album_art_url, duration_ms, isrc"

SOURCE_QUERIES: Mapping[str, str] = {
    "top_tracks": f"SELECT user_id, {TRACK_COLUMNS}, time_range::text AS time_range, rank, fetched_at FROM latest_user_top_tracks",
    "recently_played": f"SELECT user_id, {TRACK_COLUMNS}, played_at FROM "
    f"(SELECT * FROM user_recently_played WHERE NOT coalesce({IS_EXPORT}, false)) AS api_plays",
    "history_plays": "SELECT * FROM (SELECT user_id, provider::text AS provider, track_id, "
    "min(track_name) AS track_name, min(artist_name) AS artist_name, min(album_name) AS album_name, "
    "NULL::text AS album_art_url, NULL::integer AS duration_ms, max(isrc) AS isrc, count(*) AS plays, "
    f"max(played_at) AS last_played_at FROM user_recently_played WHERE {IS_EXPORT} "
    "GROUP BY user_id, provider, track_id) AS history_plays",
    "saved_tracks": f"SELECT user_id, {TRACK_COLUMNS}, saved_at, fetched_at FROM latest_user_saved_tracks",
    "playlist_tracks": f"SELECT user_id, {TRACK_COLUMNS}, playlist_id, item_type, fetched_at FROM latest_user_playlist_tracks",
    "top_artists": "SELECT user_id, artist_name, genres, time_range::text AS time_range, rank, fetched_at FROM latest_user_top_artists",
    "followed_artists": "SELECT user_id, artist_name, genres, fetched_at FROM latest_user_followed_artists",
    "saved_albums": "SELECT user_id, artist_name, album_name, genres, fetched_at FROM latest_user_saved_albums",
}
"""Only the columns the taste model reads, never the jsonb API payloads. Plays imported from a
lifetime-history export (issue 15) are read as one row per (user, provider, track) with their count
(``history_plays``), not play by play: ten years of listening cost one row per song, and the API's
plays (``recently_played``) keep their own, recency-weighted signal. ``fetched_at`` dates the
member's data, so a like's age is measured from their latest snapshot, not from the clock."""

Rows = dict[str, list[dict[str, object]]]


def _per_user(sql: str, *, first_only: bool = False) -> str:
    """The same query for a list of users, one index probe each.

    ``OFFSET 0`` keeps the per-user subquery from being flattened into a join over all users: flattened,
    ``user_id = u.id`` is a join clause, which Postgres does not push into the ``DISTINCT ON`` of
    ``latest_snapshots``, so every page of users sorted every user's snapshots of the table (reads
    grew with users²). Kept as a subquery, ``u.id`` is a parameter, the filter reaches
    ``snapshots`` and ``idx_snapshots_latest`` (``user_id`` first) reads only this user's snapshots."""
    return (
        f"SELECT v.* FROM unnest(CAST(:ids AS uuid[])) AS u(id) "
        f"CROSS JOIN LATERAL (SELECT * FROM ({sql}) AS q WHERE user_id = u.id{' LIMIT 1' * first_only} OFFSET 0) v"
    )


def taste_rows(
    conn: Connection, user_ids: Sequence[str] | None = None, sources: Collection[str] | None = None
) -> dict[str, Rows]:
    """View rows by user id, then by source; ``None`` reads every user's (every source's)."""
    unknown = set(sources or ()) - set(SOURCE_QUERIES)
    if unknown:
        raise ValueError(f"unknown taste sources {sorted(unknown)}; expected some of {list(SOURCE_QUERIES)}")
    out: dict[str, Rows] = defaultdict(lambda: defaultdict(list))
    for source, sql in SOURCE_QUERIES.items():
        if sources is not None and source not in sources:
            continue
        if user_ids is None:
            result = conn.execute(sa.text(sql))
        else:
            result = conn.execute(sa.text(_per_user(sql)), {"ids": [str(u) for u in user_ids]})
        columns = list(result.keys())[1:]
        for row in result:
            out[str(row[0])][source].append(dict(zip(columns, row[1:], strict=True)))
    return out


def users_with_rows(conn: Connection, user_ids: Sequence[str], sources: Collection[str]) -> set[str]:
    """Which of these users have a row in any of these sources (one short probe per user and source)."""
    found: set[str] = set()
    for source in sources:
        probe = f"SELECT w.user_id::text FROM ({_per_user(SOURCE_QUERIES[source], first_only=True)}) AS w"
        found.update(conn.execute(sa.text(probe), {"ids": [str(u) for u in user_ids]}).scalars())
    return found


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows stored in every music table and in `snapshots`."""
    with engine.connect() as conn:
        return {
            table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in [*TABLES, "snapshots"]
        }


def column_schema(engine: Engine, table: str) -> list[tuple[str, str, bool]]:
    """(column, type, nullable) of a music table as the database has it, in column order."""
    if table not in TABLES:
        raise KeyError(table)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t ORDER BY ordinal_position"
            ),
            {"t": table},
        ).all()
    return [(name, kind, bool(nullable)) for name, kind, nullable in rows]
