"""Publish state: `publish_preferences`, `blend_playlists` and `blend_publications` (append-only;
the latest row is the current value). A playlist's row is written as soon as the service returned
its id, in its own transaction, before any item is added, so a retry adopts it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from blendify_assets.core.time import aware_utc, naive_utc, utcnow


@dataclass(frozen=True)
class Preference:
    publish: bool
    provider: str | None


def preferences(engine: Engine, blend_id: uuid.UUID, user_ids: Sequence[str]) -> dict[str, Preference]:
    """Each member's latest choice for this blend, else for all their blends; absent: no choice."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT ON (user_id) user_id::text AS user_id, publish, provider::text AS provider "
                "FROM publish_preferences WHERE user_id = ANY(CAST(:u AS uuid[])) "
                "AND (blend_id = :b OR blend_id IS NULL) "
                "ORDER BY user_id, (blend_id IS NULL), set_at DESC, id DESC"
            ),
            {"u": list(user_ids), "b": blend_id},
        ).mappings()
        return {r["user_id"]: Preference(r["publish"], r["provider"]) for r in rows}


def set_preference(
    engine: Engine, user_id: uuid.UUID, blend_id: uuid.UUID | None, publish: bool, provider: str | None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO publish_preferences (user_id, blend_id, publish, provider, set_at) "
                "VALUES (:u, :b, :p, CAST(:prov AS provider), :at)"
            ),
            {"u": user_id, "b": blend_id, "p": publish, "prov": provider, "at": naive_utc(utcnow())},
        )


def playlists(engine: Engine, blend_id: uuid.UUID, user_id: str, provider: str) -> list[RowMapping]:
    """The member's playlists of this blend on this service, newest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT id, playlist_id, url, name, generation_at, created_at FROM blend_playlists "
                    "WHERE blend_id = :b AND user_id = CAST(:u AS uuid) AND provider = CAST(:p AS provider) "
                    "ORDER BY created_at DESC, id DESC"
                ),
                {"b": blend_id, "u": user_id, "p": provider},
            ).mappings()
        )


def add_playlist(
    engine: Engine,
    blend_id: uuid.UUID,
    user_id: str,
    provider: str,
    *,
    playlist_id: str,
    url: str | None,
    name: str,
    generation_at: datetime,
) -> int:
    """Store a created playlist at once (committed before items are added); its row id. Storing
    one already stored (an adopted playlist) returns the existing row."""
    with engine.begin() as conn:
        params = {"b": blend_id, "u": user_id, "p": provider, "pid": playlist_id, "url": url, "n": name,
                  "g": generation_at, "at": naive_utc(utcnow())}  # fmt: skip
        new = conn.execute(
            sa.text(
                "INSERT INTO blend_playlists (blend_id, user_id, provider, playlist_id, url, name, "
                "generation_at, created_at) VALUES (:b, CAST(:u AS uuid), CAST(:p AS provider), :pid, :url, :n, :g, :at) "
                "ON CONFLICT (provider, playlist_id) DO NOTHING RETURNING id"
            ),
            params,
        ).scalar()
        if new is None:
            new = conn.execute(
                sa.text(
                    "SELECT id FROM blend_playlists WHERE provider = CAST(:p AS provider) AND playlist_id = :pid"
                ),
                params,
            ).scalar_one()
        return int(new)


def record(
    engine: Engine,
    blend_id: uuid.UUID,
    user_id: str,
    provider: str | None,
    generation_at: datetime,
    status: str,
    *,
    playlist: int | None = None,
    tracks_published: int = 0,
    matched: Mapping[str, int] | None = None,
    unmatched: Sequence[Mapping[str, Any]] = (),
    detail: str | None = None,
) -> None:
    """One outcome for one member and generation."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO blend_publications (blend_id, user_id, provider, generation_at, status, playlist, "
                "tracks_published, matched, unmatched, detail, published_at) VALUES (:b, CAST(:u AS uuid), "
                "CAST(:p AS provider), :g, :s, :pl, :n, CAST(:m AS jsonb), CAST(:um AS jsonb), :d, :at)"
            ),
            {
                "b": blend_id,
                "u": user_id,
                "p": provider,
                "g": generation_at,
                "s": status,
                "pl": playlist,
                "n": tracks_published,
                "m": json.dumps(dict(matched or {})),
                "um": json.dumps(list(unmatched)),
                "d": detail,
                "at": naive_utc(utcnow()),
            },
        )


def latest_publications(engine: Engine, blend_id: uuid.UUID) -> list[RowMapping]:
    """Each member's latest outcome for this blend (any generation), with the playlist's link."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (p.user_id) p.user_id::text AS user_id, p.provider::text AS provider, "
                    "p.generation_at, p.status, p.tracks_published, p.matched, p.unmatched, p.detail, "
                    "p.published_at, l.playlist_id, l.url, l.name AS playlist_name FROM blend_publications p "
                    "LEFT JOIN blend_playlists l ON l.id = p.playlist WHERE p.blend_id = :b "
                    "ORDER BY p.user_id, p.published_at DESC, p.id DESC"
                ),
                {"b": blend_id},
            ).mappings()
        )


def creating_since(
    engine: Engine, blend_id: uuid.UUID, user_id: str, provider: str, generation_at: datetime
) -> datetime | None:
    """When a create for this member and generation was last started, if one was (its answer may
    have been lost)."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT max(published_at) FROM blend_publications WHERE blend_id = :b AND "
                "user_id = CAST(:u AS uuid) AND provider = CAST(:p AS provider) AND generation_at = :g "
                "AND status = 'creating'"
            ),
            {"b": blend_id, "u": user_id, "p": provider, "g": generation_at},
        ).scalar()
        return aware_utc(found) if isinstance(found, datetime) else None


def published(
    engine: Engine, blend_id: uuid.UUID, user_id: str, provider: str, generation_at: datetime
) -> RowMapping | None:
    """The outcome that already published this generation to this member, if any."""
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "SELECT p.status, p.tracks_published, p.matched, p.unmatched, l.url FROM blend_publications p "
                    "LEFT JOIN blend_playlists l ON l.id = p.playlist WHERE p.blend_id = :b AND "
                    "p.user_id = CAST(:u AS uuid) AND p.provider = CAST(:p AS provider) AND p.generation_at = :g "
                    "AND p.status IN ('published', 'unchanged') ORDER BY p.published_at DESC, p.id DESC LIMIT 1"
                ),
                {"b": blend_id, "u": user_id, "p": provider, "g": generation_at},
            )
            .mappings()
            .first()
        )


def newest_playlists(engine: Engine, blend_id: uuid.UUID) -> list[RowMapping]:
    """Each member's newest playlist of this blend (the one to open): user, service, link, name."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (user_id) user_id::text AS user_id, provider::text AS provider, url, "
                    "name, generation_at FROM blend_playlists WHERE blend_id = :b "
                    "ORDER BY user_id, created_at DESC, id DESC"
                ),
                {"b": blend_id},
            ).mappings()
        )
