"""The world: deterministic from the seed, evolving with the clock, sized like the schema says."""

from __future__ import annotations

from datetime import timedelta

from blendify_assets.simulator import SimulatorConfig, UserProfile, World

SMALL = SimulatorConfig(users=6, seed=5, profile_mix="tiny", catalog_tracks=3000)


def test_same_seed_same_world() -> None:
    assert World(SMALL).fingerprint() == World(SMALL).fingerprint()
    other = SimulatorConfig(users=6, seed=6, profile_mix="tiny", catalog_tracks=3000)
    assert World(other).fingerprint() != World(SMALL).fingerprint()


def test_evolution_does_not_depend_on_how_time_moves() -> None:
    one, many = World(SMALL), World(SMALL)
    one.advance_to(one.now + timedelta(hours=9, minutes=30))
    for _ in range(19):
        many.advance_to(many.now + timedelta(minutes=30))
    assert one.fingerprint() == many.fingerprint()


def test_clock_brings_plays_saves_and_edits() -> None:
    world = World(SMALL)
    users = [u for u in world.users if u.on_spotify]
    before = {u.uid: world.spotify_truth(u.uid) for u in users}
    apple_before = {u.uid: world.apple_truth(u.uid)["recently_played"] for u in world.apple_users}
    world.advance_to(world.now + timedelta(days=3))
    after = {u.uid: world.spotify_truth(u.uid) for u in users}
    new_plays = sum(len({p["played_at_ms"] for p in after[u]["play_log"]} - {p["played_at_ms"] for p in before[u]["play_log"]})
                    for u in after)  # fmt: skip
    assert new_plays > 50
    assert any(after[u]["saved_tracks"][0] != before[u]["saved_tracks"][0] for u in after)  # saves
    assert any({t["track_id"] for t in before[u]["saved_tracks"]} - {t["track_id"] for t in after[u]["saved_tracks"]}
               for u in after)  # unsaves  # fmt: skip
    snapshots = lambda truth: {p["id"]: p["snapshot_id"] for p in truth["playlists"]}  # noqa: E731
    assert any(snapshots(after[u]) != snapshots(before[u]) for u in after)
    assert any(world.apple_truth(u)["recently_played"] != r for u, r in apple_before.items())
    for truth in after.values():  # plays are newest first and only 50 are visible
        times = [p["played_at_ms"] for p in truth["recently_played"]]
        assert times == sorted(times, reverse=True) and len(times) == 50


def test_heavy_user_volumes() -> None:
    world = World(
        SimulatorConfig(users=2, seed=1, profiles=(UserProfile.heavy(spotify=True, apple=True), "light"))
    )
    heavy = world.users[0]
    truth = world.spotify_truth(heavy.uid)
    owned = [p for p in truth["playlists"] if p["is_owner"]]
    assert sum(p["total"] for p in owned) == 5_000
    assert len(truth["saved_tracks"]) == 2_000 and len(truth["saved_albums"]) == 500
    assert len(truth["followed_artists"]) == 200
    assert len({t["track_id"] for t in truth["saved_tracks"]}) == 2_000
    assert heavy.email == "user0001@sim.blendify.test" and heavy.display_name
    assert len(world.apple_truth(heavy.uid)["library_songs"]) > 2_500


def test_isrc_links_the_services() -> None:
    world = World(SMALL)
    tracks = world.catalog.tracks
    assert any(t.apple_id is None for t in tracks)  # Apple lacks some recordings
    assert any(
        t.spotify_isrc != t.isrc and t.spotify_isrc.upper() == t.isrc for t in tracks
    )  # lower-case now and then
    assert len({t.sid for t in tracks}) == len(tracks) == len({t.isrc for t in tracks})
    for user in world.apple_users:
        for song in world.apple_truth(user.uid)["library_songs"]:
            if song["catalog_id"]:
                assert tracks[world.catalog.track_by_apple[song["catalog_id"]]].isrc == song["isrc"]


def test_communities_share_taste() -> None:
    world = World(SimulatorConfig(users=12, seed=2, profile_mix="tiny", catalog_tracks=4000))
    users = [u for u in world.users if u.on_spotify]
    top = {u.uid: set(world.spotify_truth(u.uid)["top_tracks"]["long_term"]) for u in users}
    same = [
        len(top[a.uid] & top[b.uid])
        for a in users
        for b in users
        if a.index < b.index and a.community == b.community
    ]
    other = [
        len(top[a.uid] & top[b.uid])
        for a in users
        for b in users
        if a.index < b.index and a.community != b.community
    ]
    assert same and other
    assert sum(same) / len(same) > 2 * max(1.0, sum(other) / len(other))
