"""`blendify blends publish` and `blendify blends publishing` on the simulator: what a member sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from blendify_assets.cli import main
from blendify_assets.demo.world import simulator_env, simulator_values
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from tests.fixtures.publish import build


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    profiles = (UserProfile.tiny(spotify=True, apple=False), UserProfile.tiny(spotify=False, apple=True))
    return SimulatorConfig(
        users=2, seed=7, catalog_tracks=3_000, profiles=profiles, apple_listing_delay_seconds=0.2
    )


def test_publish_prints_each_members_service_link_and_matches_then_changes_nothing(
    engine: Engine, simulator: Simulator, blendify_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(engine, simulator, tmp_path, size=20)
    for name, value in simulator_env(simulator_values(simulator, tmp_path, PROVIDERS), PROVIDERS).items():
        monkeypatch.setenv(name, value)
    first = CliRunner().invoke(main, ["blends", "publish", world.blend_id])
    assert first.exit_code == 0, first.output
    assert "https://open.spotify.com/playlist/" in first.output
    assert "https://music.apple.com/library/playlist/" in first.output
    assert first.output.count("published") == 2 and "isrc" in first.output
    again = CliRunner().invoke(main, ["blends", "publish", world.blend_id])
    assert again.exit_code == 0 and again.output.count("already_published") == 2, again.output

    spotify_member = world.user("spotify").email
    off = CliRunner().invoke(
        main, ["blends", "publishing", world.blend_id, "--user", spotify_member, "--off"]
    )
    assert off.exit_code == 0 and "not publishing" in off.output, off.output
    bad = CliRunner().invoke(main, ["blends", "publishing", "nope", "--user", spotify_member, "--on"])
    assert bad.exit_code == 2 and "no blend with id nope" in bad.output
