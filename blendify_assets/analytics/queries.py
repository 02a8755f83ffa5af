"""The schema document's three query patterns (profile, overlap, recent), as index-friendly SQL.

Each keeps the document's shape and is extended where the append-only warehouse needs it: counts
show the current state (latest snapshots) beside everything stored, and the overlap reads current
top lists rather than every snapshot ever fetched (which would repeat each shared track once per
pair of snapshots). Every statement filters on ``user_id`` first, which leads an index.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from blendify_assets.analytics.tastes import load_tastes
from blendify_assets.blend import PairOverlap, pair_overlap

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

LAST_SYNC_SQL = (
    "SELECT provider::text AS provider, max(finished_at) AS finished_at, "
    "count(*) FILTER (WHERE status <> 'success') AS failing "
    "FROM latest_sync_status WHERE user_id = :u GROUP BY provider ORDER BY provider"
)

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


def last_syncs(conn: Connection, user_id: uuid.UUID) -> list[Mapping[str, object]]:
    return list(conn.execute(sa.text(LAST_SYNC_SQL), {"u": user_id}).mappings())


def same_provider_overlap(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> list[Mapping[str, object]]:
    return list(conn.execute(sa.text(SAME_PROVIDER_OVERLAP_SQL), {"a": a, "b": b}).mappings())


def taste_match(conn: Connection, a: uuid.UUID, b: uuid.UUID) -> PairOverlap:
    """The live taste match of two users across all their providers (same formula as the asset)."""
    tastes = {t.user_id: t for t in load_tastes(conn, [str(a), str(b)])}
    return pair_overlap(tastes[str(a)], tastes[str(b)])


def recent(conn: Connection, user_id: uuid.UUID, limit: int = 50) -> list[Mapping[str, object]]:
    return list(conn.execute(sa.text(RECENT_SQL), {"u": user_id, "n": limit}).mappings())
