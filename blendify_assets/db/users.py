"""The `users` table: accounts people sign in with (the web app writes them through here too)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.security.passwords import hash_password, password_problem

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
    problem = password_problem(password, email) if password is not None else None
    if problem:
        raise BlendifyError(problem)
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


def email_of(conn: Connection, user_id: uuid.UUID) -> str | None:
    """The user's email address; None when there is no such user."""
    found = conn.execute(sa.text("SELECT email FROM users WHERE id = :u"), {"u": user_id}).scalar()
    return None if found is None else str(found)


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


# --- the web app's reads (never a hash or an email on a page; see web/) ------------------------------


def _one(conn: Connection, sql: str, **params: Any) -> dict[str, Any] | None:
    found = conn.execute(sa.text(sql), params).mappings().first()
    return dict(found) if found else None


def session_user(conn: Connection, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The signed-in user (the hash only to check the session still matches it)."""
    return _one(
        conn,
        "SELECT id, email, display_name, password_hash, avatar_url, created_at FROM users WHERE id = :u",
        u=user_id,
    )


def user_for_signin(conn: Connection, email: str) -> dict[str, Any] | None:
    return _one(conn, "SELECT id, password_hash FROM users WHERE email = :e", e=email)


def user_id_by_email(conn: Connection, email: str) -> uuid.UUID | None:
    found = conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar()
    return None if found is None else uuid.UUID(str(found))


def friend(conn: Connection, other_id: uuid.UUID) -> dict[str, Any] | None:
    """Only after the caller checked the two share a blend: what a fellow member may see (no email)."""
    return _one(conn, "SELECT id, display_name, avatar_url FROM users WHERE id = :o", o=other_id)


def people(conn: Connection, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Display names of users that appear on a blend page (members, past members)."""
    rows = conn.execute(
        sa.text("SELECT id, display_name, avatar_url FROM users WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": list(user_ids)},
    ).mappings()
    return [dict(r) for r in rows]


def emails_of(conn: Connection, user_ids: Sequence[uuid.UUID]) -> dict[str, str]:
    """user id -> email, only to take addresses out of stored text before it is shown."""
    rows = conn.execute(
        sa.text("SELECT id::text, email FROM users WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": [str(u) for u in user_ids]},
    )
    return {str(k): str(v) for k, v in rows.all()}


def user_id_pages(conn: Connection, page: int) -> Iterator[list[str]]:
    """Every user id in id order, a page at a time (keyset: each page is one index range)."""
    after: str | None = None
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id::text FROM users WHERE CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid) "
                "ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": page},
        ).scalars()
        ids = [str(i) for i in rows]
        if not ids:
            return
        yield ids
        after = ids[-1]
