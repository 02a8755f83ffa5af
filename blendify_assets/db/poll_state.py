"""The `poll_state` table: what a provider's last check of an endpoint remembers for the next one
(Apple's recently-played list, when a library list was last read in full). One row per (user,
provider, endpoint), replaced in the transaction that stores the rows it describes; the state is
opaque JSON here (the provider types it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def load(
    conn: Connection, user_id: uuid.UUID, provider: str, endpoint: str
) -> tuple[dict[str, Any], int] | None:
    """(state, id of the sync log row of the check that left it), or None before the first."""
    row = conn.execute(
        sa.text(
            "SELECT state, sync_log_id FROM poll_state WHERE user_id = :u "
            "AND provider = CAST(:p AS provider) AND endpoint = :e"
        ),
        {"u": user_id, "p": provider, "e": endpoint},
    ).first()
    return (dict(row.state), int(row.sync_log_id)) if row else None


def save(
    conn: Connection,
    *,
    user_id: uuid.UUID,
    provider: str,
    endpoint: str,
    state: Mapping[str, Any],
    sync_log_id: int,
    updated_at: datetime,
) -> None:
    """Replace the endpoint's state, inside the caller's transaction (the one writing its rows)."""
    conn.execute(
        sa.text(
            "INSERT INTO poll_state (user_id, provider, endpoint, state, sync_log_id, updated_at) "
            "VALUES (:u, CAST(:p AS provider), :e, CAST(:s AS jsonb), :l, :t) "
            "ON CONFLICT (user_id, provider, endpoint) DO UPDATE SET state = EXCLUDED.state, "
            "sync_log_id = EXCLUDED.sync_log_id, updated_at = EXCLUDED.updated_at"
        ),
        {
            "u": user_id,
            "p": provider,
            "e": endpoint,
            "s": json.dumps(dict(state), default=str),
            "l": sync_log_id,
            "t": updated_at,
        },
    )
