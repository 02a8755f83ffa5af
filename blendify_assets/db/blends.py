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
