"""When to poll a user's recently played next, from their listening (pure: no SQL, no Dagster).

A provider keeps only the last `window` plays (Spotify: 50), so a poll must come before that many
new plays pile up; every other poll spends quota on nothing. The policy keeps one number per user,
`plays_per_hour`: the fastest listening seen lately (plays over the span they cover, at least an
hour), decaying with a half-life of a week so a listener who slows down is polled less. The next
poll comes when, at that rate, `safe_fraction` of the window would have filled; but only while the
user listened within the last `grace`: past it the rate halves every further `idle_half_life`, so a
user idle for a week reaches `max_interval`. A new user's first day is polled at least hourly: the
50 plays of history their first poll returns may be slower than their sessions. A poll that returns a full window after the cursor
may have lost plays (it came too late): the rate doubles and the next poll is `min_interval` away.

`benchmarks/polling_budget.py` measures it against the fixed 30-minute poll on the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class PollPolicy:
    min_interval: timedelta = timedelta(minutes=15)  # the schedule's tick: no poll comes sooner
    max_interval: timedelta = timedelta(hours=24)  # everyone is polled at least daily
    safe_fraction: float = 0.5  # poll when half the provider's window may have filled
    rate_half_life: timedelta = timedelta(days=7)  # how slowly the remembered peak rate fades
    grace: timedelta = timedelta(hours=24)  # a daily listener keeps their rate overnight
    idle_half_life: timedelta = timedelta(hours=24)  # past the grace, the rate halves daily
    learning: timedelta = timedelta(days=1)  # a new user's first day: their history may understate
    learning_interval: timedelta = timedelta(hours=1)  # their sessions, so polls stay this close


DEFAULT_POLICY = PollPolicy()


@dataclass(frozen=True)
class PollObservation:
    """What one poll saw: the played_at of the new plays it returned, and whether the page was full
    (as many plays as the provider keeps: older ones may have dropped out unseen)."""

    played_at: Sequence[datetime]
    window: int  # plays the provider keeps (Spotify 50)
    full_page: bool = False


@dataclass(frozen=True)
class PollPlan:
    """A user's polling memory: stored per (user, provider, endpoint) by `db/poll_schedule.py`."""

    polled_at: datetime
    next_poll_at: datetime
    plays_per_hour: float  # the remembered peak listening rate
    last_play_at: datetime | None  # the newest play seen
    late_polls: int = 0  # polls that came back full: plays may have been lost
    first_polled_at: datetime | None = None  # the user's first poll (None: this one)


def observed_rate(played_at: Sequence[datetime]) -> float:
    """Plays per hour over the span the plays cover, at least an hour (a burst of two plays is
    not 100 plays an hour)."""
    if not played_at:
        return 0.0
    span = max(played_at) - min(played_at)
    return len(played_at) / max(span / HOUR, 1.0)


def _half(elapsed: timedelta, half_life: timedelta) -> float:
    return float(0.5 ** max(0.0, elapsed / half_life))


def effective_rate(plan: PollPlan, now: datetime, policy: PollPolicy = DEFAULT_POLICY) -> float:
    """The rate the next interval is planned for: the peak, fading once the user has been idle
    for longer than the grace."""
    if plan.last_play_at is None:
        return 0.0
    idle = now - plan.last_play_at - policy.grace
    return plan.plays_per_hour * _half(idle, policy.idle_half_life)


def interval_for(rate: float, window: int, policy: PollPolicy = DEFAULT_POLICY) -> timedelta:
    """How long until `safe_fraction` of the window fills at `rate`, within the bounds."""
    hours = policy.safe_fraction * window / rate if rate > 0 else float("inf")
    if hours >= policy.max_interval / HOUR:  # also keeps a vanishing rate from overflowing a timedelta
        return policy.max_interval
    return max(policy.min_interval, HOUR * hours)


def plan_next(
    previous: PollPlan | None, seen: PollObservation, now: datetime, policy: PollPolicy = DEFAULT_POLICY
) -> PollPlan:
    """The plan after a successful poll at `now` that saw `seen`."""
    rate = observed_rate(seen.played_at)
    last_play = max(seen.played_at) if seen.played_at else None
    late, first = 0, now
    if previous is not None:
        first = previous.first_polled_at or previous.polled_at
        rate = max(rate, previous.plays_per_hour * _half(now - previous.polled_at, policy.rate_half_life))
        if previous.last_play_at is not None and (last_play is None or previous.last_play_at > last_play):
            last_play = previous.last_play_at
        late = previous.late_polls
    if seen.full_page:  # polled too late: plays may have dropped out of the window unseen
        since = (now - previous.polled_at) / HOUR if previous is not None else 1.0
        rate = max(rate * 2, seen.window / max(since, 0.25))
        return PollPlan(now, now + policy.min_interval, rate, last_play, late + 1, first)
    plan = PollPlan(now, now, rate, last_play, late, first)
    interval = interval_for(effective_rate(plan, now, policy), seen.window, policy)
    if now - first < policy.learning:
        interval = min(interval, policy.learning_interval)
    return replace(plan, next_poll_at=now + interval)
