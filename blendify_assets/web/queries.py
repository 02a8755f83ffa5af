"""Every SQL statement of the web app, in one place: reads first, then the writes it owns.

Writes to ``users``, ``provider_connections``, ``blends`` and ``blend_participants`` are not here:
they go through the same owners the command line uses (``db.accounts``, ``blends_service``). What
is here writes only the web app's own tables (``login_attempts``, ``blend_invites``). Every read
filters on the signed-in user (or a blend the caller has already checked they belong to) first,
which leads an index. No statement returns a token, a password hash to a page, or another user's
email: the pages get display names only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

Row = Mapping[str, Any]


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def _row(conn: Connection, sql: str, **params: Any) -> dict[str, Any] | None:
    found = conn.execute(sa.text(sql), params).mappings().first()
    return dict(found) if found else None


# === reads ==========================================================================================

# --- accounts --------------------------------------------------------------------------------------


def session_user(conn: Connection, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The signed-in user (the hash only to check the session still matches it)."""
    return _row(
        conn,
        "SELECT id, email, display_name, password_hash, avatar_url, created_at FROM users WHERE id = :u",
        u=user_id,
    )


def demo_users(conn: Connection, domain: str) -> list[dict[str, Any]]:
    """The simulator's users (their addresses end in `domain`), for the demo sign-in page."""
    return _rows(
        conn,
        "SELECT u.id, u.display_name, string_agg(c.provider::text, ',' ORDER BY c.provider) AS providers "
        "FROM users u LEFT JOIN provider_connections c ON c.user_id = u.id "
        "WHERE u.email LIKE '%' || :d GROUP BY u.id ORDER BY u.email",
        d=domain,
    )


def user_for_signin(conn: Connection, email: str) -> dict[str, Any] | None:
    return _row(conn, "SELECT id, password_hash FROM users WHERE email = :e", e=email)


def user_id_by_email(conn: Connection, email: str) -> uuid.UUID | None:
    return conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar()


def spotify_account_owner(conn: Connection, account_id: str) -> uuid.UUID | None:
    """The Blendify user whose Spotify connection is this Spotify account (the oldest, if several)."""
    return conn.execute(
        sa.text(
            "SELECT c.user_id FROM provider_connections c JOIN users u ON u.id = c.user_id "
            "WHERE c.provider = 'spotify' AND c.provider_user_id = :a ORDER BY u.created_at LIMIT 1"
        ),
        {"a": account_id},
    ).scalar()


def connection_status(conn: Connection, user_id: uuid.UUID, provider: str) -> str | None:
    return conn.execute(
        sa.text(
            "SELECT status::text FROM provider_connections WHERE user_id = :u AND provider = CAST(:p AS provider)"
        ),
        {"u": user_id, "p": provider},
    ).scalar()


def failed_signins_since(conn: Connection, account_key: str, since: datetime) -> int:
    """Failed password attempts on this account since `since` and since its last success."""
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM login_attempts WHERE account_key = :k AND NOT succeeded "
                "AND attempted_at > greatest(CAST(:since AS timestamp), coalesce((SELECT max(attempted_at) "
                "FROM login_attempts WHERE account_key = :k AND succeeded), CAST(:since AS timestamp)))"
            ),
            {"k": account_key, "since": since},
        ).scalar_one()
    )


def oldest_counted_failure(conn: Connection, account_key: str, since: datetime, n: int) -> datetime | None:
    """When the n-th most recent failure happened (the throttle lifts `window` after it)."""
    return conn.execute(
        sa.text(
            "SELECT attempted_at FROM login_attempts WHERE account_key = :k AND NOT succeeded "
            "AND attempted_at > :since ORDER BY attempted_at DESC OFFSET :o LIMIT 1"
        ),
        {"k": account_key, "since": since, "o": n - 1},
    ).scalar()


def failed_signins_from_client(conn: Connection, client: str, since: datetime) -> int:
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM login_attempts WHERE client = :c AND NOT succeeded AND attempted_at > :s"
            ),
            {"c": client, "s": since},
        ).scalar_one()
    )


# --- connections -------------------------------------------------------------------------------------


