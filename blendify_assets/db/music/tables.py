"""The eight music tables as the writer sees them: columns, scope, and which fields may drift."""

from __future__ import annotations

from dataclasses import dataclass

# Fields that change without the music changing (expiring image URLs, daily popularity, follower
# counts, the raw JSON around them). They are stored with every snapshot but never count as a change.
IS_EXPORT = "(track_metadata #>> '{_blendify,source}') = 'export'"
"""A `user_recently_played` row imported from a lifetime-history export (issue 15), not fetched."""

VOLATILE = frozenset({"album_art_url", "image_url", "popularity", "follower_count"})


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]  # row columns, without id, user_id, provider and fetched_at
    events: bool = False  # True: an event log (deduplicated appends), not snapshots

    @property
    def json_columns(self) -> frozenset[str]:
        return frozenset(c for c in self.columns if c.endswith("_metadata") or c == "genres")

    @property
    def stable_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in VOLATILE and not c.endswith("_metadata"))


_TRACK = ("track_id", "track_name", "artist_name", "album_name", "album_art_url", "duration_ms")

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("user_top_tracks", (*_TRACK, "isrc", "time_range", "rank", "track_metadata")),
        TableSpec(
            "user_top_artists",
            (
                "artist_id", "artist_name", "image_url", "genres", "popularity", "follower_count",
                "time_range", "rank", "artist_metadata",
            ),
        ),
        TableSpec("user_recently_played", (*_TRACK, "played_at", "isrc", "track_metadata"), events=True),
        TableSpec(
            "user_playlists",
            (
                "playlist_id", "playlist_name", "description", "image_url", "track_count", "follower_count",
                "is_public", "is_owner", "owner_name", "playlist_url", "playlist_metadata", "snapshot_id",
            ),
        ),
        TableSpec(
            "user_playlist_tracks",
            (
                "playlist_id", *_TRACK, "added_at", "added_by", "isrc", "track_position", "track_metadata",
                "item_type",
            ),
        ),
        TableSpec("user_saved_tracks", (*_TRACK, "saved_at", "popularity", "isrc", "track_metadata")),
        TableSpec(
            "user_saved_albums",
            (
                "album_id", "album_name", "artist_name", "image_url", "release_date", "total_tracks",
                "saved_at", "album_type", "genres", "album_metadata",
            ),
        ),
        TableSpec(
            "user_followed_artists",
            (
                "artist_id", "artist_name", "image_url", "genres", "popularity", "follower_count",
                "artist_url", "artist_metadata",
            ),
        ),
    )
}  # fmt: skip
