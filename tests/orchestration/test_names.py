"""Dagster names are identities stored in the instance (partitions, cursors, slots, schedule ticks):
renaming one orphans that state. These are the names deployed instances hold; they must not move."""

from __future__ import annotations

import dagster as dg

from blendify_assets.definitions import defs
from blendify_assets.orchestration.factory import pool_limits
from blendify_assets.providers.registry import PROVIDERS

SPOTIFY = ("top_tracks", "top_artists", "recently_played", "playlists", "playlist_tracks", "saved_tracks",
           "saved_albums", "followed_artists")  # fmt: skip
APPLE = ("library_songs", "library_albums", "library_artists", "library_playlists", "playlist_tracks",
         "recently_played", "replay_top_songs", "replay_top_artists")  # fmt: skip
UNIQUE, TOTALS = "no_duplicate_items", "counts_match_totals"
RANKS, PLAYS = "ranks_contiguous", "no_duplicate_plays"
CHECKS = {
    "spotify/top_tracks": {RANKS}, "spotify/top_artists": {RANKS}, "spotify/recently_played": {PLAYS},
    "spotify/playlists": {UNIQUE, TOTALS}, "spotify/playlist_tracks": {TOTALS},
    "spotify/saved_tracks": {UNIQUE, TOTALS}, "spotify/saved_albums": {UNIQUE, TOTALS},
    "spotify/followed_artists": {UNIQUE, TOTALS},
    "apple_music/library_songs": {UNIQUE, TOTALS}, "apple_music/library_albums": {UNIQUE, TOTALS},
    "apple_music/library_artists": {UNIQUE, TOTALS}, "apple_music/library_playlists": {UNIQUE, TOTALS},
    "apple_music/playlist_tracks": {TOTALS}, "apple_music/recently_played": {PLAYS},
    "apple_music/replay_top_songs": {RANKS}, "apple_music/replay_top_artists": {RANKS},
}  # fmt: skip


def _repository() -> dg.RepositoryDefinition:
    return defs.get_repository_def()


def test_asset_and_check_keys() -> None:
    graph = _repository().asset_graph
    assert {"/".join(k.path) for k in graph.get_all_asset_keys()} == {
        *(f"spotify/{e}" for e in SPOTIFY),
        *(f"apple_music/{e}" for e in APPLE),
        "analytics/taste_vectors",
        "analytics/taste_matches",
        "blends/blend_tracks",
        "blends/published_playlists",
    }
    found: dict[str, set[str]] = {}
    for check in graph.asset_check_keys:
        found.setdefault("/".join(check.asset_key.path), set()).add(check.name)
    # every ingestion asset also has `connection_healthy`: users skipped for a broken connection
    assert found == {asset: {*checks, "connection_healthy"} for asset, checks in CHECKS.items()}


def test_jobs_schedules_sensors_partitions_and_pools() -> None:
    repository = _repository()
    assert {j.name for j in repository.get_all_jobs()} - {"__ASSET_JOB"} == {
        "spotify_sync",
        "apple_music_sync",
        "blend_generation",
        "taste_matching",
    }
    assert {(s.name, s.cron_schedule, s.job_name) for s in defs.schedules or []} == {
        ("spotify_daily_resync", "15 3 * * *", "spotify_sync"),
        ("spotify_recently_played_poll", "7-59/15 * * * *", "spotify_sync"),
        ("apple_music_daily_resync", "15 3 * * *", "apple_music_sync"),
        ("apple_music_recently_played_poll", "5 * * * *", "apple_music_sync"),
    }
    assert {s.name for s in defs.sensors or []} == {
        "connection_sensor",
        "new_blends_sensor",
        "analytics_automation",
    }
    partitions, ops = set(), {}
    for assets_def in defs.assets or []:
        if isinstance(assets_def, dg.AssetsDefinition):
            if isinstance(assets_def.partitions_def, dg.DynamicPartitionsDefinition):
                partitions.add(assets_def.partitions_def.name)
            ops[assets_def.node_def.name] = assets_def.op.pool
    assert partitions == {"spotify_users", "apple_music_users", "blends"}
    assert ops == {
        **{f"spotify_{e}": "spotify_api" for e in SPOTIFY if e != "playlist_tracks"},
        **{f"apple_music_{e}": "apple_music_api" for e in APPLE if e != "playlist_tracks"},
        "analytics__taste_vectors": None,
        "analytics__taste_matches": None,
        "blend_tracks": None,
        "published_playlists": None,
    }
    assert pool_limits(PROVIDERS) == {"spotify_api": 4, "apple_music_api": 4}
