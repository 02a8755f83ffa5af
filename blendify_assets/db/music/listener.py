"""What a listener sees of their own music on the web app's pages: top lists, plays, playlists,
the library, and how top lists changed between syncs. Every read filters on the user first (an
index leads with it); the caller has already checked the user may see it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def _row(conn: Connection, sql: str, **params: Any) -> dict[str, Any] | None:
    found = conn.execute(sa.text(sql), params).mappings().first()
    return dict(found) if found else None


def top_tracks(
    conn: Connection, user_id: uuid.UUID, time_range: str, limit: int = 50
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT provider::text AS provider, rank, track_name, artist_name, album_name, album_art_url, "
        "duration_ms, fetched_at FROM latest_user_top_tracks "
        "WHERE user_id = :u AND time_range = CAST(:r AS time_range) AND rank <= :n ORDER BY provider, rank",
        u=user_id,
        r=time_range,
        n=limit,
    )


def top_artists(
    conn: Connection, user_id: uuid.UUID, time_range: str, limit: int = 50
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT provider::text AS provider, rank, artist_name, image_url, genres, fetched_at "
        "FROM latest_user_top_artists "
        "WHERE user_id = :u AND time_range = CAST(:r AS time_range) AND rank <= :n ORDER BY provider, rank",
        u=user_id,
        r=time_range,
        n=limit,
    )


def recently_played(
    conn: Connection, user_id: uuid.UUID, limit: int, before: datetime | None = None
) -> list[dict[str, Any]]:
    """Newest first; Apple's plays carry inferred times (``estimated``)."""
    return _rows(
        conn,
        "SELECT provider::text AS provider, track_name, artist_name, album_name, album_art_url, played_at, "
        "coalesce(track_metadata->'_blendify'->>'played_at' = 'inferred', false) AS estimated "
        "FROM user_recently_played WHERE user_id = :u AND played_at < coalesce(CAST(:b AS timestamp), 'infinity') "
        "ORDER BY played_at DESC LIMIT :n",
        u=user_id,
        b=before,
        n=limit,
    )


def playlists(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT provider::text AS provider, playlist_id, playlist_name, description, image_url, track_count, "
        "is_owner, owner_name, is_public FROM latest_user_playlists WHERE user_id = :u "
        "ORDER BY is_owner DESC, lower(playlist_name), playlist_id",
        u=user_id,
    )


def playlist(conn: Connection, user_id: uuid.UUID, provider: str, playlist_id: str) -> dict[str, Any] | None:
    return _row(
        conn,
        "SELECT provider::text AS provider, playlist_id, playlist_name, description, image_url, track_count, "
        "is_owner, owner_name FROM latest_user_playlists "
        "WHERE user_id = :u AND provider = CAST(:p AS provider) AND playlist_id = :id",
        u=user_id,
        p=provider,
        id=playlist_id,
    )


def playlist_tracks(
    conn: Connection, user_id: uuid.UUID, provider: str, playlist_id: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT track_position, track_name, artist_name, album_name, album_art_url, duration_ms, added_at, "
        "item_type FROM latest_user_playlist_tracks "
        "WHERE user_id = :u AND provider = CAST(:p AS provider) AND playlist_id = :id "
        "ORDER BY track_position NULLS LAST, track_name LIMIT :n OFFSET :o",
        u=user_id,
        p=provider,
        id=playlist_id,
        n=limit,
        o=offset,
    )


LIBRARY_QUERIES: Mapping[str, tuple[str, str]] = {
    "tracks": (
        "latest_user_saved_tracks",
        "SELECT provider::text AS provider, track_name AS title, artist_name, album_name AS detail, "
        "album_art_url AS image_url, saved_at AS dated FROM latest_user_saved_tracks WHERE user_id = :u "
        "ORDER BY saved_at DESC NULLS LAST, track_name, track_id LIMIT :n OFFSET :o",
    ),
    "albums": (
        "latest_user_saved_albums",
        "SELECT provider::text AS provider, album_name AS title, artist_name, release_date AS detail, "
        "image_url, saved_at AS dated FROM latest_user_saved_albums WHERE user_id = :u "
        "ORDER BY saved_at DESC NULLS LAST, album_name, album_id LIMIT :n OFFSET :o",
    ),
    "artists": (
        "latest_user_followed_artists",
        "SELECT provider::text AS provider, artist_name AS title, NULL AS artist_name, "
        "genres::text AS detail, image_url, NULL::timestamp AS dated FROM latest_user_followed_artists "
        "WHERE user_id = :u ORDER BY lower(artist_name), artist_id LIMIT :n OFFSET :o",
    ),
}


def library(
    conn: Connection, user_id: uuid.UUID, kind: str, limit: int, offset: int
) -> tuple[int, list[dict]]:
    """(total, one page) of saved tracks, saved albums or followed artists."""
    view, sql = LIBRARY_QUERIES[kind]
    total = conn.execute(
        sa.text(f"SELECT count(*) FROM {view} WHERE user_id = :u"), {"u": user_id}
    ).scalar_one()
    return int(total), _rows(conn, sql, u=user_id, n=limit, o=offset)


def top_list_versions(conn: Connection, user_id: uuid.UUID, table: str) -> list[dict[str, Any]]:
    """The two newest stored versions of each top list (provider, time range) whose content changed."""
    return _rows(
        conn,
        """
        SELECT provider, scope, fetched_at FROM (
            SELECT provider::text AS provider, scope, fetched_at,
                   row_number() OVER (PARTITION BY provider, scope ORDER BY fetched_at DESC) AS n
            FROM snapshots
            WHERE user_id = :u AND table_name = :t AND content_fetched_at IS NULL AND row_count > 0
        ) v WHERE n <= 2 ORDER BY provider, scope, fetched_at
        """,
        u=user_id,
        t=table,
    )


def top_list_at(
    conn: Connection, user_id: uuid.UUID, table: str, provider: str, scope: str, fetched_at: datetime
) -> list[dict[str, Any]]:
    """One stored version of a top list: (name, artist, rank) in rank order."""
    name = "track_name" if table == "user_top_tracks" else "artist_name"
    artist = "artist_name" if table == "user_top_tracks" else "NULL"
    return _rows(
        conn,
        f"SELECT {name} AS name, {artist} AS artist_name, rank FROM {table} "
        "WHERE user_id = :u AND provider = CAST(:p AS provider) AND time_range = CAST(:s AS time_range) "
        "AND fetched_at = :f ORDER BY rank",
        u=user_id,
        p=provider,
        s=scope,
        f=fetched_at,
    )


def with_music(conn: Connection, user_ids: Sequence[uuid.UUID]) -> set[str]:
    """Which of these users have any synced music (a stored snapshot of any list)."""
    rows = conn.execute(
        sa.text(
            "SELECT u.id::text FROM unnest(CAST(:ids AS uuid[])) AS u(id) "
            "WHERE EXISTS (SELECT 1 FROM snapshots s WHERE s.user_id = u.id)"
        ),
        {"ids": [str(u) for u in user_ids]},
    )
    return {r[0] for r in rows}


def music_version(conn: Connection, user_ids: Sequence[uuid.UUID]) -> datetime | None:
    """When any of these users' stored music last changed (a live match is cached until then)."""
    return conn.execute(
        sa.text(
            "SELECT max(s.fetched_at) FROM unnest(CAST(:ids AS uuid[])) AS u(id) "
            "CROSS JOIN LATERAL (SELECT max(fetched_at) AS fetched_at FROM snapshots WHERE user_id = u.id) s"
        ),
        {"ids": [str(u) for u in user_ids]},
    ).scalar()
