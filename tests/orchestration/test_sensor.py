"""The connection sensor against a real warehouse and a real Dagster instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from blendify_assets.db import provider_budget
from blendify_assets.definitions import defs
from blendify_assets.orchestration import sensors
from blendify_assets.orchestration.sensors import load_cursor

SENSOR = next(s for s in defs.sensors or [] if s.name == "connection_sensor")


def tick(instance, resources, cursor=None) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, definitions=defs
    ) as context:
        result = SENSOR(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:  # what the daemon does before the runs
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_new_connection_adds_partition_and_one_run(instance, resources, connect) -> None:
    user = connect("ada@example.com")
    result = tick(instance, resources)
    assert [r.partition_key for r in result.run_requests] == [user]
    request = result.run_requests[0]
    assert request.job_name == "spotify_sync"
    assert request.tags["blendify/trigger"] == "connection_sensor"
    assert request.run_key.startswith("spotify-connection-")
    assert instance.get_dynamic_partitions("spotify_users") == [user]
    assert load_cursor(result.cursor)["spotify"].seq > 0

    again = tick(instance, resources, result.cursor)  # nothing new: no run, cursor kept
    assert not again.run_requests
    assert load_cursor(again.cursor)["spotify"].seq == load_cursor(result.cursor)["spotify"].seq


def test_reauthorisation_triggers_again_but_token_refresh_does_not(
    instance, resources, connect, warehouse
) -> None:
    user = connect("ada@example.com")
    first = tick(instance, resources)
    with warehouse.begin() as conn:  # a token refresh rewrites tokens only
        conn.execute(sa.text("UPDATE provider_connections SET token_expires_at = now() + interval '1 hour'"))
    assert not tick(instance, resources, first.cursor).run_requests
    connect("ada@example.com")  # the user authorises again
    second = tick(instance, resources, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [user]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert not tick(instance, resources, second.cursor).run_requests


def test_inactive_connections_are_skipped_until_active(instance, resources, connect, set_status) -> None:
    ok, broken = connect("ok@example.com"), connect("broken@example.com")
    set_status(broken, "spotify", "needs_reauth")
    result = tick(instance, resources)
    assert [r.partition_key for r in result.run_requests] == [ok]
    set_status(broken, "spotify", "active")  # back to active takes a fresh sequence number
    later = tick(instance, resources, result.cursor)
    assert [r.partition_key for r in later.run_requests] == [broken]


def test_a_commit_below_the_cursor_is_still_seen_once(
    instance, resources, connect, warehouse, engine
) -> None:
    slow_user = connect("slow@example.com")
    with engine.begin() as conn:  # free the row (as the owner: the app may not delete) to re-insert it slowly
        conn.execute(sa.text("DELETE FROM provider_connections"))
    slow = warehouse.connect()
    slow_tx = slow.begin()
    slow.execute(
        sa.text(
            "INSERT INTO provider_connections (user_id, provider, provider_user_id, access_token_encrypted) "
            "VALUES (CAST(:u AS uuid), 'spotify', 'x', 'not-a-token')"
        ),
        {"u": slow_user},
    )  # fmt: skip  -- takes a sequence number now, commits later
    fast_user = connect("fast@example.com")
    first = tick(instance, resources)
    assert [r.partition_key for r in first.run_requests] == [fast_user]
    slow_tx.commit()
    slow.close()
    second = tick(instance, resources, first.cursor)
    assert [r.partition_key for r in second.run_requests] == [slow_user]
    assert not tick(instance, resources, second.cursor).run_requests


def test_a_burst_becomes_few_range_runs(instance, resources, connect, set_status, monkeypatch) -> None:
    monkeypatch.setattr(sensors, "USERS_PER_RUN", 4)
    monkeypatch.setattr(sensors, "PAGE", 3)  # several pages in one tick
    users = [connect(f"u{i:02d}@example.com") for i in range(10)]
    set_status(users[5], "spotify", "needs_reauth")
    result = tick(instance, resources)
    ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
              for r in result.run_requests]  # fmt: skip
    active = [u for u in users if u != users[5]]  # no partition for a connection that is not active
    assert ranges == [(active[0], active[3]), (active[4], active[7]), (active[8], active[8])]
    assert len({r.run_key for r in result.run_requests}) == 3
    assert instance.get_dynamic_partitions("spotify_users") == active
    assert not tick(instance, resources, result.cursor).run_requests


@pytest.mark.parametrize("raw", [None, ""])
def test_an_empty_cursor_starts_from_the_beginning(raw) -> None:
    assert load_cursor(raw) == {}


class Calls:
    """Counts calls to some of a Dagster instance's methods (the library's, not ours) and passes
    them on: what a tick asks of Dagster's storage."""

    def __init__(self, monkeypatch, instance, *names: str) -> None:
        self.counts = dict.fromkeys(names, 0)
        for name in names:
            original = getattr(instance, name)

            def counted(*args, _name=name, _original=original, **kwargs):
                self.counts[_name] += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(instance, name, counted)