def connections(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's connections (no tokens), with the time of the last sync that started after a
    re-sync request (None while the request waits)."""
    return _rows(
        conn,
        """
        SELECT c.provider::text AS provider, c.status::text AS status, c.status_reason,
               c.status_changed_at, c.authorized_at, c.created_at, c.resync_requested_at,
               (SELECT max(l.started_at) FROM sync_log l
                 WHERE l.user_id = c.user_id AND l.provider = c.provider) AS last_sync_started
        FROM provider_connections c WHERE c.user_id = :u ORDER BY c.provider
        """,
        u=user_id,
    )


def sync_status(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The last check of every (provider, endpoint) of the user (the sync log's latest rows)."""
    return _rows(
        conn,
        """
        SELECT DISTINCT ON (provider, endpoint) provider::text AS provider, endpoint, finished_at,
               status, changed, rows_appended, error
        FROM sync_log WHERE user_id = :u
        ORDER BY provider, endpoint, finished_at DESC
        """,
        u=user_id,
    )


# --- your music --------------------------------------------------------------------------------------


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


# --- blends and friends ---------------------------------------------------------------------------------


def blends_of(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The blends the user is a member of, newest activity first."""
    return _rows(
        conn,
        """
        SELECT b.id, b.name, b.description, b.algorithm_type, b.total_tracks, b.created_at, b.updated_at,
               (SELECT count(*) FROM blend_participants x WHERE x.blend_id = b.id) AS members,
               (SELECT string_agg(coalesce(u.display_name, 'A listener'), ', ' ORDER BY x.joined_at)
                  FROM blend_participants x JOIN users u ON u.id = x.user_id WHERE x.blend_id = b.id) AS names
        FROM blend_participants p JOIN blends b ON b.id = p.blend_id
        WHERE p.user_id = :u ORDER BY b.updated_at DESC, b.created_at DESC
        """,
        u=user_id,
    )


def blend_for_member(conn: Connection, blend_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The blend, only if `user_id` is a member of it (None otherwise: the caller answers 404)."""
    return _row(
        conn,
        "SELECT b.id, b.name, b.description, b.algorithm_type, b.algorithm_config, b.total_tracks, "
        "b.created_at, b.updated_at, b.created_by_user_id FROM blends b "
        "JOIN blend_participants p ON p.blend_id = b.id AND p.user_id = :u WHERE b.id = :b",
        b=blend_id,
        u=user_id,
    )


def blend_members(conn: Connection, blend_id: uuid.UUID) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT p.user_id, u.display_name, u.avatar_url, p.weight, p.joined_at FROM blend_participants p "
        "JOIN users u ON u.id = p.user_id WHERE p.blend_id = :b ORDER BY p.joined_at, p.user_id",
        b=blend_id,
    )


def blend_generations(conn: Connection, blend_id: uuid.UUID, limit: int = 30) -> list[dict[str, Any]]:
    """Past generations, newest first (the generation index answers it)."""
    return _rows(
        conn,
        "SELECT created_at, count(*) AS tracks FROM blend_tracks WHERE blend_id = :b "
        "GROUP BY created_at ORDER BY created_at DESC LIMIT :n",
        b=blend_id,
        n=limit,
    )


def generation_tracks(conn: Connection, blend_id: uuid.UUID, created_at: datetime) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT position, track_name, artist_name, album_name, album_art_url, duration_ms, "
        "source_provider::text AS source_provider, source_user_id, similarity_score, blend_metadata "
        "FROM blend_tracks WHERE blend_id = :b AND created_at = :c ORDER BY position",
        b=blend_id,
        c=created_at,
    )


