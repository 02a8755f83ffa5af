"""Re-sync schedules: batched partition-range runs over active connections only."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from blendify_assets.definitions import defs
from blendify_assets.orchestration import schedules as schedules_module

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
    monkeypatch.setattr(schedules_module, "USERS_PER_RUN", 3)
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


def test_recently_played_poll_selects_only_that_endpoint(instance, resources, connect) -> None:
    users = [connect(f"u{i}@example.com") for i in range(3)]
    instance.add_dynamic_partitions("spotify_users", users)
    data = evaluate("spotify_recently_played_poll", instance, resources, TICK.replace(minute=30))
    assert ranges(data) == [(users[0], users[2])]
    assert data.run_requests[0].asset_selection == [dg.AssetKey(["spotify", "recently_played"])]
    assert data.run_requests[0].tags["blendify/trigger"] == "spotify_recently_played_poll"


def test_nothing_to_do_is_a_skip(instance, resources, connect) -> None:
    connect("nopartition@example.com")  # the sensor has not added it yet
    data = evaluate("spotify_daily_resync", instance, resources)
    assert not data.run_requests and "no active spotify connections" in (data.skip_message or "")
