"""Re-sync schedules: batched partition-range runs over active connections only; polls of the users
due; re-syncs stalest first within the budget; nothing while the provider is paused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg

from blendify_assets.core.polling import PollPlan
from blendify_assets.db import poll_schedule, provider_budget, sync_log
from blendify_assets.definitions import defs
from blendify_assets.ingest.budget import POLL_DUE_BY, select_users
from blendify_assets.orchestration import budget as budget_module
from blendify_assets.providers import registry

SCHEDULES = {s.name: s for s in defs.schedules or []}
TICK = datetime(2026, 9, 2, 3, 15, tzinfo=UTC)


def evaluate(name: str, instance, resources, when: datetime = TICK):
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, resources=resources
    ) as context:
        return SCHEDULES[name].evaluate_tick(context)


def ranges(data) -> list[tuple[str, str]]:
    return [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in data.run_requests]  # fmt: skip


def test_daily_resync_batches_active_users_and_leaves_out_reauth(
    instance, resources, connect, set_status, monkeypatch
) -> None:
    monkeypatch.setattr(budget_module, "USERS_PER_RUN", 3)
    users = [connect(f"u{i}@example.com") for i in range(8)]
    instance.add_dynamic_partitions("spotify_users", users)
    set_status(users[4], "spotify", "needs_reauth")
    set_status(users[7], "spotify", "revoked")
    data = evaluate("spotify_daily_resync", instance, resources)
    assert ranges(data) == [(users[0], users[2]), (users[3], users[3]), (users[5], users[6])]
    assert all(r.asset_selection is None for r in data.run_requests)  # every endpoint
    keys = [r.run_key for r in data.run_requests]
    assert len(set(keys)) == 3 and all("20260902T0315" in k for k in keys)
    later = evaluate("spotify_daily_resync", instance, resources, TICK.replace(day=3))
    assert not set(keys) & {r.run_key for r in later.run_requests}  # a new tick, new run keys


def _plan(warehouse, user: str, next_poll_at: datetime) -> None:
    with warehouse.begin() as conn:
        poll_schedule.save(
            conn, uuid.UUID(user), "spotify", "recently_played",
            PollPlan(next_poll_at - timedelta(hours=1), next_poll_at, 2.0, None),
        )  # fmt: skip


def test_recently_played_poll_launches_only_the_users_due(
    instance, resources, connect, set_status, warehouse
) -> None:
    users = [connect(f"u{i}@example.com") for i in range(5)]
    instance.add_dynamic_partitions("spotify_users", users)
    tick = TICK.replace(minute=37)
    _plan(warehouse, users[0], tick - timedelta(minutes=5))  # due
    _plan(warehouse, users[1], tick + timedelta(hours=3))  # not yet
    _plan(warehouse, users[3], tick)  # due
    _plan(warehouse, users[4], tick - timedelta(hours=1))  # due, but the connection needs re-authorising
    set_status(users[4], "spotify", "needs_reauth")
    # users[2] was never polled: its first sync (connection sensor) and the daily re-sync poll it
    data = evaluate("spotify_recently_played_poll", instance, resources, tick)
    assert ranges(data) == [(users[0], users[3])]  # one run spanning the due users
    request = data.run_requests[0]
    assert request.asset_selection == [dg.AssetKey(["spotify", "recently_played"])]
    assert request.tags["blendify/trigger"] == "spotify_recently_played_poll"
    assert request.tags[POLL_DUE_BY] == tick.isoformat()
    # what the run's step then polls: the due, active users of its range, not the ones in between
    spec = registry.get("spotify")
    chosen, left = select_users(warehouse, spec, [spec.endpoint("recently_played")], users[:4], request.tags)
    assert chosen == [users[0], users[3]] and set(left) == {users[1], users[2]}
    later = evaluate("spotify_recently_played_poll", instance, resources, tick - timedelta(hours=2))
    assert not later.run_requests and "poll is due" in (later.skip_message or "")


def test_a_poll_takes_up_to_a_thousand_users_a_run(instance, resources, connect, warehouse) -> None:
    """A one-endpoint poll costs a user one or two requests: its runs are four times a re-sync's."""
    users = [connect(f"p{i}@example.com") for i in range(300)]
    instance.add_dynamic_partitions("spotify_users", users)
    tick = TICK.replace(minute=37)
    for user in users:
        _plan(warehouse, user, tick - timedelta(minutes=5))
    data = evaluate("spotify_recently_played_poll", instance, resources, tick)
    assert ranges(data) == [(users[0], users[-1])]  # before: two runs of 250 and 50


