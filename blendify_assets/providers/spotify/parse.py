"""Spotify item JSON -> row dicts for the provider-agnostic tables.

Each row's keys are exactly its table's columns minus id, user_id, provider and fetched_at.
Conventions (one place, so every table agrees):

- `artist_name`: every credited artist's name joined with ", ", in Spotify's order, so the primary
  artist comes first ("Daft Punk, Pharrell Williams").
- `album_art_url` / `image_url`: the largest image (Spotify lists them largest first, but we compare
  width x height rather than trust the order).
- `isrc`: `external_ids.isrc`, stripped and upper-cased; None when absent.
- `track_position`: the 0-based index of the entry in the playlist as Spotify orders it (page offset +
  index in page). Null entries are skipped but still take a position, so positions match Spotify's.
- `rank`: 1-based, counted the same way (offset + index + 1).
- Episodes in playlists: `artist_name` and `album_name` are the show's name (Spotify removed the show
  `publisher` for development-mode apps in 2026); `isrc` is None.
- Local files: `track_id` is the `spotify:local:...` URI, since they have no id.
- Timestamps: timezone-aware UTC datetimes.
- U+0000 (rejected by Postgres text and jsonb): the HTTP layer removes it from every response body
  (a byte search finds it for free; walking every item would cost a third of a heavy sync's CPU),
  and these parsers strip it again from every text column, so rows are safe whatever the input.
  `*_metadata` is the item exactly as received from the HTTP layer.
- Every field Spotify removed in 2026 (popularity, followers, available_markets, ...) is optional.

A malformed item raises `Malformed`; `parse_items` skips and counts it, never the whole page (a
list whose every item is malformed fails the check instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from blendify_assets.core.fetch import FetchStats, Row
from blendify_assets.providers import rows
from blendify_assets.providers.http import strip_nul
from blendify_assets.providers.rows import (
    Malformed,
    as_dict,
    normalise_isrc,
    opt_bool,
    opt_int,
    opt_str,
    parse_time,
    req_str,
)
from blendify_assets.providers.rows import (
    obj as json_object,
)


def largest_image(images: Any) -> str | None:
    """URL of the largest image; unknown sizes count as 0 and ties keep Spotify's (largest-first) order."""
    if not isinstance(images, list):
        return None
    best: tuple[int, int] | None = None
    url: str | None = None
    for index, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            continue
        area = (opt_int(image.get("width")) or 0) * (opt_int(image.get("height")) or 0)
        key = (area, -index)
        if best is None or key > best:
            best, url = key, image["url"]
    return opt_str(url)


def artist_names(artists: Any) -> str:
    """All credited names joined with ', ', primary artist first."""
    if not isinstance(artists, list):
        raise Malformed("artists is not a list")
    names = [strip_nul(a["name"]) for a in artists if isinstance(a, dict) and isinstance(a.get("name"), str)]
    return ", ".join(n for n in names if n)


def _followers(obj: dict[str, Any]) -> int | None:
    followers = obj.get("followers")
    return opt_int(followers.get("total")) if isinstance(followers, dict) else None


def _genres(obj: dict[str, Any]) -> list[str] | None:
    genres = obj.get("genres")
    if not isinstance(genres, list):
        return None
    return [strip_nul(g) for g in genres if isinstance(g, str)]


def _spotify_url(obj: dict[str, Any]) -> str | None:
    urls = obj.get("external_urls")
    return opt_str(urls.get("spotify")) if isinstance(urls, dict) else None


