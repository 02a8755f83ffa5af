"""The cross-provider world: the hard cases of matching are there, and its truth is consistent."""

from __future__ import annotations

from collections import Counter

from blendify_assets.blend.normalize import title_key, version_words
from blendify_assets.simulator import SimulatorConfig, World
from blendify_assets.simulator.catalog import build_catalog
from blendify_assets.simulator.crossworld import APPLE, SPOTIFY

CONFIG = SimulatorConfig(users=4, seed=7, profile_mix="tiny", catalog_tracks=3_000)


def test_the_world_holds_every_case_matching_must_handle() -> None:
    world = World(CONFIG)
    cross, tracks = world.cross, world.catalog.tracks
    kinds = Counter((r.service, r.role) for r in cross.releases)
    assert kinds[(APPLE, "release_twin")] and kinds[(SPOTIFY, "release_twin")]  # several ids per ISRC
    assert kinds[(APPLE, "isrc_twin")] and kinds[(SPOTIFY, "isrc_twin")]  # one recording, two ISRCs
    assert kinds[(APPLE, "exclusive")] and kinds[(APPLE, "decoy")] and kinds[(SPOTIFY, "decoy")]
    assert {r.decoy_kind for r in cross.releases if r.role == "decoy"} == {"version", "near_title", "cover"}
    apple_only = [r for r in cross.releases if r.role == "exclusive" and not cross.twins(APPLE, r.id)]
    spotify_only = [t for t in tracks if not cross.twins(SPOTIFY, t.sid)]
    assert apple_only and spotify_only
    lower = [t for t in tracks if t.apple_id and t.spotify_isrc != t.isrc]
    assert lower and all(cross.twins(SPOTIFY, t.sid)[0] == t.apple_id for t in lower)  # ISRC case differs
    several = [r for r in cross.releases if r.service == APPLE and r.role == "release_twin"]
    assert any(
        len(world.catalog.tracks_by_isrc[r.isrc]) + len(cross.with_isrc(APPLE, r.isrc)) > 1 for r in several
    )


def test_decoys_are_other_songs_that_look_alike() -> None:
    world = World(CONFIG)
    cross = world.cross
    artists = world.catalog.artists
    for r in (r for r in cross.releases if r.role == "decoy"):
        assert r.recording != r.imitates and not cross.twins(r.service, r.id)  # nobody's twin
        other = APPLE if r.service == SPOTIFY else SPOTIFY  # what it imitates is on the other service
        look = next((x for x in cross.listings(other) if x.recording == r.imitates), None)
        assert look is not None
        if r.decoy_kind == "version":
            assert version_words(title_key(r.name)) != version_words(title_key(look.name))
        elif r.decoy_kind == "near_title":
            assert not set(title_key(r.name).split()) & set(title_key(look.name).split())
            assert abs(r.duration_ms - look.duration_ms) <= 1_500  # duration cannot tell them apart
        else:  # a cover: same title, another artist
            assert r.name == look.name and artists[r.artist_idxs[0]].name not in look.artist_name


def test_truth_is_symmetric_and_every_entry_resolves() -> None:
    cross = World(CONFIG).cross
    for service, other in ((SPOTIFY, APPLE), (APPLE, SPOTIFY)):
        for listing in cross.listings(service):
            assert cross.recording(service, listing.id) == listing.recording
            for twin in cross.twins(service, listing.id):
                assert listing.id in cross.twins(other, twin)
    truth = cross.truth()
    assert all(entry["spotify"] or entry["apple"] for entry in truth["recordings"].values())
    assert len(truth["decoys"]) == sum(1 for r in cross.releases if r.role == "decoy")


def test_the_crossworld_is_deterministic_and_leaves_the_main_world_alone() -> None:
    one, two = World(CONFIG), World(CONFIG)
    assert one.cross.fingerprint_parts() == two.cross.fingerprint_parts()
    other = World(SimulatorConfig(users=4, seed=8, profile_mix="tiny", catalog_tracks=3_000))
    assert other.cross.fingerprint_parts() != one.cross.fingerprint_parts()
    # users' libraries hold main catalog tracks only
    for user in one.apple_users:
        assert all(s.release is None for s in user.apple.songs.values())  # type: ignore[union-attr]


def test_no_two_apple_songs_share_a_catalog_id() -> None:
    """Seed 3 with 8,000 tracks drew one Apple id twice: two songs answered to one id."""
    catalog = build_catalog(3, 8_000, 8)
    apple_ids = [t.apple_id for t in catalog.tracks if t.apple_id]
    assert len(apple_ids) == len(set(apple_ids))
    assert all(catalog.tracks[catalog.track_by_apple[t.apple_id]] is t for t in catalog.tracks if t.apple_id)
