"""The two reads orchestration makes of `provider_connections` (SQL only, no Dagster).

The sensor reads by `change_seq` (indexed, unique): only rows whose sequence passed its cursor, a
page at a time. The schedules read the active connections of one provider.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class ConnectionChange:
    """A connection that is new, re-authorised or back to active (its `change_seq` moved)."""

    connection_id: str
    user_id: str
    provider: str
    change_seq: int
    status: str

    @property
    def run_key(self) -> str:
        return f"{self.provider}-connection-{self.connection_id}-{self.change_seq}"


def changes_after(
    engine: Engine, provider: str, low: int, exclude: Collection[int], limit: int
) -> list[ConnectionChange]:
    """Rows of `provider` with change_seq > low, not in `exclude`, oldest first, at most `limit`."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT id::text, user_id::text, provider::text, change_seq, status::text
                FROM provider_connections
                WHERE provider = CAST(:p AS provider) AND change_seq > :low
                  AND NOT (change_seq = ANY(CAST(:exclude AS bigint[])))
                ORDER BY change_seq
                LIMIT :limit
                """
            ),
            {"p": provider, "low": low, "exclude": sorted(exclude), "limit": limit},
        ).all()
    return [ConnectionChange(*row) for row in rows]


def active_user_ids(engine: Engine, provider: str) -> set[str]:
    """Users whose `provider` connection is active (needs_reauth and revoked are left out)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text FROM provider_connections "
                "WHERE provider = CAST(:p AS provider) AND status = 'active'"
            ),
            {"p": provider},
        )
        return {r[0] for r in rows}
