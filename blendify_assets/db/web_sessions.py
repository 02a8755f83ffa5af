"""The `web_sessions` table (sql/0008_web.sql), its one owner: the web app's server-side sessions.
The signed cookie carries a random id; only its SHA-256 is stored, and signing out revokes the row,
so a copied cookie stops working at once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def create(conn: Connection, id_sha256: str, user_id: uuid.UUID, expires_at: datetime) -> None:
    conn.execute(
        sa.text("INSERT INTO web_sessions (id_sha256, user_id, expires_at) VALUES (:h, :u, :e)"),
        {"h": id_sha256, "u": user_id, "e": expires_at},
    )


def signed_in_user(conn: Connection, id_sha256: str, now: datetime) -> dict[str, Any] | None:
    """The user of a live session (not revoked, not expired), in one index lookup; None otherwise.
    The password hash comes along only so the caller can check the session was made for it."""
    found = (
        conn.execute(
            sa.text(
                "SELECT u.id, u.email, u.display_name, u.password_hash, u.avatar_url, u.created_at "
                "FROM web_sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.id_sha256 = :h AND s.revoked_at IS NULL AND s.expires_at > :now"
            ),
            {"h": id_sha256, "now": now},
        )
        .mappings()
        .first()
    )
    return dict(found) if found else None


def revoke(conn: Connection, id_sha256: str, now: datetime) -> bool:
    """End one session (sign-out); False when it was already ended or never existed."""
    return bool(
        conn.execute(
            sa.text("UPDATE web_sessions SET revoked_at = :now WHERE id_sha256 = :h AND revoked_at IS NULL"),
            {"h": id_sha256, "now": now},
        ).rowcount
    )
