"""The `sync_log` table and its `latest_sync_status` view: every endpoint check, kept forever
(requests, rows appended, changed or not, the error), for operators and the web app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.time import naive_utc


def insert(conn: Connection, **values: Any) -> int:
    """One check's row, inside the caller's transaction; returns its id."""
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO sync_log (user_id, provider, endpoint, started_at, finished_at, status, requests, "
                "rows_appended, changed, error, details, run_id) VALUES (:user_id, CAST(:provider AS provider), "
                ":endpoint, :started_at, :finished_at, :status, :requests, :rows_appended, :changed, :error, "
                "CAST(:details AS jsonb), :run_id) RETURNING id"
            ),
            values | {"details": json.dumps(values.get("details") or {}, default=str)},
        ).scalar_one()
    )


def record_failure(
    engine: Engine, *, user_id: uuid.UUID, provider: str, endpoint: str, started_at: datetime, status: str,
    error: str, stats: FetchStats | None = None, run_id: str | None = None,
) -> int:  # fmt: skip
    """Log a failed or skipped check (its own transaction: nothing else was written)."""
    with engine.begin() as conn:
        return insert(
            conn, user_id=user_id, provider=provider, endpoint=endpoint, started_at=naive_utc(started_at),
            finished_at=datetime.now(UTC).replace(tzinfo=None), status=status,
            requests=stats.requests if stats else 0, rows_appended=0, changed=False, error=error,
            details={"stats": vars(stats).copy()} if stats else {}, run_id=run_id,
        )  # fmt: skip


def summary_for_runs(engine: Engine, run_ids: Sequence[str]) -> tuple[list[tuple[Any, ...]], int]:
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


def max_id(engine: Engine) -> int:
    """The newest row's id (0 when empty): later checks have larger ids."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM sync_log")).scalar_one())


def checks_since(engine: Engine, provider: str, since: int) -> int:
    """Checks of `provider` logged after row `since`."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM sync_log WHERE id > :s AND provider = CAST(:p AS provider)"),
                {"s": since, "p": provider},
            ).scalar_one()
        )


def users_ok_since(engine: Engine, provider: str, since: int) -> int:
    """Users of `provider` whose every check after row `since` succeeded."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(DISTINCT user_id) FROM sync_log WHERE id > :s AND provider = CAST(:p AS provider) "
                    "AND user_id NOT IN (SELECT user_id FROM sync_log WHERE id > :s AND status <> 'success' "
                    "AND provider = CAST(:p AS provider))"
                ),
                {"s": since, "p": provider},
            ).scalar_one()
        )


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM sync_log")).scalar_one())


LAST_SYNC_SQL = (
    "SELECT provider::text AS provider, max(finished_at) AS finished_at, "
    "count(*) FILTER (WHERE status <> 'success') AS failing "
    "FROM latest_sync_status WHERE user_id = :u GROUP BY provider ORDER BY provider"
)


def last_syncs(conn: Connection, user_id: uuid.UUID) -> list[RowMapping]:
    """Per provider: when the user's endpoints were last checked, and how many are failing."""
    return list(conn.execute(sa.text(LAST_SYNC_SQL), {"u": user_id}).mappings())


def latest_per_endpoint(conn: Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The last check of every (provider, endpoint) of the user (the web app's connections page)."""
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT ON (provider, endpoint) provider::text AS provider, endpoint, finished_at, "
            "status, changed, rows_appended, error FROM sync_log WHERE user_id = :u "
            "ORDER BY provider, endpoint, finished_at DESC"
        ),
        {"u": user_id},
    ).mappings()
    return [dict(r) for r in rows]


def last_started(conn: Connection, user_id: uuid.UUID) -> dict[str, datetime]:
    """provider -> when the user's latest sync of it started (a re-sync request waits until one
    starts after it)."""
    rows = conn.execute(
        sa.text("SELECT provider::text, max(started_at) FROM sync_log WHERE user_id = :u GROUP BY provider"),
        {"u": user_id},
    )
    return {str(p): at for p, at in rows if at is not None}


def last_success(
    engine: Engine,
    provider: str,
    exclude_endpoints: Sequence[str],
    user_ids: Sequence[str] | None,
    not_run: str | None = None,
    since: datetime | None = None,
) -> dict[str, datetime]:
    """Each user's last successful re-sync: the newest success of any endpoint but the polled ones
    (`exclude_endpoints`); for `user_ids`, or every user of the provider (None); leaving out the
    checks of run `not_run` (a run's later steps judge staleness as it stood when it began); only
    checks after `since` (the log is kept forever: a user not re-synced since is simply absent)."""
    where = " AND user_id = ANY(CAST(:u AS uuid[]))" if user_ids is not None else ""
    where += " AND finished_at > :since" if since is not None else ""
    where += " AND run_id IS DISTINCT FROM :r" if not_run else ""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text, max(finished_at) FROM sync_log WHERE provider = CAST(:p AS provider) "
                f"AND status = 'success' AND NOT (endpoint = ANY(:x)){where} GROUP BY user_id"
            ),
            {
                "p": provider,
                "x": list(exclude_endpoints),
                "u": list(user_ids or []),
                "r": not_run,
                "since": naive_utc(since),
            },
        )
        return {r[0]: r[1].replace(tzinfo=UTC) for r in rows}


def requests_per_user(engine: Engine, provider: str, exclude_endpoints: Sequence[str]) -> int | None:
    """Requests one user's re-sync has cost lately (the last week's successful checks of every
    endpoint but the polled ones, per user and day); None before any."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.text(
                "SELECT sum(requests)::float / nullif(count(DISTINCT (user_id, finished_at::date)), 0) "
                "FROM sync_log WHERE provider = CAST(:p AS provider) AND status = 'success' "
                "AND NOT (endpoint = ANY(:x)) AND finished_at > (now() AT TIME ZONE 'UTC') - interval '7 days'"
            ),
            {"p": provider, "x": list(exclude_endpoints)},
        ).scalar()
    return max(1, round(value)) if value else None
