"""provider_usage and provider_pauses (issue 18): one count per provider and UTC day, shared by
every process; a pause that the longer one wins, announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blendify_assets.db import provider_budget

NOON = datetime(2026, 9, 2, 12, 0, tzinfo=UTC)


def test_requests_are_counted_per_provider_and_day(engine) -> None:
    provider_budget.spend(engine, "spotify", 40, NOON)
    provider_budget.spend(engine, "spotify", 2, NOON + timedelta(hours=11))
    provider_budget.spend(engine, "apple", 7, NOON)
    provider_budget.spend(engine, "spotify", 5, NOON + timedelta(hours=12))  # the next UTC day
    assert provider_budget.spent(engine, "spotify", NOON) == 42
    assert provider_budget.spent(engine, "apple", NOON) == 7
    assert provider_budget.spent(engine, "spotify", NOON + timedelta(days=1)) == 5


def test_a_pause_lasts_until_its_end_and_the_longer_one_wins(engine) -> None:
    assert provider_budget.paused(engine, "spotify", NOON) is None
    pause = provider_budget.pause(engine, "spotify", NOON + timedelta(hours=2), "quota exceeded (a)", NOON)
    assert (
        provider_budget.pause(engine, "spotify", NOON + timedelta(hours=1), "shorter", NOON).reason
        == pause.reason
    )
    assert provider_budget.announce(engine, "spotify") is True
    assert provider_budget.announce(engine, "spotify") is False  # once per pause
    assert provider_budget.paused(engine, "apple", NOON) is None  # per provider
    assert provider_budget.paused(engine, "spotify", NOON + timedelta(hours=1, minutes=59)) == pause
    assert provider_budget.paused(engine, "spotify", NOON + timedelta(hours=2)) is None
    longer = provider_budget.pause(engine, "spotify", NOON + timedelta(hours=5), "quota exceeded (b)", NOON)
    assert longer.reason == "quota exceeded (b)"
    assert provider_budget.announce(engine, "spotify") is True  # a new pause is told again