def _track_id(obj: dict[str, Any]) -> str:
    """The id, or the URI when there is none (local files)."""
    for key in ("id", "uri"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return strip_nul(value)
    raise Malformed("track has neither id nor uri")


# --- shared track/episode fields ---------------------------------------------------------------------


def track_fields(track: Any) -> Row:
    """The columns every track table shares, from a TrackObject (full or local)."""
    track = json_object(track, "track")
    album = as_dict(track.get("album"))
    external_ids = as_dict(track.get("external_ids"))
    return {
        "track_id": _track_id(track),
        "track_name": req_str(track, "name"),
        "artist_name": artist_names(track.get("artists")),
        "album_name": opt_str(album.get("name")),
        "album_art_url": largest_image(album.get("images")),
        "duration_ms": opt_int(track.get("duration_ms")),
        "isrc": normalise_isrc(external_ids.get("isrc")),
    }


def episode_fields(episode: Any) -> Row:
    """Track-table columns for a podcast episode: the show stands in for artist and album."""
    episode = json_object(episode, "episode")
    show = as_dict(episode.get("show"))
    show_name = opt_str(show.get("name")) or opt_str(show.get("publisher")) or ""
    return {
        "track_id": _track_id(episode),
        "track_name": req_str(episode, "name"),
        "artist_name": show_name,
        "album_name": show_name or None,
        "album_art_url": largest_image(episode.get("images")) or largest_image(show.get("images")),
        "duration_ms": opt_int(episode.get("duration_ms")),
        "isrc": None,
    }


def item_type(entry: dict[str, Any], obj: dict[str, Any]) -> str:
    """'local' | 'episode' | 'track' for a playlist entry and its track/episode object."""
    uri = obj.get("uri")
    if (
        entry.get("is_local") is True
        or obj.get("is_local") is True
        or (isinstance(uri, str) and uri.startswith("spotify:local:"))
    ):
        return "local"
    # Without additional_types=episode Spotify squeezes episodes into track-shaped objects
    # (type "track", episode: true, a spotify:episode: URI).
    if (
        obj.get("type") == "episode"
        or obj.get("episode") is True
        or (isinstance(uri, str) and uri.startswith("spotify:episode:"))
    ):
        return "episode"
    return "track"


# --- one parser per table -------------------------------------------------------------------------------


def top_track_row(item: Any, *, time_range: str, rank: int) -> Row:
    """user_top_tracks row from a TrackObject."""
    return {
        **track_fields(item),
        "time_range": time_range,
        "rank": rank,
        "track_metadata": item,
    }


def _artist_fields(item: Any) -> Row:
    """The columns every artist table shares, from an ArtistObject."""
    artist = json_object(item, "artist")
    return {
        "artist_id": req_str(artist, "id"),
        "artist_name": req_str(artist, "name"),
        "image_url": largest_image(artist.get("images")),
        "genres": _genres(artist),
        "popularity": opt_int(artist.get("popularity")),
        "follower_count": _followers(artist),
        "artist_metadata": artist,
    }


def top_artist_row(item: Any, *, time_range: str, rank: int) -> Row:
    """user_top_artists row from an ArtistObject."""
    return {**_artist_fields(item), "time_range": time_range, "rank": rank}


def recently_played_row(item: Any) -> Row:
    """user_recently_played row from a PlayHistoryObject."""
    play = json_object(item, "play")
    played_at = parse_time(play.get("played_at"))
    if played_at is None:
        raise Malformed("missing or unparseable played_at")
    return {
        **track_fields(play.get("track")),
        "played_at": played_at,
        "track_metadata": play,
    }


def playlist_row(item: Any, *, me_id: str | None) -> Row:
    """user_playlists row from a SimplifiedPlaylistObject (or a full PlaylistObject)."""
    playlist = json_object(item, "playlist")
    owner = as_dict(playlist.get("owner"))
    contents = playlist.get("items") if isinstance(playlist.get("items"), dict) else playlist.get("tracks")
    owner_id = opt_str(owner.get("id"))
    return {
        "playlist_id": req_str(playlist, "id"),
        "playlist_name": req_str(playlist, "name"),
        "description": opt_str(playlist.get("description")),
        "image_url": largest_image(playlist.get("images")),
        "track_count": opt_int(contents.get("total")) if isinstance(contents, dict) else None,
        "follower_count": _followers(playlist),
        "is_public": opt_bool(playlist.get("public")),
        "is_owner": me_id is not None and owner_id == me_id,
        "owner_name": opt_str(owner.get("display_name")) or owner_id,
        "playlist_url": _spotify_url(playlist),
        "snapshot_id": opt_str(playlist.get("snapshot_id")),
        "playlist_metadata": playlist,
    }


def playlist_entry_object(entry: dict[str, Any]) -> Any:
    """The entry's track/episode: `item` (2026) with fallback to the deprecated `track`."""
    item = entry.get("item")
    return item if item is not None else entry.get("track")


def playlist_track_row(item: Any, *, playlist_id: str, position: int) -> Row:
    """user_playlist_tracks row from a PlaylistTrackObject. Null `item`s are filtered before this."""
    entry = json_object(item, "playlist entry")
    obj = json_object(playlist_entry_object(entry), "playlist entry item")
    kind = item_type(entry, obj)
    # A real EpisodeObject has a `show`; the track-shaped one names the show as artist and album.
    fields = episode_fields(obj) if kind == "episode" and "show" in obj else track_fields(obj)
    added_by = as_dict(entry.get("added_by"))
    return {
        "playlist_id": playlist_id,
        **fields,
        "added_at": parse_time(entry.get("added_at")),
        "added_by": opt_str(added_by.get("id")),
        "track_position": position,
        "item_type": kind,
        "track_metadata": entry,
    }


def saved_track_row(item: Any) -> Row:
    """user_saved_tracks row from a SavedTrackObject."""
    saved = json_object(item, "saved track")
    track = json_object(saved.get("track"), "track")
    return {
        **track_fields(track),
        "saved_at": parse_time(saved.get("added_at")),
        "popularity": opt_int(track.get("popularity")),
        "track_metadata": saved,
    }


def saved_album_row(item: Any) -> Row:
    """user_saved_albums row from a SavedAlbumObject."""
    saved = json_object(item, "saved album")
    album = json_object(saved.get("album"), "album")
    return {
        "album_id": req_str(album, "id"),
        "album_name": req_str(album, "name"),
        "artist_name": artist_names(album.get("artists")),
        "image_url": largest_image(album.get("images")),
        "release_date": opt_str(album.get("release_date")),
        "total_tracks": opt_int(album.get("total_tracks")),
        "saved_at": parse_time(saved.get("added_at")),
        "album_type": opt_str(album.get("album_type")),
        "genres": _genres(album),
        "album_metadata": saved,
    }


def followed_artist_row(item: Any) -> Row:
    """user_followed_artists row from an ArtistObject."""
    row = _artist_fields(item)
    return {**row, "artist_url": _spotify_url(row["artist_metadata"])}


# --- driving a page ----------------------------------------------------------------------------------


def is_null_entry(item: Any, *, playlist: bool = False) -> bool:
    """A null list element, or a playlist entry whose track/episode is null (unavailable)."""
    if item is None:
        return True
    return playlist and isinstance(item, dict) and playlist_entry_object(item) is None


def parse_items(
    items: Iterable[Any],
    parse_one: Callable[[Any, int], Row],
    stats: FetchStats,
    *,
    start: int = 0,
    playlist: bool = False,
) -> list[Row]:
    """`rows.parse_items` with Spotify's null test (playlist entries can be null inside the entry)."""
    return rows.parse_items(
        items, parse_one, stats, start=start, is_null=lambda item: is_null_entry(item, playlist=playlist)
    )


def page_items(page: Any) -> list[Any]:
    """A paging object's `items`, or [] when the page itself is malformed."""
    items = page.get("items") if isinstance(page, dict) else None
    return items if isinstance(items, list) else []
