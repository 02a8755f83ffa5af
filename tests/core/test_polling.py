"""The adaptive poll policy (issue 18): a listener's next poll comes before the provider's 50-play
window can fill; an idle one is polled rarely; a poll that came too late shortens the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blendify_assets.core.polling import PollObservation, PollPlan, interval_for, plan_next

NOW = datetime(2026, 9, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def plays(n: int, end: datetime, every: timedelta = timedelta(minutes=4)) -> list[datetime]:
    return [end - every * i for i in range(n)][::-1]


KNOWN = PollPlan(NOW - 2 * H, NOW, 0.0, None, first_polled_at=NOW - timedelta(days=2))
"""A user polled for two days already: past the first day's hourly polls."""


def test_a_heavy_listener_is_polled_before_half_the_window_can_fill() -> None:
    plan = plan_next(KNOWN, PollObservation(plays(15, NOW), window=50), NOW)  # 15 an hour
    assert plan.plays_per_hour == 15
    assert plan.next_poll_at - NOW == timedelta(hours=25 / 15)  # 25 plays away, never 50
    # overnight silence does not lose the rate: the morning's first poll is as close
    quiet = plan_next(plan, PollObservation([], window=50), NOW + 8 * H)
    assert quiet.next_poll_at - quiet.polled_at < 2 * H


def test_a_user_idle_for_a_week_is_polled_once_a_day() -> None:
    plan = plan_next(KNOWN, PollObservation(plays(15, NOW), window=50), NOW)
    moment = NOW
    for _ in range(14):  # polls find nothing for a week
        moment = plan.next_poll_at
        plan = plan_next(plan, PollObservation([], window=50), moment)
    assert moment - NOW < timedelta(days=7)
    plan = plan_next(plan, PollObservation([], window=50), NOW + timedelta(days=7))
    assert plan.next_poll_at - plan.polled_at == timedelta(hours=24)
    never = plan_next(KNOWN, PollObservation([], window=50), NOW)  # nobody listened yet: the bound
    assert never.next_poll_at - NOW == timedelta(hours=24)


def test_a_full_page_means_the_poll_was_late_and_the_next_comes_soon() -> None:
    plan = plan_next(KNOWN, PollObservation(plays(2, NOW), window=50), NOW)
    assert plan.next_poll_at - NOW == timedelta(hours=12.5)  # 2 plays an hour: 25 plays away
    late = plan_next(
        plan, PollObservation(plays(50, NOW + 6 * H, timedelta(minutes=3)), 50, True), NOW + 6 * H
    )
    assert late.next_poll_at - late.polled_at == timedelta(minutes=15)
    assert late.late_polls == 1 and late.plays_per_hour >= 20


def test_intervals_stay_within_bounds() -> None:
    assert interval_for(0.0, 50) == timedelta(hours=24)
    assert interval_for(1e-300, 50) == timedelta(hours=24)  # no overflow on a vanishing rate
    assert interval_for(10_000.0, 50) == timedelta(minutes=15)


def test_a_new_users_first_day_is_polled_hourly_whatever_their_history_says() -> None:
    """Their first poll's 50 plays of history may be slower than their sessions (a binge after a
    quiet week): a day of hourly polls shows the real rate before the intervals widen."""
    slow_history = plays(50, NOW, timedelta(hours=2))  # 0.5 plays an hour
    plan = plan_next(None, PollObservation(slow_history, window=50), NOW)
    assert plan.first_polled_at == NOW and plan.next_poll_at - NOW == H
    moment = NOW
    while moment - NOW < timedelta(days=1):
        moment = plan.next_poll_at
        plan = plan_next(plan, PollObservation([], window=50), moment)
        assert plan.next_poll_at - moment <= H or moment - NOW >= timedelta(days=1)
    assert plan.first_polled_at == NOW
    assert plan.next_poll_at - moment > 12 * H  # after the first day, the history's slow rate rules
