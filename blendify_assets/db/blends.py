"""The blend tables: `blends`, `blend_participants`, `blend_tracks` (append-only generations) and
`latest_blend_tracks`. A generation's rows share one `created_at`; `blends.total_tracks` follows it
in the same transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping


def insert_blend(
    conn: Connection,
    *,
    name: str,
    description: str | None,
    creator: uuid.UUID,
    algorithm: str,
    config: Mapping[str, Any],
    members: Sequence[tuple[uuid.UUID, float]],
) -> uuid.UUID:
    """A blend and its participants (user id, weight), in the caller's transaction."""
    blend_id = conn.execute(
        sa.text(
            "INSERT INTO blends (name, description, created_by_user_id, algorithm_type, algorithm_config) "
            "VALUES (:n, :d, :c, :a, CAST(:cfg AS jsonb)) RETURNING id"
        ),
        {"n": name, "d": description, "c": creator, "a": algorithm, "cfg": json.dumps(dict(config))},
    ).scalar_one()
    conn.execute(
        sa.text("INSERT INTO blend_participants (blend_id, user_id, weight) VALUES (:b, :u, :w)"),
        [{"b": blend_id, "u": user_id, "w": weight} for user_id, weight in members],
    )
    return uuid.UUID(str(blend_id))


def lock(conn: Connection, blend_id: uuid.UUID) -> RowMapping | None:
    """The blend's algorithm and config, its row locked until the transaction ends (generations of
    one blend queue); None when there is no such blend."""
    return (
        conn.execute(
            sa.text("SELECT id, algorithm_type, algorithm_config FROM blends WHERE id = :b FOR UPDATE"),
            {"b": blend_id},
        )
        .mappings()
        .first()
    )


def members(conn: Connection, blend_id: uuid.UUID) -> list[RowMapping]:
    """Participants in joining order, with a label people recognise (display name, else email)."""
    return list(
        conn.execute(
            sa.text(
                "SELECT p.user_id, p.weight, u.email, coalesce(u.display_name, u.email) AS label "
                "FROM blend_participants p JOIN users u ON u.id = p.user_id "
                "WHERE p.blend_id = :b ORDER BY p.joined_at, u.email"
            ),
            {"b": blend_id},
        ).mappings()
    )


def add_participant(conn: Connection, blend_id: uuid.UUID, user_id: uuid.UUID, weight: float = 1.0) -> None:
    """A new member (an invite's redemption), in the caller's transaction (the blend row locked)."""
    conn.execute(
        sa.text("INSERT INTO blend_participants (blend_id, user_id, weight) VALUES (:b, :u, :w)"),
        {"b": blend_id, "u": user_id, "w": weight},
    )


def remove_participant(conn: Connection, blend_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """The member leaves; False when they were not in. Generations already made keep their rows."""
    removed = conn.execute(
        sa.text("DELETE FROM blend_participants WHERE blend_id = :b AND user_id = :u"),
        {"b": blend_id, "u": user_id},
    ).rowcount
    return bool(removed)


def set_weight(conn: Connection, blend_id: uuid.UUID, user_id: uuid.UUID, weight: float) -> bool:
    """A member's weight; False when they are not a member."""
    updated = conn.execute(
        sa.text("UPDATE blend_participants SET weight = :w WHERE blend_id = :b AND user_id = :u"),
        {"w": weight, "b": blend_id, "u": user_id},
    ).rowcount
    return bool(updated)


def last_generation_at(conn: Connection, blend_id: uuid.UUID) -> datetime | None:
    """`created_at` of the blend's latest generation (the generation index answers it)."""
    found = conn.execute(
        sa.text("SELECT max(created_at) FROM blend_tracks WHERE blend_id = :b"), {"b": blend_id}
    ).scalar()
    return found if isinstance(found, datetime) else None


def next_created_at(conn: Connection, blend_id: uuid.UUID, now: datetime) -> datetime:
    """`now`, but always after the blend's last generation, so generations never merge."""
    last = last_generation_at(conn, blend_id)
    return max(now, last + timedelta(microseconds=1)) if last else now


def append_generation(
    conn: Connection, blend_id: uuid.UUID, rows: Sequence[Mapping[str, Any]], created_at: datetime
) -> None:
    """One generation's rows (each with every blend_tracks column) and the blend's new track count."""
    conn.execute(
        sa.text(
            "INSERT INTO blend_tracks (blend_id, track_id, track_name, artist_name, album_name, "
            "album_art_url, duration_ms, position, source_provider, source_user_id, "
            "similarity_score, blend_metadata, created_at) VALUES (:blend_id, :track_id, "
            ":track_name, :artist_name, :album_name, :album_art_url, :duration_ms, :position, "
            "CAST(:source_provider AS provider), :source_user_id, :similarity_score, "
            "CAST(:blend_metadata AS jsonb), :created_at)"
        ),
        list(rows),
    )
    conn.execute(
        sa.text("UPDATE blends SET total_tracks = :n, updated_at = :t WHERE id = :b"),
        {"n": len(rows), "t": created_at, "b": blend_id},
    )


def created_since(
    engine: Engine, since: datetime | None, lookback: timedelta, limit: int = 1000
) -> list[tuple[str, datetime, bool]]:
    """(id, created_at, generated) of blends created after ``since - lookback``, oldest first.

    ``created_at`` is the creating transaction's start, so a blend can commit after a later one;
    the lookback lets a reader that remembers ``since`` still see it. ``generated`` is whether it
    already has a generation (a blend created with its first generation has one).
    """
    sql = (
        "SELECT b.id::text, b.created_at, "
        "EXISTS (SELECT 1 FROM blend_tracks t WHERE t.blend_id = b.id) AS generated FROM blends b"
    )
    params: dict[str, object] = {"n": limit}
    if since is not None:
        sql += " WHERE b.created_at > :after"
        params["after"] = since - lookback
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql + " ORDER BY b.created_at, b.id LIMIT :n"), params)
        return [(bid, at, bool(done)) for bid, at, done in rows]


