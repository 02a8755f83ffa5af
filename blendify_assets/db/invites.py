"""The `blend_invites` table (sql/0008_web.sql), its one owner: invite links to a blend. A token is
stored only as its SHA-256; it expires and admits at most `max_uses` people."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def by_token(conn: Connection, token_sha256: str) -> dict[str, Any] | None:
    """An invite by its token's hash, with the inviter's display name (never their email)."""
    found = (
        conn.execute(
            sa.text(
                "SELECT i.id, i.blend_id, i.expires_at, i.max_uses, i.uses, i.revoked_at, "
                "coalesce(u.display_name, 'A listener') AS inviter "
                "FROM blend_invites i JOIN users u ON u.id = i.created_by_user_id WHERE i.token_sha256 = :h"
            ),
            {"h": token_sha256},
        )
        .mappings()
        .first()
    )
    return dict(found) if found else None


def open_invites(conn: Connection, blend_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    """The blend's invites that can still admit someone, newest first."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT i.id, i.created_at, i.expires_at, i.max_uses, i.uses, "
                "coalesce(u.display_name, 'A listener') AS made_by FROM blend_invites i "
                "JOIN users u ON u.id = i.created_by_user_id WHERE i.blend_id = :b AND i.revoked_at IS NULL "
                "AND i.expires_at > :now AND i.uses < i.max_uses ORDER BY i.created_at DESC"
            ),
            {"b": blend_id, "now": now},
        ).mappings()
    ]


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
    found = conn.execute(
        sa.text(
            "UPDATE blend_invites SET uses = uses + 1 WHERE token_sha256 = :h AND revoked_at IS NULL "
            "AND expires_at > :now AND uses < max_uses RETURNING blend_id"
        ),
        {"h": token_sha256, "now": now},
    ).scalar()
    return None if found is None else uuid.UUID(str(found))


def revoke_invite(conn: Connection, invite_id: uuid.UUID, blend_id: uuid.UUID, now: datetime) -> bool:
    return bool(
        conn.execute(
            sa.text(
                "UPDATE blend_invites SET revoked_at = :now WHERE id = :i AND blend_id = :b AND revoked_at IS NULL"
            ),
            {"i": invite_id, "b": blend_id, "now": now},
        ).rowcount
    )
