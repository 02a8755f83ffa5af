"""The `poll_schedule` table: when each user's recently played is polled next (core/polling.py
decides; this module stores and finds). One row per (user, provider, endpoint), replaced by every
successful poll inside the transaction that stores its plays; the schedule reads the due rows
through `idx_poll_schedule_due`, never every user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.polling import DEFAULT_POLICY, PollObservation, PollPlan, PollPolicy, plan_next
from blendify_assets.core.time import aware_utc, naive_utc

_COLUMNS = "polled_at, next_poll_at, plays_per_hour, last_play_at, late_polls, first_polled_at"


def _plan(row: Any) -> PollPlan:
    polled_at, next_poll_at, rate, last_play_at, late, first = row
    return PollPlan(
        polled_at.replace(tzinfo=UTC),
        next_poll_at.replace(tzinfo=UTC),
        float(rate),
        aware_utc(last_play_at),
        int(late),
        first.replace(tzinfo=UTC),
    )


def load(conn: Connection, user_id: uuid.UUID, provider: str, endpoint: str) -> PollPlan | None:
    row = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM poll_schedule WHERE user_id = :u "
            "AND provider = CAST(:p AS provider) AND endpoint = :e"
        ),
        {"u": user_id, "p": provider, "e": endpoint},
    ).first()
    return _plan(row) if row else None


def save(conn: Connection, user_id: uuid.UUID, provider: str, endpoint: str, plan: PollPlan) -> None:
    conn.execute(
        sa.text(
            f"INSERT INTO poll_schedule (user_id, provider, endpoint, {_COLUMNS}) "
            "VALUES (:u, CAST(:p AS provider), :e, :polled, :next, :rate, :last, :late, :first) "
            "ON CONFLICT (user_id, provider, endpoint) DO UPDATE SET polled_at = EXCLUDED.polled_at, "
            "next_poll_at = EXCLUDED.next_poll_at, plays_per_hour = EXCLUDED.plays_per_hour, "
            "last_play_at = EXCLUDED.last_play_at, late_polls = EXCLUDED.late_polls"
        ),
        {
            "u": user_id, "p": provider, "e": endpoint, "polled": naive_utc(plan.polled_at),
            "next": naive_utc(plan.next_poll_at), "rate": plan.plays_per_hour,
            "last": naive_utc(plan.last_play_at), "late": plan.late_polls,
            "first": naive_utc(plan.first_polled_at or plan.polled_at),
        },
    )  # fmt: skip


def record(
    conn: Connection,
    user_id: uuid.UUID,
    provider: str,
    endpoint: str,
    seen: PollObservation,
    now: datetime,
    policy: PollPolicy = DEFAULT_POLICY,
) -> PollPlan:
    """Plan the next poll after this one, in the caller's transaction (the one storing the plays)."""
    plan = plan_next(load(conn, user_id, provider, endpoint), seen, aware_utc(now), policy)  # type: ignore[arg-type]
    save(conn, user_id, provider, endpoint, plan)
    return plan


def due(engine: Engine, provider: str, endpoint: str, now: datetime, limit: int = 100_000) -> list[str]:
    """Users whose next poll is due by `now`, the most overdue first (an index range scan)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text FROM poll_schedule WHERE provider = CAST(:p AS provider) "
                "AND endpoint = :e AND next_poll_at <= :now ORDER BY next_poll_at LIMIT :n"
            ),
            {"p": provider, "e": endpoint, "now": naive_utc(now), "n": limit},
        )
        return [r[0] for r in rows]


def due_among(
    engine: Engine, provider: str, endpoint: str, user_ids: Sequence[str], now: datetime
) -> set[str]:
    """Of `user_ids`, those whose planned poll is due by `now` (never polled: not planned, not due;
    a new connection's first sync and the daily re-sync poll them)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT user_id::text FROM poll_schedule WHERE provider = CAST(:p AS provider) "
                "AND endpoint = :e AND user_id = ANY(CAST(:u AS uuid[])) AND next_poll_at <= :now"
            ),
            {"p": provider, "e": endpoint, "u": list(user_ids), "now": naive_utc(now)},
        )
        return {r[0] for r in rows}
