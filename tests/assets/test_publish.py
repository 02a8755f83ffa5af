"""The published-playlists asset on a test instance: downstream of blend_tracks, partitioned by
blend, its metadata per member (service, link, tracks, matched by method, unmatched with reasons),
never a token; the automation publishes what a generation made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from blendify_assets.assets.analytics import BLEND_TRACKS, PUBLISHED
from blendify_assets.demo.world import simulator_values
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from tests.fixtures.publish import build


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    profiles = (UserProfile.tiny(spotify=True, apple=False), UserProfile.tiny(spotify=False, apple=True))
    return SimulatorConfig(
        users=2, seed=7, catalog_tracks=3_000, profiles=profiles, apple_listing_delay_seconds=0.2
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def test_the_asset_publishes_after_each_generation_with_metadata_per_member(
    blendify_env, engine: Engine, simulator: Simulator, make_resources, instance, tmp_path: Path
) -> None:
    world = build(engine, simulator, tmp_path, size=20)
    defs = build_definitions(PROVIDERS, make_resources(simulator_values(simulator, tmp_path, PROVIDERS)))
    graph = defs.resolve_asset_graph()
    published = graph.assets_def_for_key(PUBLISHED)
    assert graph.get(PUBLISHED).parent_keys == {BLEND_TRACKS}
    instance.add_dynamic_partitions("blends", [world.blend_id])
    selection = dg.AssetSelection.assets(PUBLISHED)
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
    assert before.total_requested == 0  # the sensor's earlier tick: nothing generated yet

    generated = dg.materialize(
        [graph.assets_def_for_key(BLEND_TRACKS)], partition_key=world.blend_id, instance=instance,
    )  # fmt: skip
    assert generated.success
    wanted = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=selection, cursor=before.cursor
    )
    assert wanted.get_requested_partitions(PUBLISHED) == {world.blend_id}, "a new generation: publish it"
    result = dg.materialize([published], partition_key=world.blend_id, instance=instance)
    assert result.success
    event = result.asset_materializations_for_node("published_playlists")[0]
    assert event.partition == world.blend_id
    members = event.metadata["members"].value
    assert {m["service"] for m in members} == {"spotify", "apple"}
    for m in members:
        assert m["status"] == "published" and m["tracks_published"] > 0 and m["link"].startswith("https://")
        assert set(m["matched"]) <= {"own_id", "isrc", "metadata"}
        assert all(u["reason"] for u in m["unmatched"])
    links = [k for k, v in event.metadata.items() if isinstance(v, dg.UrlMetadataValue)]
    assert len(links) == 2

    again = dg.materialize([published], partition_key=world.blend_id, instance=instance)
    statuses = {
        m["status"]
        for m in again.asset_materializations_for_node("published_playlists")[0].metadata["members"].value
    }
    assert statuses == {"already_published"}

    issued = [*simulator.spotify._access, *simulator.spotify._refresh]
    stored = json.dumps([str(e.dagster_event) for e in instance.all_logs(result.run_id)])
    assert issued and not any(token in stored for token in issued)
