"""Inferring plays from a recency list without timestamps (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from blendify_assets.providers.apple_music.recent import (
    MIN_OVERLAP,
    infer_times,
    merged_state,
    new_head_length,
)

PREVIOUS = [f"s{i}" for i in range(40)]


def test_nothing_played_means_no_new_head() -> None:
    assert new_head_length(PREVIOUS, PREVIOUS, complete=True) == 0
    assert new_head_length(PREVIOUS[:30], PREVIOUS, complete=False) == 0


def test_new_and_replayed_songs_move_to_the_head() -> None:
    current = ["new1", "s5", "new2", *(s for s in PREVIOUS if s != "s5")][:40]
    assert new_head_length(current, PREVIOUS, complete=True) == 3
    assert new_head_length(current[:30], PREVIOUS, complete=False) == 3  # first page is enough
    assert merged_state(current[:3], PREVIOUS)[:4] == ["new1", "s5", "new2", "s0"]


def test_a_partial_read_waits_for_enough_overlap() -> None:
    played = [f"n{i}" for i in range(30 - MIN_OVERLAP + 1)]
    current = [*played, *PREVIOUS][:30]
    assert new_head_length(current, PREVIOUS, complete=False) is None  # read the next page first
    assert new_head_length([*played, *PREVIOUS][:60], PREVIOUS, complete=False) == len(played)


def test_more_plays_than_the_window_are_all_new() -> None:
    current = [f"n{i}" for i in range(30)]
    assert new_head_length(current, PREVIOUS, complete=False) is None
    assert new_head_length(current, PREVIOUS, complete=True) == 30
    assert new_head_length(current, [], complete=True) == 30


def test_times_walk_back_from_the_poll_or_spread_between_polls() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    starts, method = infer_times([180_000, None, 240_000], now, now - timedelta(hours=1))
    assert method == "durations_back_from_poll"
    assert starts[0] == now - timedelta(minutes=3) and starts[0] > starts[1] > starts[2]
    starts, method = infer_times([180_000] * 4, now, now - timedelta(minutes=5))
    assert method == "spread_between_polls"
    assert all(now - timedelta(minutes=5) < s < now for s in starts) and starts == sorted(
        starts, reverse=True
    )