def _synced(warehouse, user: str, when: datetime, requests: int = 10, endpoint: str = "top_tracks") -> None:
    with warehouse.begin() as conn:
        sync_log.insert(
            conn, user_id=uuid.UUID(user), provider="spotify", endpoint=endpoint, started_at=when.replace(tzinfo=None),
            finished_at=when.replace(tzinfo=None), status="success", requests=requests, rows_appended=0,
            changed=False, error=None, details={}, run_id=None,
        )  # fmt: skip


def test_daily_resync_takes_the_stalest_users_the_budget_pays_for_and_carries_the_rest(
    instance, make_resources, connect, warehouse
) -> None:
    users = [connect(f"u{i}@example.com") for i in range(6)]
    instance.add_dynamic_partitions("spotify_users", users)
    now = datetime.now(UTC)
    ages = {users[0]: 2, users[1]: 30, users[2]: 5, users[3]: 50, users[4]: 1}  # hours; users[5] never synced
    for user, hours in ages.items():
        _synced(warehouse, user, now - timedelta(hours=hours), requests=10)
    _synced(
        warehouse, users[0], now - timedelta(minutes=5), endpoint="recently_played"
    )  # a poll is no re-sync
    provider_budget.spend(warehouse, "spotify", 5, now)  # spent today already
    resources = make_resources(providers={"spotify": {"request_budget": "36"}})  # 31 left: 3 users at 10
    data = evaluate("spotify_daily_resync", instance, resources, now)
    # users[5] (never), users[3] (50 h), users[1] (30 h): spanning users[1]..users[5], in one run
    assert ranges(data) == [(users[1], users[5])]
    request = data.run_requests[0]
    assert request.asset_selection is None
    spec = registry.get("spotify")
    chosen, left = select_users(warehouse, spec, [spec.endpoint("top_tracks")], users[1:], request.tags)
    assert chosen == [users[5], users[3], users[1]]  # stalest first
    assert set(left) == {users[2], users[4]}  # fresher: the next window takes them first
    provider_budget.spend(warehouse, "spotify", 30, now)
    spent = evaluate("spotify_daily_resync", instance, resources, now)
    assert not spent.run_requests
    assert "budget is spent" in (spent.skip_message or "") and "6 user(s) carried" in (
        spent.skip_message or ""
    )


def test_a_paused_provider_launches_nothing_and_says_why_once(
    instance, resources, connect, warehouse
) -> None:
    users = [connect(f"u{i}@example.com") for i in range(2)]
    instance.add_dynamic_partitions("spotify_users", users)
    _plan(warehouse, users[0], TICK - timedelta(hours=1))
    provider_budget.pause(warehouse, "spotify", TICK + timedelta(hours=2), "quota exceeded (test)", TICK)
    tick = TICK.replace(minute=37)
    for name in ("spotify_daily_resync", "spotify_recently_played_poll", "spotify_daily_resync"):
        data = evaluate(name, instance, resources, tick)
        assert not data.run_requests
        assert "spotify is paused until 2026-09-02 05:15 UTC: quota exceeded (test)" in (
            data.skip_message or ""
        )
    assert provider_budget.announce(warehouse, "spotify") is False  # the first tick told the operator
    apple = evaluate("apple_music_daily_resync", instance, resources, tick)  # other providers go on
    assert "paused" not in (apple.skip_message or "")
    after = evaluate(
        "spotify_recently_played_poll", instance, resources, TICK + timedelta(hours=2, minutes=7)
    )
    assert [r.tags["dagster/asset_partition_range_start"] for r in after.run_requests] == [users[0]]


def test_nothing_to_do_is_a_skip(instance, resources, connect) -> None:
    connect("nopartition@example.com")  # the sensor has not added it yet
    data = evaluate("spotify_daily_resync", instance, resources)
    assert not data.run_requests and "no active spotify connections" in (data.skip_message or "")
