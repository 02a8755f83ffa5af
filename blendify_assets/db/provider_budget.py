"""A provider's request budget and pause, shared by every run, tick and process: the
`provider_usage` table (requests spent per budget window, a UTC day) and `provider_pauses` (a
provider whose quota is spent waits, for everyone, until the pause ends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.core.time import aware_utc, naive_utc

WINDOW = timedelta(days=1)  # the budget window: requests are counted per UTC day


def window_start(now: datetime) -> datetime:
    """The start of the budget window holding `now` (UTC midnight)."""
    moment = aware_utc(now) or datetime.now(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def spend(engine: Engine, provider: str, requests: int, now: datetime | None = None) -> None:
    """Add `requests` to the current window's count (one short transaction)."""
    if requests <= 0:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO provider_usage (provider, window_start, requests) VALUES (CAST(:p AS provider), :w, :n) "
                "ON CONFLICT (provider, window_start) DO UPDATE SET requests = provider_usage.requests + EXCLUDED.requests"
            ),
            {"p": provider, "w": naive_utc(window_start(now or datetime.now(UTC))), "n": requests},
        )


def spent(engine: Engine, provider: str, now: datetime | None = None) -> int:
    """Requests spent in the window holding `now`."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT requests FROM provider_usage WHERE provider = CAST(:p AS provider) AND window_start = :w"
            ),
            {"p": provider, "w": naive_utc(window_start(now or datetime.now(UTC)))},
        ).scalar()
    return int(found or 0)


@dataclass(frozen=True)
class Pause:
    provider: str
    paused_at: datetime
    until: datetime
    reason: str

    def describe(self) -> str:
        return f"{self.provider} is paused until {self.until:%Y-%m-%d %H:%M} UTC: {self.reason}"


def pause(engine: Engine, provider: str, until: datetime, reason: str, now: datetime | None = None) -> Pause:
    """Pause `provider` for everyone until `until` (a later pause wins over an earlier one)."""
    moment = now or datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "INSERT INTO provider_pauses (provider, paused_at, paused_until, reason) "
                "VALUES (CAST(:p AS provider), :at, :until, :r) ON CONFLICT (provider) DO UPDATE SET "
                "paused_at = EXCLUDED.paused_at, paused_until = EXCLUDED.paused_until, reason = EXCLUDED.reason, "
                "announced = false WHERE provider_pauses.paused_until < EXCLUDED.paused_until "
                "RETURNING paused_at, paused_until, reason"
            ),
            {"p": provider, "at": naive_utc(moment), "until": naive_utc(until), "r": reason},
        ).first()
    if row is None:  # an existing pause lasts longer
        current = paused(engine, provider, moment)
        assert current is not None
        return current
    return Pause(provider, aware_utc(row[0]), aware_utc(row[1]), row[2])  # type: ignore[arg-type]


def paused(engine: Engine, provider: str, now: datetime | None = None) -> Pause | None:
    """The pause in force for `provider` at `now`, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT paused_at, paused_until, reason FROM provider_pauses "
                "WHERE provider = CAST(:p AS provider) AND paused_until > :now"
            ),
            {"p": provider, "now": naive_utc(now or datetime.now(UTC))},
        ).first()
    return Pause(provider, aware_utc(row[0]), aware_utc(row[1]), row[2]) if row else None  # type: ignore[arg-type]


def announce(engine: Engine, provider: str) -> bool:
    """True exactly once per pause: for the first tick that tells the operator about it."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(
                "UPDATE provider_pauses SET announced = true "
                "WHERE provider = CAST(:p AS provider) AND NOT announced RETURNING provider"
            ),
            {"p": provider},
        ).first()
    return row is not None
