"""The `history_imports` ledger: one row per export file imported for a user (sql/0010).

Written in the transaction that appends the file's plays, so a row exists exactly when the file's
plays are stored; its hash turns a second import of the same file into a no-op.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def imported_at(conn: Connection, user_id: uuid.UUID, provider: str, file_sha256: str) -> datetime | None:
    """When this file (by its SHA-256) was imported for this user, or None."""
    found: datetime | None = conn.execute(
        sa.text(
            "SELECT imported_at FROM history_imports WHERE user_id = :u AND provider = CAST(:p AS provider) "
            "AND file_sha256 = :h"
        ),
        {"u": user_id, "p": provider, "h": file_sha256},
    ).scalar()
    return found


def record(conn: Connection, *, user_id: uuid.UUID, provider: str, file_name: str, file_sha256: str,
           schema_version: str, records: int, plays: int, appended: int, duplicates_api: int,
           duplicates_stored: int, filtered: Mapping[str, int], enrichment: Mapping[str, Any]) -> None:  # fmt: skip
    """The ledger row of one imported file (inside the transaction that stored its plays)."""
    conn.execute(
        sa.text(
            "INSERT INTO history_imports (user_id, provider, file_name, file_sha256, schema_version, records, "
            "plays, appended, duplicates_api, duplicates_stored, filtered, enrichment) "
            "VALUES (:u, CAST(:p AS provider), :f, :h, :s, :r, :n, :a, :da, :ds, CAST(:fl AS jsonb), CAST(:e AS jsonb))"
        ),
        {
            "u": user_id, "p": provider, "f": file_name, "h": file_sha256, "s": schema_version, "r": records,
            "n": plays, "a": appended, "da": duplicates_api, "ds": duplicates_stored,
            "fl": json.dumps(dict(filtered)), "e": json.dumps(dict(enrichment)),
        },
    )  # fmt: skip


def for_user(conn: Connection, user_id: uuid.UUID, limit: int = 50) -> list[dict[str, Any]]:
    """The user's imported files, newest first (the web app's "Your history" page)."""
    rows = conn.execute(
        sa.text(
            "SELECT provider::text AS provider, file_name, schema_version, imported_at, records, plays, appended, "
            "duplicates_api, duplicates_stored, filtered FROM history_imports WHERE user_id = :u "
            "ORDER BY imported_at DESC, file_name LIMIT :n"
        ),
        {"u": user_id, "n": limit},
    ).mappings()
    return [dict(r) for r in rows]
