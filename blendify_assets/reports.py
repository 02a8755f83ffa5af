"""Read-only summaries of what the warehouse holds, for the command line."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def sync_summary(engine: Engine, run_ids: Sequence[str]) -> tuple[list[tuple], int]:
    """One row per (provider, endpoint, user) checked in these runs, and how many failed. A step
    Dagster retried logged each try; its outcome is the last try's, so a retry that succeeded
    counts as a success (the failed try stays in sync_log)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT provider, endpoint, status, requests, rows_appended, changed, error FROM ("
                " SELECT DISTINCT ON (provider, endpoint, user_id) provider::text, endpoint, status, requests,"
                " rows_appended, changed, error, id FROM sync_log WHERE run_id = ANY(:r)"
                " ORDER BY provider, endpoint, user_id, id DESC) last_try ORDER BY provider, id"
            ),
            {"r": list(run_ids)},
        ).all()
    return [tuple(r) for r in rows], sum(1 for r in rows if r.status != "success")