def people(conn: Connection, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Display names of users that appear on a blend page (members, past members)."""
    return _rows(
        conn,
        "SELECT id, display_name, avatar_url FROM users WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=list(user_ids),
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


def emails_of(conn: Connection, user_ids: Sequence[uuid.UUID]) -> dict[str, str]:
    """user id -> email, only to take addresses out of stored text before it is shown."""
    rows = conn.execute(
        sa.text("SELECT id::text, email FROM users WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": [str(u) for u in user_ids]},
    )
    return dict(rows.all())


def shares_a_blend(conn: Connection, user_id: uuid.UUID, other_id: uuid.UUID) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM blend_participants a JOIN blend_participants b "
                "ON a.blend_id = b.blend_id WHERE a.user_id = :u AND b.user_id = :o)"
            ),
            {"u": user_id, "o": other_id},
        ).scalar()
    )


def friends(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Everyone who shares a blend with the user, with the blends and the stored match (if any)."""
    return _rows(
        conn,
        """
        SELECT o.user_id AS id, u.display_name, u.avatar_url,
               array_agg(DISTINCT b.name) AS blends,
               (SELECT m.score FROM latest_user_taste_matches m
                 WHERE m.user_id = :u AND m.other_user_id = o.user_id LIMIT 1) AS stored_score
        FROM blend_participants me
        JOIN blend_participants o ON o.blend_id = me.blend_id AND o.user_id <> me.user_id
        JOIN users u ON u.id = o.user_id JOIN blends b ON b.id = me.blend_id
        WHERE me.user_id = :u
        GROUP BY o.user_id, u.display_name, u.avatar_url
        ORDER BY lower(coalesce(u.display_name, '')), o.user_id
        """,
        u=user_id,
    )


def stored_match(conn: Connection, user_id: uuid.UUID, other_id: uuid.UUID) -> dict[str, Any] | None:
    """The pair's taste match from the latest analytics run, if either is in the other's top-k
    (the score is symmetric; the index on (user_id, computed_at, rank) answers each side)."""
    return _row(
        conn,
        """
        SELECT m.score, m.components, m.shared_tracks, m.shared_artists, m.shared_genres,
               m.shared_track_count, m.shared_artist_count, m.song_that_brings_you_together, m.computed_at
        FROM latest_user_taste_matches m
        WHERE (m.user_id = :u AND m.other_user_id = :o) OR (m.user_id = :o AND m.other_user_id = :u)
        ORDER BY m.user_id = :u DESC LIMIT 1
        """,
        u=user_id,
        o=other_id,
    )


def music_version(conn: Connection, user_ids: Sequence[uuid.UUID]) -> datetime | None:
    """When any of these users' stored music last changed (a live match is cached until then)."""
    return conn.execute(
        sa.text(
            "SELECT max(s.fetched_at) FROM unnest(CAST(:ids AS uuid[])) AS u(id) "
            "CROSS JOIN LATERAL (SELECT max(fetched_at) AS fetched_at FROM snapshots WHERE user_id = u.id) s"
        ),
        {"ids": [str(u) for u in user_ids]},
    ).scalar()


def friend(conn: Connection, other_id: uuid.UUID) -> dict[str, Any] | None:
    """Only after `shares_a_blend`: what a fellow member may see of another (no email)."""
    return _row(conn, "SELECT id, display_name, avatar_url FROM users WHERE id = :o", o=other_id)


def invite(conn: Connection, token_sha256: str) -> dict[str, Any] | None:
    """An invite by its token's hash, with what the invitee is shown before joining."""
    return _row(
        conn,
        """
        SELECT i.id, i.blend_id, i.expires_at, i.max_uses, i.uses, i.revoked_at,
               b.name AS blend_name, b.algorithm_type, coalesce(u.display_name, 'A listener') AS inviter,
               (SELECT count(*) FROM blend_participants p WHERE p.blend_id = i.blend_id) AS members
        FROM blend_invites i JOIN blends b ON b.id = i.blend_id JOIN users u ON u.id = i.created_by_user_id
        WHERE i.token_sha256 = :h
        """,
        h=token_sha256,
    )


def open_invites(conn: Connection, blend_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    return _rows(
        conn,
        "SELECT i.id, i.created_at, i.expires_at, i.max_uses, i.uses, "
        "coalesce(u.display_name, 'A listener') AS made_by FROM blend_invites i "
        "JOIN users u ON u.id = i.created_by_user_id WHERE i.blend_id = :b AND i.revoked_at IS NULL "
        "AND i.expires_at > :now AND i.uses < i.max_uses ORDER BY i.created_at DESC",
        b=blend_id,
        now=now,
    )


# === writes (the web app's own tables) ==================================================================


def lock_account_key(conn: Connection, account_key: str) -> None:
    """Serialise sign-in attempts on one account (across every worker) for this transaction."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 13))"), {"k": account_key})


def record_signin(conn: Connection, account_key: str, client: str | None, succeeded: bool) -> None:
    conn.execute(
        sa.text("INSERT INTO login_attempts (account_key, client, succeeded) VALUES (:k, :c, :s)"),
        {"k": account_key, "c": client, "s": succeeded},
    )


def create_invite(
    conn: Connection,
    blend_id: uuid.UUID,
    user_id: uuid.UUID,
    token_sha256: str,
    expires_at: datetime,
    max_uses: int,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO blend_invites (blend_id, created_by_user_id, token_sha256, expires_at, max_uses) "
            "VALUES (:b, :u, :h, :e, :m)"
        ),
        {"b": blend_id, "u": user_id, "h": token_sha256, "e": expires_at, "m": max_uses},
    )


def use_invite(conn: Connection, token_sha256: str, now: datetime) -> uuid.UUID | None:
    """Count one use of a live invite, atomically; its blend, or None (expired, used up, revoked)."""
    return conn.execute(
        sa.text(
            "UPDATE blend_invites SET uses = uses + 1 WHERE token_sha256 = :h AND revoked_at IS NULL "
            "AND expires_at > :now AND uses < max_uses RETURNING blend_id"
        ),
        {"h": token_sha256, "now": now},
    ).scalar()


def revoke_invite(conn: Connection, invite_id: uuid.UUID, blend_id: uuid.UUID, now: datetime) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "UPDATE blend_invites SET revoked_at = :now WHERE id = :i AND blend_id = :b AND revoked_at IS NULL"
            ),
            {"i": invite_id, "b": blend_id, "now": now},
        ).rowcount
    )
