"""Member taste: the evidence behind each track, and the weights built from it."""

from __future__ import annotations

import pytest

from blendify_assets.blend import build_member_taste
from blendify_assets.blend.model import track_points
from tests.blend.rows import artist, played, saved, top, track


def test_evidence_is_kept_per_track_and_ranks_order_relevance() -> None:
    a = track("t1", "One", "Alpha")
    b = track("t2", "Two", "Beta")
    taste = build_member_taste(
        "u1",
        {
            "top_tracks": [top(a, 1), top(a, 4, "long_term"), top(b, 30)],
            "recently_played": played(a, 3),
            "saved_tracks": [saved(b)],
        },
    )
    ea, eb = taste.evidence[("spotify", "t1")], taste.evidence[("spotify", "t2")]
    assert ea.top_ranks == {"short_term": 1, "long_term": 4}
    assert ea.play_count == 3 and ea.sources == ["top_tracks", "recently_played"]
    assert eb.saved and eb.sources == ["top_tracks", "saved_tracks"]
    assert track_points(ea) > track_points(eb)
    assert taste.max_points == track_points(ea)


def test_episodes_and_local_files_are_skipped_and_counted() -> None:
    song = {**track("t1", "One", "Alpha"), "playlist_id": "p1", "item_type": "track"}
    episode = {**track("e1", "Pod", "Show"), "playlist_id": "p1", "item_type": "episode"}
    local = {**track("spotify:local:x", "Demo", "Me"), "playlist_id": "p1", "item_type": "local"}
    taste = build_member_taste("u1", {"playlist_tracks": [song, episode, local]})
    assert list(taste.tracks) == [("spotify", "t1")]
    assert taste.skipped == {"episode": 1, "local": 1}


def test_artist_and_genre_weights_come_from_top_artists_follows_and_tracks() -> None:
    taste = build_member_taste(
        "u1",
        {
            "top_artists": [artist("Alpha", 1, ["Indie Pop"]), artist("Beta", 40, ["Metal"])],
            "followed_artists": [{"artist_name": "Gamma", "genres": ["indie pop"]}],
            "top_tracks": [top(track("t1", "One", "Delta, Alpha"), 1)],
        },
    )
    assert taste.artists["alpha"] == 1.0
    assert taste.artists["alpha"] > taste.artists["gamma"] > 0
    assert taste.artists["beta"] > 0 and "delta" in taste.artists
    assert taste.genres["indie pop"] == 1.0 and taste.genres["metal"] < 1.0


def test_unknown_source_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown taste sources"):
        build_member_taste("u1", {"top_track": []})
