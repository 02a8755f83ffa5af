"""Member taste: the evidence behind each track, and the weights built from it."""

from __future__ import annotations

import pytest

from blendify_assets.blend import balanced, build_member_taste, member_tracks
from blendify_assets.blend.group import build_group
from blendify_assets.blend.model import Evidence, track_points
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


def test_a_tracks_first_copy_is_taken_in_source_order_and_needs_no_other_rows() -> None:
    """Taste prepare clusters the tracks from `member_tracks` alone (issue 18): it must hold what the
    full taste holds, copy for copy and in the same order, whatever order the sources come in."""
    renamed = {**track("t1", "One (Remastered)", "Alpha"), "saved_at": "2026-02-01T00:00:00"}
    later = {**track("t2", "Two", "Beta"), "playlist_id": "p1", "item_type": "track"}
    episode = {**track("e1", "Pod", "Show"), "playlist_id": "p1", "item_type": "episode"}
    rows = {
        "playlist_tracks": [later, episode],
        "saved_tracks": [renamed, saved(track("t2", "Two (Live)", "Beta"))],
        "top_tracks": [top(track("t1", "One", "Alpha"), 1)],
        "top_artists": [artist("Alpha", 1, ["Indie Pop"])],
    }
    taste = build_member_taste("u1", rows)
    tracks = member_tracks({k: v for k, v in rows.items() if k != "top_artists"})
    assert list(tracks.items()) == list(taste.tracks.items())
    assert [t.track_name for t in tracks.values()] == ["One", "Two (Live)"]


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


def _cleo() -> dict[str, list[dict[str, object]]]:
    """This month's top 20 (never liked) and 30 songs liked in 2022 that she no longer plays."""
    now = [track(f"z{i:02d}", f"Now {i}", f"Current Artist {i}") for i in range(20)]
    old = [track(f"a{i:02d}", f"Old {i}", f"Old Artist {i}") for i in range(30)]
    return {
        "top_tracks": [top(t, i + 1) for i, t in enumerate(now)],
        "saved_tracks": [saved(t, f"2022-05-{1 + i % 28:02d}T00:00:00") for i, t in enumerate(old)],
    }


def test_what_a_member_plays_now_outranks_old_likes() -> None:
    """Issue 10 (7): a current top 20 beats songs liked years ago; a fresh like beats an old one."""
    cleo = build_member_taste("cleo", _cleo())
    best = sorted(cleo.points, key=lambda k: -cleo.points[k])
    assert [cleo.tracks[k].track_name for k in best[:20]] == [f"Now {i}" for i in range(20)]
    fresh = build_member_taste(
        "u1",
        {"saved_tracks": [saved(track("t1", "Old Like", "A"), "2024-03-01T00:00:00"),
                          saved(track("t2", "New Like", "B"), "2026-02-25T00:00:00")]},
    )  # fmt: skip
    assert fresh.points[("spotify", "t2")] > fresh.points[("spotify", "t1")]
    plays = build_member_taste(
        "u2",
        {"recently_played": [*played(track("t1", "Last Year", "A"), 5, "2025-03-01"),
                             *played(track("t2", "This Week", "B"), 2, "2026-02-27")]},
    )  # fmt: skip
    assert plays.points[("spotify", "t2")] > plays.points[("spotify", "t1")], "recent plays weigh more"


def test_a_blend_gives_a_member_their_current_favourites() -> None:
    cleo = build_member_taste("cleo", _cleo())
    bob = build_member_taste("bob", {"top_tracks": [top(track(f"b{i}", f"Bob {i}", f"Bob Artist {i}"), i + 1)
                                                    for i in range(20)]})  # fmt: skip
    picks = balanced([cleo, bob], size=20)
    mine = sorted(p.track.track_name for p in picks if p.source_user_id == "cleo")
    assert mine == sorted(f"Now {i}" for i in range(10)), "her top 10 this month, not 2022's likes"


def test_ties_go_to_the_latest_play_then_to_the_title_not_to_ids() -> None:
    # Both are played more than the cap counts, so only when they were played tells them apart.
    taste = build_member_taste(
        "u1",
        {"recently_played": [*played(track("a1", "Earlier", "A"), 20, "2026-02-26"),
                             *played(track("z9", "Later", "B"), 20, "2026-02-27")]},
    )  # fmt: skip
    group = build_group([taste, build_member_taste("u2", {})])
    assert [group.holdings[c]["u1"].info.track_name for c in group.ranked["u1"]] == ["Later", "Earlier"]
    # Undated library songs with nothing else to tell them apart: alphabetical, as a listener sorts.
    library_only = build_member_taste(
        "u1", {"saved_tracks": [{**track("a1", "Zulu", "Zed"), "saved_at": None},
                                {**track("z9", "Alpha", "Abe"), "saved_at": None}]}
    )  # fmt: skip
    group = build_group([library_only, build_member_taste("u2", {})])
    assert [group.holdings[c]["u1"].info.track_name for c in group.ranked["u1"]] == ["Alpha", "Zulu"]


def history(t: dict[str, object], plays: int, last: str = "2024-06-01T00:00:00") -> dict[str, object]:
    """A `history_plays` row: one per track, its count of imported plays and the latest."""
    return {**t, "plays": plays, "last_played_at": last}


def test_lifetime_history_ranks_songs_the_api_never_showed() -> None:
    """Issue 15: years of imported plays rank a member's songs; 63 plays weigh as rank 1 this month."""
    taste = build_member_taste(
        "dana",
        {"history_plays": [history(track("t1", "Played 200 Times", "A"), 200),
                           history(track("t2", "Played 15 Times", "B"), 15),
                           history(track("t3", "Played Once", "C"), 1)],
         "top_tracks": [top(track("t4", "Top 1", "D"), 1)]},
    )  # fmt: skip
    points = {taste.tracks[k].track_name: round(p, 3) for k, p in taste.points.items()}
    assert points["Played 200 Times"] > points["Top 1"] > points["Played 15 Times"] > points["Played Once"]
    assert points["Played 15 Times"] == 1.0
    assert track_points(Evidence(lifetime_plays=63)) == track_points(Evidence(top_ranks={"short_term": 1}))
    assert track_points(Evidence(lifetime_plays=10_000)) == 2.0  # capped
    e = taste.evidence[("spotify", "t1")]
    assert e.sources == ["history_plays"] and e.to_dict()["lifetime_plays"] == 200
    assert taste.artists["a"] == max(taste.artists.values())  # artist relevance follows the plays
