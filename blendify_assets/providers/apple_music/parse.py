"""Apple Music resources -> row dicts for the provider-agnostic tables (provider 'apple').

Conventions on top of `providers/rows.py`:

- `track_id`: the catalog song id when Apple gives one (`playParams.catalogId` on library songs, the
  resource id on catalog songs), else the library id (`i.…`; uploads and songs with no catalog twin).
  Catalog ids are the same for every user, so Apple tracks join across users, recently played and
  Replay; library ids are per user and change when a song is removed and re-added.
- `album_id` / `artist_id` / `playlist_id` of library items: the library id (`l.…`, `r.…`, `p.…`).
- Artwork: Apple gives a URL template; `{w}x{h}` is filled with the largest size it offers.
- The `*_metadata` column holds the resource as Apple sent it; where Blendify adds facts (resolved
  catalog id, inferred play times) they sit beside it under the key `_blendify`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blendify_assets.core.fetch import Row
from blendify_assets.providers.rows import (
    Malformed,
    normalise_isrc,
    obj,
    opt_bool,
    opt_int,
    opt_str,
    parse_time,
    req_str,
    string_list,
    strip_nul,
)

BLENDIFY_KEY = "_blendify"
DEFAULT_ARTWORK_SIZE = 1000  # when Apple gives no width/height (library playlists)


def attributes(resource: Any) -> dict[str, Any]:
    """A resource's `attributes` (Malformed when the resource or its attributes are not objects)."""
    return obj(obj(resource, "resource").get("attributes"), "attributes")


def resource_id(resource: Any) -> str:
    return req_str(obj(resource, "resource"), "id")


def artwork_url(artwork: Any) -> str | None:
    """The artwork template filled with its largest size ('…/{w}x{h}bb.jpg' -> '…/3000x3000bb.jpg')."""
    if not isinstance(artwork, dict) or not isinstance(artwork.get("url"), str):
        return None
    width = opt_int(artwork.get("width")) or DEFAULT_ARTWORK_SIZE
    height = opt_int(artwork.get("height")) or DEFAULT_ARTWORK_SIZE
    return strip_nul(artwork["url"]).replace("{w}", str(width)).replace("{h}", str(height))


def catalog_id(resource: Any) -> str | None:
    """The catalog song id: the id of a catalog `songs` resource, or a library song's playParams.catalogId."""
    resource = obj(resource, "resource")
    if resource.get("type") == "songs":
        return opt_str(resource.get("id"))
    play = attributes(resource).get("playParams")
    return opt_str(play.get("catalogId")) if isinstance(play, dict) else None


def track_id(resource: Any) -> str:
    return catalog_id(resource) or resource_id(resource)


def song_fields(resource: Any, isrc: str | None = None) -> Row:
    """The columns every track table shares, from a catalog or library song (or music video)."""
    attrs = attributes(resource)
    return {
        "track_id": track_id(resource),
        "track_name": req_str(attrs, "name"),
        "artist_name": opt_str(attrs.get("artistName")) or "",
        "album_name": opt_str(attrs.get("albumName")),
        "album_art_url": artwork_url(attrs.get("artwork")),
        "duration_ms": opt_int(attrs.get("durationInMillis")),
        "isrc": normalise_isrc(attrs.get("isrc")) or normalise_isrc(isrc),
    }


def with_notes(resource: Any, **notes: Any) -> dict[str, Any]:
    """The resource as Apple sent it, plus Blendify's own facts under `_blendify`."""
    stored = strip_nul(obj(resource, "resource"))
    facts = {k: v for k, v in notes.items() if v is not None}
    return {**stored, BLENDIFY_KEY: strip_nul(facts)} if facts else stored


def library_song_row(resource: Any, isrcs: dict[str, str]) -> Row:
    """user_saved_tracks row from a library-songs resource; ISRC from the catalog lookup."""
    cid = catalog_id(resource)
    fields = song_fields(resource, isrcs.get(cid) if cid else None)
    return {
        **fields,
        "saved_at": None,  # Apple gives no date added for library songs
        "popularity": None,
        "track_metadata": with_notes(
            resource, catalog_id=cid, isrc_source="catalog" if fields["isrc"] else None
        ),
    }


def library_album_row(resource: Any) -> Row:
    """user_saved_albums row from a library-albums resource."""
    attrs = attributes(resource)
    track_count = opt_int(attrs.get("trackCount"))
    return {
        "album_id": resource_id(resource),
        "album_name": req_str(attrs, "name"),
        "artist_name": opt_str(attrs.get("artistName")) or "",
        "image_url": artwork_url(attrs.get("artwork")),
        "release_date": opt_str(attrs.get("releaseDate")),
        "total_tracks": track_count,  # the tracks of this album in the user's library
        "saved_at": parse_time(attrs.get("dateAdded")),
        "album_type": None,  # library albums do not say album/single/compilation
        "genres": string_list(attrs.get("genreNames")),
        "album_metadata": with_notes(resource),
    }