def test_a_burst_of_new_connections_never_lists_every_partition(
    instance, resources, connect, monkeypatch
) -> None:
    """At 100,000 users, listing every partition key on each tick cost the sensor most of its time;
    new users' partitions are appended together, so their ranges need only their own keys."""
    monkeypatch.setattr(sensors, "USERS_PER_RUN", 4)
    others = [f"earlier-{i:04d}" for i in range(300)]
    instance.add_dynamic_partitions("spotify_users", others)
    users = [connect(f"n{i:02d}@example.com") for i in range(9)]
    calls = Calls(monkeypatch, instance, "get_dynamic_partitions", "has_dynamic_partition")
    with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
        result = SENSOR(context)
    assert calls.counts == {"get_dynamic_partitions": 0, "has_dynamic_partition": 0}
    ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
              for r in result.run_requests]  # fmt: skip
    assert ranges == [(users[0], users[3]), (users[4], users[7]), (users[8], users[8])]
    monkeypatch.undo()
    assert instance.get_dynamic_partitions("spotify_users") == [*others, *users]


def test_the_tick_adds_its_partitions_itself_in_one_call(instance, resources, connect, monkeypatch) -> None:
    """Handed to the daemon as a request, each new key cost it one query (`has_dynamic_partition`)
    before adding: 1,000 queries for 1,000 new connections. The tick adds them in one call."""
    users = [connect(f"n{i:02d}@example.com") for i in range(6)]
    calls = Calls(monkeypatch, instance, "add_dynamic_partitions")
    with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
        result = SENSOR(context)
    assert not result.dynamic_partitions_requests  # nothing left for the daemon to check key by key
    assert calls.counts == {"add_dynamic_partitions": 1}
    assert instance.get_dynamic_partitions("spotify_users") == users


def test_reauthorisations_in_a_burst_of_new_users(instance, resources, connect, monkeypatch) -> None:
    """A user who already has a partition sits anywhere in the order: a few get a run each; a burst of
    them is batched by the partition order (read then, and only then)."""
    monkeypatch.setattr(sensors, "USERS_PER_RUN", 4)
    old = [connect(f"old{i}@example.com") for i in range(6)]
    first = tick(instance, resources)
    connect("old1@example.com"), connect("old4@example.com")  # two users authorise again
    new = [connect(f"new{i}@example.com") for i in range(5)]
    second = tick(instance, resources, first.cursor)
    singles = [r.partition_key for r in second.run_requests if r.partition_key]
    ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
              for r in second.run_requests if not r.partition_key]  # fmt: skip
    assert singles == [old[1], old[4]]
    assert ranges == [(new[0], new[3]), (new[4], new[4])]

    for email in [f"old{i}@example.com" for i in range(6)]:  # everyone authorises again
        connect(email)
    third = tick(instance, resources, second.cursor)
    ranges = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
              for r in third.run_requests]  # fmt: skip
    assert ranges == [(old[0], old[3]), (old[4], old[5])]
    assert instance.get_dynamic_partitions("spotify_users") == [*old, *new]


def test_a_paused_provider_gets_no_runs_until_the_pause_ends_and_then_its_connections_go(
    instance, resources, connect, warehouse
) -> None:
    provider_budget.pause(
        warehouse, "spotify", datetime.now(UTC) + timedelta(hours=1), "quota exceeded (test)"
    )
    spotify_user = connect("ada@example.com")
    apple_user = connect("bo@example.com", "apple")
    paused = tick(instance, resources)
    assert [r.partition_key for r in paused.run_requests] == [apple_user]  # other providers go on
    assert "spotify" not in load_cursor(paused.cursor)  # its changes wait, unread
    with warehouse.begin() as conn:
        conn.execute(sa.text("UPDATE provider_pauses SET paused_until = now() AT TIME ZONE 'UTC'"))
    resumed = tick(instance, resources, paused.cursor)
    assert [r.partition_key for r in resumed.run_requests] == [spotify_user]
