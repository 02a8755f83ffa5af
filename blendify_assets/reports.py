"""Read-only summaries of what the warehouse holds, for the command line."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def sync_summary(engine: Engine, run_ids: Sequence[str]) -> tuple[list[tuple], int]:
    """One row per endpoint check in these runs, and how many failed."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT provider::text, endpoint, status, requests, rows_appended, changed, error "
                "FROM sync_log WHERE run_id = ANY(:r) ORDER BY provider, id"
            ),
            {"r": list(run_ids)},
        ).all()
    return [tuple(r) for r in rows], sum(1 for r in rows if r.status != "success")
