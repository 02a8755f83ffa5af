"""Spending a provider's request budget where data changes: which users a run syncs, in what order,
and when it stops (no Dagster here; the schedules and the sync step both call it).

- Adaptive polls (`Endpoint.adaptive`): a poll run covers a partition range but polls only the users
  whose planned poll (`db/poll_schedule`) is due by the run's tick (tag `POLL_DUE_BY`).
- Re-syncs: the daily schedule orders users by staleness (oldest successful re-sync first) and takes
  as many as the window's budget (`request_budget` in the provider's settings) still pays for; its
  runs sync only users last re-synced at or before the cutoff (tag `SYNCED_BEFORE`), stalest first,
  and stop when the budget is spent. The rest come first in the next window: nobody starves.
- A spent quota (`QuotaExceeded`) pauses the provider for everyone (`db/provider_budget`) until the
  provider's Retry-After, or the next budget window: steps stop, ticks launch nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from blendify_assets.core.time import aware_utc
from blendify_assets.db import connections, poll_schedule, provider_budget, sync_log
from blendify_assets.db.provider_budget import Pause
from blendify_assets.providers.errors import QuotaExceeded
from blendify_assets.providers.spec import Endpoint, ProviderSpec

POLL_DUE_BY = "blendify/poll_due_by"  # run tag: poll only users due by this instant (ISO 8601)
SYNCED_BEFORE = "blendify/synced_before"  # run tag: re-sync only users last re-synced at or before it
DEFAULT_REQUESTS_PER_USER = 40  # a re-sync's cost before the sync log knows better
HORIZON = timedelta(days=14)  # staleness is read from this much of the sync log; older counts as never


def request_budget(settings: Any) -> int | None:
    """The provider's requests per budget window (None: unlimited); a settings field, if declared."""
    value = getattr(settings, "request_budget", None)
    return int(value) if value else None


def polled_endpoints(spec: ProviderSpec[Any]) -> list[str]:
    return [e.name for e in spec.endpoints if e.adaptive]


def pause_for_quota(engine: Engine, provider: str, exc: QuotaExceeded, now: datetime | None = None) -> Pause:
    """Pause `provider` for everyone: until its Retry-After, or else until the budget window resets."""
    moment = now or datetime.now(UTC)
    if exc.retry_after:
        until = moment + timedelta(seconds=exc.retry_after)
    else:
        until = provider_budget.window_start(moment) + provider_budget.WINDOW
    return provider_budget.pause(engine, provider, until, f"quota exceeded ({exc})", moment)


def _instant(text: str | None) -> datetime | None:
    return aware_utc(datetime.fromisoformat(text)) if text else None


def select_users(
    engine: Engine, spec: ProviderSpec[Any], chain: Sequence[Endpoint], users: Sequence[str],
    tags: Mapping[str, str], run_id: str | None = None,
) -> tuple[list[str], list[str]]:  # fmt: skip
    """(users a step of `chain` syncs, in order; users of its range it leaves alone), from the run's
    tags, decided once per step (playlists' success must not drop a user from playlist_tracks).
    Runs without these tags (a new connection, `blendify sync`, the UI) sync every user given."""
    adaptive = next((e for e in chain if e.adaptive), None)
    due_by = _instant(tags.get(POLL_DUE_BY))
    cutoff = _instant(tags.get(SYNCED_BEFORE))
    if adaptive is not None and due_by is not None:
        wanted = poll_schedule.due_among(engine, spec.name, adaptive.name, users, due_by)
        chosen = [u for u in users if u in wanted]
    elif cutoff is not None:  # staleness as it stood before this run's own earlier steps
        since = datetime.now(UTC) - HORIZON  # as the schedule read it (older re-syncs count as never)
        last = sync_log.last_success(engine, spec.name, polled_endpoints(spec), users, run_id, since)
        chosen = sorted(
            (u for u in users if u not in last or last[u] <= cutoff), key=lambda u: _age_key(last, u)
        )
    else:
        return list(users), []
    active = connections.active_among(engine, spec.name, chosen)  # a range spans others' partitions too
    chosen = [u for u in chosen if u in active]
    return chosen, [u for u in users if u not in active]


def _age_key(last: Mapping[str, datetime], user: str) -> tuple[int, datetime]:
    found = last.get(user)
    return (0, datetime.min.replace(tzinfo=UTC)) if found is None else (1, found)


@dataclass(frozen=True)
class ResyncPlan:
    users: list[str]  # the stalest users the budget pays for, stalest first
    cutoff: datetime  # their newest last re-sync (datetime.min: none of them was ever re-synced)
    carried: int  # active users left for the next window
    remaining: int | None  # requests left in the window (None: no budget)
    per_user: int  # estimated requests per user's re-sync


def plan_resync(
    engine: Engine, spec: ProviderSpec[Any], active: Sequence[str], budget: int | None, now: datetime
) -> ResyncPlan:
    """Order `active` users by staleness and take those the window's remaining budget pays for."""
    polled = polled_endpoints(spec)
    last = sync_log.last_success(engine, spec.name, polled, None, since=now - HORIZON)
    ordered = sorted(active, key=lambda u: _age_key(last, u))
    per_user = sync_log.requests_per_user(engine, spec.name, polled) or DEFAULT_REQUESTS_PER_USER
    if budget is None:
        chosen, remaining = ordered, None
    else:
        remaining = max(0, budget - provider_budget.spent(engine, spec.name, now))
        chosen = ordered[: remaining // per_user]
    times = [last[u] for u in chosen if u in last]
    cutoff = max(times) if times else datetime.min.replace(tzinfo=UTC)
    return ResyncPlan(chosen, cutoff, len(ordered) - len(chosen), remaining, per_user)
