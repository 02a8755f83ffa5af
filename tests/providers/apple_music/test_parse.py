"""Apple resources -> rows: ids, artwork, ISRC, Replay items, malformed items skipped and counted."""

from __future__ import annotations

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.apple_music import parse
from blendify_assets.providers.rows import parse_items

LIBRARY_SONG = {
    "id": "i.PkdJNdAIrQozOW",
    "type": "library-songs",
    "attributes": {
        "name": "Song\u0000", "artistName": "Artist", "albumName": "Album", "durationInMillis": 200_000,
        "artwork": {"url": "https://x/{w}x{h}bb.jpg", "width": 1200, "height": 1200},
        "playParams": {"id": "i.PkdJNdAIrQozOW", "kind": "song", "isLibrary": True, "catalogId": "1440"},
    },
}  # fmt: skip


def test_library_song_uses_catalog_id_and_resolved_isrc() -> None:
    row = parse.library_song_row(LIBRARY_SONG, {"1440": "USUM71703861"})
    assert row["track_id"] == "1440" and row["isrc"] == "USUM71703861" and row["track_name"] == "Song"
    assert row["album_art_url"] == "https://x/1200x1200bb.jpg" and row["saved_at"] is None
    assert row["track_metadata"]["_blendify"] == {"catalog_id": "1440", "isrc_source": "catalog"}
    assert row["track_metadata"]["id"] == "i.PkdJNdAIrQozOW"


def test_song_without_catalog_twin_keeps_library_id_and_null_isrc() -> None:
    upload = {**LIBRARY_SONG, "attributes": {**LIBRARY_SONG["attributes"], "playParams": {"id": "i.x"}}}
    row = parse.library_song_row(upload, {"1440": "USUM71703861"})
    assert row["track_id"] == "i.PkdJNdAIrQozOW" and row["isrc"] is None


def test_playlist_without_sizes_and_replay_items() -> None:
    playlist = {"id": "p.1", "type": "library-playlists", "attributes": {
        "name": "Mix", "canEdit": True, "isPublic": False, "description": {"standard": "d"},
        "artwork": {"url": "https://x/{w}x{h}cc.jpeg", "width": None, "height": None},
        "playParams": {"id": "p.1", "kind": "playlist", "versionHash": "abc"}}}  # fmt: skip
    row = parse.library_playlist_row(playlist)
    assert row["snapshot_id"] == "abc" and row["is_owner"] is True and row["description"] == "d"
    assert row["image_url"] == "https://x/1000x1000cc.jpeg"
    song = {
        "id": "99",
        "type": "songs",
        "attributes": {"name": "S", "artistName": "A", "isrc": "gbaaa0000001"},
    }
    item = {
        "id": "year-2026-song-99",
        "type": "song-period-summaries",
        "relationships": {"song": {"data": [song]}},
    }
    top = parse.replay_song_row(item, rank=1, year=2026)
    assert (top["track_id"], top["isrc"], top["time_range"]) == ("99", "GBAAA0000001", "long_term")
    assert top["track_metadata"]["_blendify"] == {"source": "replay", "year": 2026}


def test_malformed_items_are_skipped_and_counted() -> None:
    stats = FetchStats()
    rows = parse_items(
        [LIBRARY_SONG, {"id": "i.2"}, None], lambda item, i: parse.library_song_row(item, {}), stats
    )
    assert len(rows) == 1 and stats.skipped_malformed == 1 and stats.skipped_null == 1