def blend_with_creator(conn: Connection, blend_id: uuid.UUID) -> RowMapping | None:
    return (
        conn.execute(
            sa.text(
                "SELECT b.id, b.name, b.description, b.algorithm_type, b.algorithm_config, b.total_tracks, "
                "b.created_at, b.updated_at, u.email AS creator FROM blends b "
                "JOIN users u ON u.id = b.created_by_user_id WHERE b.id = :b"
            ),
            {"b": blend_id},
        )
        .mappings()
        .first()
    )


def generation_tracks(conn: Connection, blend_id: uuid.UUID, created_at: datetime) -> list[dict[str, Any]]:
    """The rows of one generation in playlist order, with each source member's label."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT t.position, t.track_id, t.track_name, t.artist_name, t.album_name, "
                "t.duration_ms, t.source_provider::text AS source_provider, t.source_user_id, "
                "coalesce(u.display_name, u.email) AS source_label, t.similarity_score, "
                "t.blend_metadata FROM blend_tracks t JOIN users u ON u.id = t.source_user_id "
                "WHERE t.blend_id = :b AND t.created_at = :c ORDER BY t.position"
            ),
            {"b": blend_id, "c": created_at},
        ).mappings()
    ]


# --- the web app's reads: every one filters on the signed-in member (or a blend they are in) -------------


def _all(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def blends_of(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The blends the user is a member of, newest activity first (members by display name only)."""
    return _all(
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
    rows = _all(
        conn,
        "SELECT b.id, b.name, b.description, b.algorithm_type, b.algorithm_config, b.total_tracks, "
        "b.created_at, b.updated_at, b.created_by_user_id FROM blends b "
        "JOIN blend_participants p ON p.blend_id = b.id AND p.user_id = :u WHERE b.id = :b",
        b=blend_id,
        u=user_id,
    )
    return rows[0] if rows else None


def invite_summary(conn: Connection, blend_id: uuid.UUID) -> dict[str, Any] | None:
    """What an invitee is shown before joining: the name, the algorithm and how many are in."""
    rows = _all(
        conn,
        "SELECT b.name AS blend_name, b.algorithm_type, "
        "(SELECT count(*) FROM blend_participants p WHERE p.blend_id = b.id) AS members "
        "FROM blends b WHERE b.id = :b",
        b=blend_id,
    )
    return rows[0] if rows else None


def blend_members(conn: Connection, blend_id: uuid.UUID) -> list[dict[str, Any]]:
    """Members in joining order, by display name (no email)."""
    return _all(
        conn,
        "SELECT p.user_id, u.display_name, u.avatar_url, p.weight, p.joined_at FROM blend_participants p "
        "JOIN users u ON u.id = p.user_id WHERE p.blend_id = :b ORDER BY p.joined_at, p.user_id",
        b=blend_id,
    )


def blend_generations(conn: Connection, blend_id: uuid.UUID, limit: int = 30) -> list[dict[str, Any]]:
    """Past generations, newest first (the generation index answers it)."""
    return _all(
        conn,
        "SELECT created_at, count(*) AS tracks FROM blend_tracks WHERE blend_id = :b "
        "GROUP BY created_at ORDER BY created_at DESC LIMIT :n",
        b=blend_id,
        n=limit,
    )


def generation_rows(conn: Connection, blend_id: uuid.UUID, created_at: datetime) -> list[dict[str, Any]]:
    """One generation for a blend page: who put each track there by id (labels come separately)."""
    return _all(
        conn,
        "SELECT position, track_name, artist_name, album_name, album_art_url, duration_ms, "
        "source_provider::text AS source_provider, source_user_id, similarity_score, blend_metadata "
        "FROM blend_tracks WHERE blend_id = :b AND created_at = :c ORDER BY position",
        b=blend_id,
        c=created_at,
    )


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


def fellow_members(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """Everyone who shares a blend with the user, with the names of the blends they share."""
    return _all(
        conn,
        """
        SELECT o.user_id AS id, u.display_name, u.avatar_url, array_agg(DISTINCT b.name) AS blends
        FROM blend_participants me
        JOIN blend_participants o ON o.blend_id = me.blend_id AND o.user_id <> me.user_id
        JOIN users u ON u.id = o.user_id JOIN blends b ON b.id = me.blend_id
        WHERE me.user_id = :u
        GROUP BY o.user_id, u.display_name, u.avatar_url
        ORDER BY lower(coalesce(u.display_name, '')), o.user_id
        """,
        u=user_id,
    )
