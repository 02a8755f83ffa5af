"""The `users` table: accounts people sign in with (the web app writes them through here too)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.security.passwords import hash_password

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class NotFound(BlendifyError):
    pass


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise BlendifyError(f"not a valid email address: {email!r}")
    return email


def add_user(
    engine: Engine, email: str, display_name: str | None = None, password: str | None = None
) -> uuid.UUID:
    email = normalise_email(email)
    if password is not None and len(password) < 8:
        raise BlendifyError("the password must be at least 8 characters")
    password_hash = hash_password(password) if password is not None else None
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "INSERT INTO users (email, display_name, password_hash) VALUES (:e, :n, :p) "
                "ON CONFLICT (email) DO NOTHING RETURNING id"
            ),
            {"e": email, "n": display_name, "p": password_hash},
        ).first()
    if row is None:
        raise BlendifyError(f"a user with email {email} already exists")
    return uuid.UUID(str(row[0]))


def user_id_for(conn: Connection, email: str) -> uuid.UUID:
    email = normalise_email(email)
    found = conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar()
    if found is None:
        raise NotFound(f"no user with email {email} (add one with `blendify users add {email}`)")
    return uuid.UUID(str(found))


def ids_for_emails(conn: Connection, emails: Sequence[str]) -> dict[str, uuid.UUID]:
    """The ids of those of `emails` (normalised) that are users."""
    rows = conn.execute(sa.text("SELECT email, id FROM users WHERE email = ANY(:e)"), {"e": list(emails)})
    return {email: uuid.UUID(str(uid)) for email, uid in rows}


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, email, display_name, created_at FROM users ORDER BY created_at, email")
        ).mappings()
        return [dict(r) for r in rows]
