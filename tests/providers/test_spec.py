"""A provider's declaration: every Dagster name derives from its group, its steps chain endpoints that
read another's output, and an unknown endpoint is named with the choices."""

from __future__ import annotations

import pytest

from blendify_assets.core.errors import BlendifyError
from blendify_assets.providers import registry
from blendify_assets.providers.apple_music.provider import PROVIDER as APPLE_MUSIC


def test_names_derive_from_the_group_and_data_keeps_its_name() -> None:
    assert (APPLE_MUSIC.name, APPLE_MUSIC.group) == ("apple", "apple_music")
    assert (APPLE_MUSIC.pool, APPLE_MUSIC.partitions_name, APPLE_MUSIC.job_name) == (
        "apple_music_api",
        "apple_music_users",
        "apple_music_sync",
    )
    assert APPLE_MUSIC.asset_key_path("recently_played") == ("apple_music", "recently_played")
    assert registry.names() == ("spotify", "apple")


def test_steps_keep_playlists_and_their_tracks_together() -> None:
    steps = [[e.name for e in step] for step in APPLE_MUSIC.steps()]
    assert ["library_playlists", "playlist_tracks"] in steps
    assert sum(len(step) for step in steps) == len(APPLE_MUSIC.endpoints) == len(steps) + 1


def test_unknown_names_are_refused_with_the_choices() -> None:
    with pytest.raises(BlendifyError, match="unknown provider 'tidal': choose one of spotify, apple"):
        registry.get("tidal")
    with pytest.raises(BlendifyError, match="unknown apple endpoint 'nope': choose one of library_songs"):
        APPLE_MUSIC.endpoint("nope")
