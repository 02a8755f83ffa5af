"""Parsers on every real captured response, plus the 2026 shapes and the edge cases Spotify produces."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.spotify import parse

TRACK_COLS = {"track_id", "track_name", "artist_name", "album_name", "album_art_url", "duration_ms", "isrc"}
COLUMNS = {
    "user_top_tracks": TRACK_COLS | {"time_range", "rank", "track_metadata"},
    "user_top_artists": {
        "artist_id", "artist_name", "image_url", "genres", "popularity", "follower_count",
        "time_range", "rank", "artist_metadata",
    },
    "user_recently_played": TRACK_COLS | {"played_at", "track_metadata"},
    "user_playlists": {
        "playlist_id", "playlist_name", "description", "image_url", "track_count", "follower_count",
        "is_public", "is_owner", "owner_name", "playlist_url", "playlist_metadata", "snapshot_id",
    },
    "user_playlist_tracks": TRACK_COLS
    | {"playlist_id", "added_at", "added_by", "track_position", "track_metadata", "item_type"},
    "user_saved_tracks": TRACK_COLS | {"saved_at", "popularity", "track_metadata"},
    "user_saved_albums": {
        "album_id", "album_name", "artist_name", "image_url", "release_date", "total_tracks", "saved_at",
        "album_type", "genres", "album_metadata",
    },
    "user_followed_artists": {
        "artist_id", "artist_name", "image_url", "genres", "popularity", "follower_count", "artist_url",
        "artist_metadata",
    },
}  # fmt: skip

PLAYLIST_ITEM_FILES = [
    "playlist_items_tracks.json",
    "playlist_items_episodes.json",
    "playlist_items_episodes_and_tracks.json",
    "playlist_tracks.json",
]


def parse_page(page, parse_one, *, playlist=False):
    stats = FetchStats()
    rows = parse.parse_items(
        parse.page_items(page), parse_one, stats, start=page.get("offset", 0), playlist=playlist
    )
    return rows, stats


def test_every_captured_file_is_covered(captured_dir: Path) -> None:
    covered = {
        "current_users_albums.json", "current_users_playlists.json", "current_users_top_artists.json",
        "current_users_top_tracks.json", "current_users_tracks.json", "get_playlist.json",
        "player_recently_played.json", *PLAYLIST_ITEM_FILES,
    }  # fmt: skip
    assert {p.name for p in captured_dir.glob("*.json")} == covered


def test_top_tracks(captured) -> None:
    page = captured("current_users_top_tracks.json")
    rows, stats = parse_page(page, lambda it, i: parse.top_track_row(it, time_range="short_term", rank=i + 1))
    assert len(rows) == len(page["items"]) == 20 and stats.skipped_malformed == 0
    assert all(set(r) == COLUMNS["user_top_tracks"] for r in rows)
    assert [r["rank"] for r in rows] == list(range(1, 21))
    first, raw = rows[0], page["items"][0]
    assert first["track_id"] == raw["id"] and first["track_name"] == raw["name"]
    assert first["isrc"] == raw["external_ids"]["isrc"].strip().upper()
    assert first["album_art_url"] == raw["album"]["images"][0]["url"]  # 640x640 beats 300 and 64
    assert first["track_metadata"] == raw


def test_top_artists(captured) -> None:
    page = captured("current_users_top_artists.json")
    rows, stats = parse_page(page, lambda it, i: parse.top_artist_row(it, time_range="long_term", rank=i + 1))
    assert len(rows) == 10 and stats.skipped_malformed == 0
    assert all(set(r) == COLUMNS["user_top_artists"] for r in rows)
    raw = page["items"][0]
    assert rows[0]["follower_count"] == raw["followers"]["total"]
    assert rows[0]["popularity"] == raw["popularity"] and rows[0]["genres"] == raw["genres"]


def test_recently_played(captured) -> None:
    page = captured("player_recently_played.json")
    rows, stats = parse_page(page, lambda it, i: parse.recently_played_row(it))
    assert len(rows) == 20 and stats.skipped_malformed == 0
    assert all(set(r) == COLUMNS["user_recently_played"] for r in rows)
    assert rows[0]["played_at"] == datetime(2017, 5, 27, 20, 7, 54, 721000, tzinfo=UTC)
    assert rows[0]["isrc"] == "USRE11500180"
    assert rows[0]["track_metadata"] == page["items"][0]  # the whole PlayHistoryObject, context included


def test_playlists_is_owner_from_me_id(captured) -> None:
    page = captured("current_users_playlists.json")
    rows, _ = parse_page(page, lambda it, i: parse.playlist_row(it, me_id="1123408718"))
    assert len(rows) == 5 and all(set(r) == COLUMNS["user_playlists"] for r in rows)
    assert all(r["is_owner"] for r in rows)
    assert [r["track_count"] for r in rows] == [3, 10, 7, 3, 10]  # from the pre-2026 `tracks.total`
    assert all(r["snapshot_id"] for r in rows)
    others, _ = parse_page(page, lambda it, i: parse.playlist_row(it, me_id="someone-else"))
    assert not any(r["is_owner"] for r in others)


def test_full_playlist_object(captured) -> None:
    playlist = captured("get_playlist.json")
    row = parse.playlist_row(playlist, me_id=playlist["owner"]["id"])
    assert row["follower_count"] == playlist["followers"]["total"]
    assert row["image_url"] == parse.largest_image(playlist["images"])
    entries, stats = parse_page(
        playlist["tracks"], lambda it, i: parse.playlist_track_row(it, playlist_id=playlist["id"], position=i),
        playlist=True,
    )  # fmt: skip
    assert len(entries) == 4 and stats.skipped_null == 0
    assert entries[0]["added_by"] == "1123408718"


@pytest.mark.parametrize("name", PLAYLIST_ITEM_FILES)
def test_playlist_items(captured, name: str) -> None:
    page = captured(name)
    rows, stats = parse_page(
        page, lambda it, i: parse.playlist_track_row(it, playlist_id="pl", position=i), playlist=True
    )
    assert len(rows) == len(page["items"]) and stats.skipped_malformed == 0 and stats.skipped_null == 0
    assert all(set(r) == COLUMNS["user_playlist_tracks"] for r in rows)
    assert [r["track_position"] for r in rows] == list(range(len(rows)))
    for row, raw in zip(rows, page["items"], strict=True):
        assert row["item_type"] == raw["track"]["type"]  # captured files hold tracks and episodes only
        assert row["added_at"] is not None and row["added_at"].tzinfo is not None
        assert row["added_by"] == raw["added_by"]["id"]
        assert row["track_metadata"] == raw  # the whole PlaylistTrackObject
        if row["item_type"] == "episode":
            assert row["isrc"] is None and row["artist_name"] == raw["track"]["show"]["name"]


def test_saved_tracks(captured) -> None:
    page = captured("current_users_tracks.json")
    rows, stats = parse_page(page, lambda it, i: parse.saved_track_row(it))
    assert len(rows) == 3 and stats.skipped_malformed == 0
    assert all(set(r) == COLUMNS["user_saved_tracks"] for r in rows)
    raw = page["items"][0]
    assert rows[0]["saved_at"] == parse.parse_time(raw["added_at"])
    assert rows[0]["popularity"] == raw["track"]["popularity"]
    assert rows[0]["track_metadata"] == raw  # SavedTrackObject, not just the track


def test_saved_albums(captured) -> None:
    page = captured("current_users_albums.json")
    rows, stats = parse_page(page, lambda it, i: parse.saved_album_row(it))
    assert len(rows) == 2 and stats.skipped_malformed == 0
    assert all(set(r) == COLUMNS["user_saved_albums"] for r in rows)
    assert rows[0]["release_date"] == "2013-08-30" and rows[0]["genres"] == []
    assert rows[0]["album_metadata"] == page["items"][0]


def test_followed_artists_shape(captured) -> None:
    # No capture of /me/following: its items are ArtistObjects, like the top-artists page.
    page = captured("current_users_top_artists.json")
    rows, _ = parse_page(page, lambda it, i: parse.followed_artist_row(it))
    assert all(set(r) == COLUMNS["user_followed_artists"] for r in rows)
    assert rows[0]["artist_url"] == page["items"][0]["external_urls"]["spotify"]


# --- 2026 shapes and edge cases ------------------------------------------------------------------------


def _2026(entry: dict) -> dict:
    """The same entry as a 2026 development-mode app sees it: `item`, no popularity/markets."""
    entry = copy.deepcopy(entry)
    track = entry.pop("track")
    for key in ("popularity", "available_markets", "linked_from"):
        track.pop(key, None)
    entry["item"] = track
    return entry


def test_2026_item_key_and_removed_fields(captured) -> None:
    raw = captured("playlist_tracks.json")["items"][0]
    row = parse.playlist_track_row(_2026(raw), playlist_id="pl", position=0)
    assert row["track_id"] == raw["track"]["id"] and row["isrc"] == raw["track"]["external_ids"]["isrc"]
    saved = captured("current_users_tracks.json")["items"][0]
    saved = copy.deepcopy(saved)
    del saved["track"]["popularity"]
    assert parse.saved_track_row(saved)["popularity"] is None
    artist = copy.deepcopy(captured("current_users_top_artists.json")["items"][0])
    del artist["followers"], artist["popularity"], artist["genres"]
    row = parse.followed_artist_row(artist)
    assert row["follower_count"] is None and row["popularity"] is None and row["genres"] is None


def test_item_preferred_over_track(captured) -> None:
    raw = copy.deepcopy(captured("playlist_tracks.json")["items"][0])
    raw["item"] = {**raw["track"], "id": "new-key-wins"}
    assert parse.playlist_track_row(raw, playlist_id="pl", position=0)["track_id"] == "new-key-wins"


def test_null_items_skipped_positions_keep_counting(captured) -> None:
    page = copy.deepcopy(captured("playlist_tracks.json"))
    page["items"][1]["track"] = None
    page["items"][3] = None
    rows, stats = parse_page(
        page, lambda it, i: parse.playlist_track_row(it, playlist_id="pl", position=i), playlist=True
    )
    assert stats.skipped_null == 2 and len(rows) == 38
    assert [r["track_position"] for r in rows[:3]] == [0, 2, 4]


def test_local_track_kept_with_uri() -> None:
    entry = {
        "added_at": "2020-01-01T00:00:00Z",
        "added_by": {"id": "me"},
        "is_local": True,
        "item": {
            "id": None,
            "uri": "spotify:local:Some+Artist:Some+Album:Some+Title:248",
            "name": "Some Title",
            "type": "track",
            "artists": [{"id": None, "name": "Some Artist"}],
            "album": {"id": None, "name": "Some Album", "images": []},
            "duration_ms": {"totalMilliseconds": 248000},  # undocumented object form
            "is_local": True,
        },
    }
    row = parse.playlist_track_row(entry, playlist_id="pl", position=7)
    assert row["track_id"] == "spotify:local:Some+Artist:Some+Album:Some+Title:248"
    assert row["item_type"] == "local" and row["duration_ms"] is None and row["isrc"] is None
    assert row["artist_name"] == "Some Artist" and row["album_art_url"] is None


def test_malformed_item_skipped_not_page(captured) -> None:
    page = copy.deepcopy(captured("current_users_tracks.json"))
    del page["items"][0]["track"]["name"]
    page["items"][1]["track"]["artists"] = "not a list"
    rows, stats = parse_page(page, lambda it, i: parse.saved_track_row(it))
    assert len(rows) == 1 and stats.skipped_malformed == 2 and stats.items == 1


def test_artists_joined_primary_first_and_isrc_normalised() -> None:
    track = {
        "id": "t1",
        "name": "Get Lucky",
        "artists": [{"name": "Daft Punk"}, {"name": "Pharrell Williams"}, {"name": "Nile Rodgers"}],
        "external_ids": {"isrc": "  usqx91300108 "},
        "album": {
            "name": "RAM",
            "images": [
                {"url": "small", "width": 64, "height": 64},
                {"url": "big", "width": 640, "height": 640},
                {"url": "nosize", "width": None, "height": None},
            ],
        },
    }
    row = parse.top_track_row(track, time_range="short_term", rank=1)
    assert row["artist_name"] == "Daft Punk, Pharrell Williams, Nile Rodgers"
    assert row["isrc"] == "USQX91300108" and row["album_art_url"] == "big"
    del track["external_ids"]
    assert parse.top_track_row(track, time_range="short_term", rank=1)["isrc"] is None


def test_nul_characters_stripped_from_text_columns() -> None:
    play = {
        "played_at": "2026-03-01T10:00:00.5+01:00",
        "track": {
            "id": "t\x001",
            "name": "Na\x00me",
            "artists": [{"name": "A\x00"}],
            "album": {"name": "X\x00"},
        },
    }
    row = parse.recently_played_row(play)
    assert row["track_id"] == "t1" and row["track_name"] == "Name" and row["artist_name"] == "A"
    assert row["album_name"] == "X"
    assert row["played_at"] == datetime(2026, 3, 1, 9, 0, 0, 500000, tzinfo=UTC)  # converted to UTC


def test_track_shaped_episode_is_marked_episode(captured) -> None:
    # Without additional_types=episode Spotify returns episodes dressed as tracks.
    entry = copy.deepcopy(captured("playlist_items_tracks.json")["items"][0])
    entry["track"].update(type="track", episode=True, uri="spotify:episode:abc", id="abc", external_ids={})
    row = parse.playlist_track_row(entry, playlist_id="pl", position=0)
    assert row["item_type"] == "episode" and row["track_id"] == "abc" and row["isrc"] is None
