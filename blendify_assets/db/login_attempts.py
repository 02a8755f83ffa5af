"""The `login_attempts` table (sql/0008_web.sql), its one owner: every password sign-in attempt,
so ten wrong passwords are throttled across every web worker process."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def lock_account_key(conn: Connection, account_key: str) -> None:
    """Serialise sign-in attempts on one account (across every worker) for this transaction."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 13))"), {"k": account_key})


def record_signin(conn: Connection, account_key: str, client: str | None, succeeded: bool) -> None:
    conn.execute(
        sa.text("INSERT INTO login_attempts (account_key, client, succeeded) VALUES (:k, :c, :s)"),
        {"k": account_key, "c": client, "s": succeeded},
    )


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
    found = conn.execute(
        sa.text(
            "SELECT attempted_at FROM login_attempts WHERE account_key = :k AND NOT succeeded "
            "AND attempted_at > :since ORDER BY attempted_at DESC OFFSET :o LIMIT 1"
        ),
        {"k": account_key, "since": since, "o": n - 1},
    ).scalar()
    return found if isinstance(found, datetime) else None


def failed_signins_from_client(conn: Connection, client: str, since: datetime) -> int:
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM login_attempts WHERE client = :c AND NOT succeeded AND attempted_at > :s"
            ),
            {"c": client, "s": since},
        ).scalar_one()
    )