def library_artist_row(resource: Any) -> Row:
    """user_followed_artists row from a library-artists resource (Apple gives only the name)."""
    attrs = attributes(resource)
    return {
        "artist_id": resource_id(resource),
        "artist_name": req_str(attrs, "name"),
        "image_url": artwork_url(attrs.get("artwork")),
        "genres": string_list(attrs.get("genreNames")),
        "popularity": None,
        "follower_count": None,
        "artist_url": opt_str(attrs.get("url")),
        "artist_metadata": with_notes(resource),
    }


MODIFIED_PREFIX = "modified:"


def playlist_version(resource: Any) -> str | None:
    """The playlist's version: `playParams.versionHash` where Apple gives one (few playlists), else
    `attributes.lastModifiedDate` (as 'modified:<date>'), which moves whenever the playlist is
    edited. None when Apple gives neither: such a playlist is read on every check."""
    attrs = attributes(resource)
    play = attrs.get("playParams")
    version_hash = opt_str(play.get("versionHash")) if isinstance(play, dict) else None
    if version_hash:
        return version_hash
    modified = opt_str(attrs.get("lastModifiedDate"))
    return MODIFIED_PREFIX + modified if modified else None


def library_playlist_row(resource: Any) -> Row:
    """user_playlists row from a library-playlists resource.

    Apple names no owner: `canEdit` (the user can change it) is the closest thing to ownership.
    """
    attrs = attributes(resource)
    description = attrs.get("description")
    return {
        "playlist_id": resource_id(resource),
        "playlist_name": req_str(attrs, "name"),
        "description": opt_str(description.get("standard")) if isinstance(description, dict) else None,
        "image_url": artwork_url(attrs.get("artwork")),
        "track_count": opt_int(attrs.get("trackCount")),
        "follower_count": None,
        "is_public": opt_bool(attrs.get("isPublic")),
        "is_owner": attrs.get("canEdit") is True,
        "owner_name": None,
        "playlist_url": opt_str(attrs.get("url")),
        "snapshot_id": playlist_version(resource),
        "playlist_metadata": with_notes(resource),
    }


def playlist_track_row(resource: Any, *, playlist_id: str, position: int, isrcs: dict[str, str]) -> Row:
    """user_playlist_tracks row from a library-songs (or library-music-videos) resource."""
    cid = catalog_id(resource)
    return {
        "playlist_id": playlist_id,
        **song_fields(resource, isrcs.get(cid) if cid else None),
        "added_at": None,  # Apple gives no date added to a playlist
        "added_by": None,
        "track_position": position,
        "item_type": "track",
        "track_metadata": with_notes(resource, catalog_id=cid),
    }


def recent_row(resource: Any, *, played_at: datetime, inferred: dict[str, Any], isrcs: dict[str, str]) -> Row:
    """user_recently_played row; `inferred` says how played_at was estimated (Apple gives no time)."""
    cid = catalog_id(resource)
    return {
        **song_fields(resource, isrcs.get(cid) if cid else None),
        "played_at": played_at,
        "track_metadata": with_notes(resource, **inferred),
    }


def summary_item(item: Any, kind: str) -> dict[str, Any]:
    """The catalog resource inside a Replay period summary (`relationships.<kind>.data[0]`)."""
    related = obj(obj(item, "period summary").get("relationships"), "relationships").get(kind)
    data = obj(related, kind).get("data")
    if not isinstance(data, list) or not data:
        raise Malformed(f"period summary without a {kind}")
    return obj(data[0], kind)


def replay_song_row(item: Any, *, rank: int, year: int | None) -> Row:
    """user_top_tracks row (time_range long_term) from a song-period-summaries item."""
    song = summary_item(item, "song")
    return {
        **song_fields(song),
        "time_range": "long_term",
        "rank": rank,
        "track_metadata": with_notes(item, source="replay", year=year),
    }


def replay_artist_row(item: Any, *, rank: int, year: int | None) -> Row:
    """user_top_artists row (time_range long_term) from an artist-period-summaries item."""
    artist = summary_item(item, "artist")
    attrs = attributes(artist)
    return {
        "artist_id": resource_id(artist),
        "artist_name": req_str(attrs, "name"),
        "image_url": artwork_url(attrs.get("artwork")),
        "genres": string_list(attrs.get("genreNames")),
        "popularity": None,
        "follower_count": None,
        "time_range": "long_term",
        "rank": rank,
        "artist_metadata": with_notes(item, source="replay", year=year),
    }
