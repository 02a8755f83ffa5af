"""How often each ingestion asset is refreshed: the schedules and the freshness policies read the
same table, so a policy can never promise more than its schedule delivers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg

DAILY_CRON = "15 3 * * *"  # off the half hour, so it never lands on a recently-played tick


@dataclass(frozen=True)
class Cadence:
    cron: str
    every: timedelta


DAILY = Cadence(DAILY_CRON, timedelta(days=1))

# Endpoints polled more often than the daily re-sync: Spotify keeps only the last 50 plays, so a
# heavy listener (~8 plays an hour) loses nothing at one poll every 30 minutes.
FREQUENT: dict[tuple[str, str], Cadence] = {
    ("spotify", "recently_played"): Cadence("*/30 * * * *", timedelta(minutes=30)),
    # Apple lists ~75 unique songs without timestamps: an hourly diff keeps inferred play times
    # close to the truth and lets few plays scroll out of the window unseen.
    ("apple", "recently_played"): Cadence("5 * * * *", timedelta(hours=1)),
}


def cadence(provider: str, endpoint: str) -> Cadence:
    return FREQUENT.get((provider, endpoint), DAILY)


def freshness_policy(provider: str, endpoint: str) -> dg.FreshnessPolicy:
    """Warn after one missed run, fail after two (a run itself takes a while at scale)."""
    every = cadence(provider, endpoint).every
    slack = min(every / 3, timedelta(hours=2))  # 10 min on a 30-min poll, 2 h on the daily re-sync
    return dg.FreshnessPolicy.time_window(fail_window=2 * every + slack, warn_window=every + slack)
