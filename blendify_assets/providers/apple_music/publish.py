"""Apple Music writes and lookups for publishing a blend: catalogue by ISRC, search, create, append.

On the shared HTTP layer and `AppleClient` (a 403 on /v1/me/* marks the connection `NeedsReauth`;
429s without Retry-After back off; 5xx retry), with Apple's limits (reference:
publishing-and-history.md §1.2, apple-music-api.md §4):

- ISRC lookup: `GET /v1/catalog/{storefront}/songs?filter[isrc]=A,B,…`, 25 ISRCs a request, all
  batches at once, in the member's storefront (`GET /v1/me/storefront`) so the songs are playable for
  them. One ISRC can answer several songs (album, single, compilation): every one is returned,
  grouped by the song's own `isrc` attribute (never by position); the matching rules choose.
- Fallback: `GET /v1/catalog/{storefront}/search?term="title artist"&types=songs&limit=10`.
- Create: `POST /v1/me/library/playlists` with the first 100 songs in the body, then append.
- Append: `POST /v1/me/library/playlists/{id}/tracks`, to the end only, 100 a request (Apple
  documents no cap; 100 is the community's value). Every reference carries `type: "songs"`:
  without a type Apple answers 2xx and silently drops the track.

Apple cannot rename, reorder, remove or delete through this API (401): a regeneration publishes a
new playlist (see docs/publishing.md). A new playlist is listed in the library only seconds later,
so "list, then create if missing" makes duplicates: keep the id a create returns. Writing to a
playlist the member cannot edit is 500 code 50001, raised as `PlaylistNotEditable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.aio import gather_all
from blendify_assets.providers.apple_music.client import AppleClient
from blendify_assets.providers.apple_music.paging import page_data, read_collection
from blendify_assets.providers.errors import ProviderError
from blendify_assets.providers.http import ClientError
from blendify_assets.providers.publishing import CatalogTrack, PlaylistNotEditable, PublishedPlaylist
from blendify_assets.providers.rows import normalise_isrc

ISRCS_PER_REQUEST = 25  # Apple's maximum for filter[isrc]
TRACKS_PER_REQUEST = 100  # undocumented; the community's value
SEARCH_LIMIT = 10  # Apple allows 25; ten candidates are plenty to judge
PLAYLIST_TRACKS_PAGE = 100


def song_from(obj: Any) -> CatalogTrack | None:
    """A catalog `songs` resource -> CatalogTrack; None when it is not one."""
    if not isinstance(obj, dict) or obj.get("type") != "songs" or not isinstance(obj.get("id"), str):
        return None
    attrs = obj.get("attributes")
    if not isinstance(attrs, dict) or not isinstance(attrs.get("name"), str):
        return None

    def text(key: str) -> str | None:
        value = attrs.get(key)
        return value if isinstance(value, str) else None

    duration = attrs.get("durationInMillis")
    return CatalogTrack(
        provider="apple",
        track_id=obj["id"],
        name=attrs["name"],
        artist_name=text("artistName") or "",
        album_name=text("albumName"),
        duration_ms=duration if isinstance(duration, int) and not isinstance(duration, bool) else None,
        isrc=normalise_isrc(attrs.get("isrc")),
        explicit=attrs.get("contentRating") == "explicit",
    )


def isrc_batches(isrcs: Iterable[str], size: int = ISRCS_PER_REQUEST) -> list[list[str]]:
    """Unique normalised ISRCs in first-seen order, cut into batches of at most `size`."""
    unique = list(dict.fromkeys(code for code in (normalise_isrc(i) for i in isrcs) if code))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


async def songs_by_isrc(
    client: AppleClient, isrcs: Iterable[str], stats: FetchStats
) -> dict[str, list[CatalogTrack]]:
    """Every requested (normalised) ISRC -> the catalog songs registered under it (maybe none)."""
    batches = isrc_batches(isrcs)
    if not batches:
        return {}
    storefront = quote(await client.storefront(stats), safe="")

    async def lookup(batch: list[str]) -> list[Any]:
        body = await client.get(f"/v1/catalog/{storefront}/songs", stats, {"filter[isrc]": ",".join(batch)})
        return page_data(body)

    found: dict[str, list[CatalogTrack]] = {code: [] for batch in batches for code in batch}
    for songs in await gather_all(lookup(batch) for batch in batches):
        for song in (song_from(s) for s in songs):
            if song is not None and song.isrc in found and song not in found[song.isrc]:
                found[song.isrc].append(song)
    return found


async def search_songs(client: AppleClient, title: str, artist: str, stats: FetchStats, *,
                       limit: int = SEARCH_LIMIT) -> list[CatalogTrack]:  # fmt: skip
    """Candidates for a title and (primary) artist, best first as Apple ranks them."""
    term = " ".join(f"{title} {artist}".split())
    if not title.strip():
        return []
    storefront = quote(await client.storefront(stats), safe="")
    body = await client.get(
        f"/v1/catalog/{storefront}/search", stats, {"term": term, "types": "songs", "limit": limit}
    )
    results = body.get("results") if isinstance(body, dict) else None
    songs = results.get("songs") if isinstance(results, dict) else None
    return [t for t in (song_from(s) for s in page_data(songs)) if t is not None]


def _refs(song_ids: Sequence[str]) -> list[dict[str, str]]:
    return [{"id": song_id, "type": "songs"} for song_id in song_ids]


def chunks(items: Sequence[str], size: int = TRACKS_PER_REQUEST) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def _write(client: AppleClient, path: str, stats: FetchStats, body: Any) -> Any:
    try:
        # Create and append are not idempotent: not resent after a 5xx or a timeout (the caller
        # reconciles from the playlist as Apple holds it).
        return await client.request("POST", path, stats, json=body, idempotent=False)
    except ClientError as exc:
        if "50001" in (exc.code or "").split(","):
            raise PlaylistNotEditable(f"{exc}: Apple does not let Blendify change this playlist") from None
        raise


async def create_playlist(client: AppleClient, name: str, stats: FetchStats, *, description: str | None = None,
                          song_ids: Sequence[str] = ()) -> PublishedPlaylist:  # fmt: skip
    """A new library playlist holding `song_ids` (catalog ids) in order: one create, then appends."""
    parts = chunks(song_ids)
    attributes: dict[str, Any] = {"name": name}
    if description is not None:
        attributes["description"] = description
    payload: dict[str, Any] = {"attributes": attributes}
    if parts:
        payload["relationships"] = {"tracks": {"data": _refs(parts[0])}}
    body = await _write(client, "/v1/me/library/playlists", stats, payload)
    data = page_data(body)
    first = data[0] if data and isinstance(data[0], dict) else {}
    playlist_id = first.get("id")
    if not isinstance(playlist_id, str) or not playlist_id:
        raise ProviderError("apple /v1/me/library/playlists: the answer has no playlist id")
    published = PublishedPlaylist(provider="apple", playlist_id=playlist_id, name=name,
                                  url=f"https://music.apple.com/library/playlist/{playlist_id}",
                                  description=description)  # fmt: skip
    for part in parts[1:]:
        await append_songs(client, playlist_id, part, stats)
    return published


async def append_songs(
    client: AppleClient, playlist_id: str, song_ids: Sequence[str], stats: FetchStats
) -> None:
    """Append catalog songs to the end of a library playlist, 100 a request, in order."""
    path = f"/v1/me/library/playlists/{quote(playlist_id, safe='')}/tracks"
    for part in chunks(song_ids):
        await _write(client, path, stats, {"data": _refs(part)})


async def playlist_song_ids(client: AppleClient, playlist_id: str, stats: FetchStats) -> list[str | None]:
    """The playlist's songs in order, as catalog ids (None for a song without a catalog twin)."""
    path = f"/v1/me/library/playlists/{quote(playlist_id, safe='')}/tracks"
    collection = await read_collection(client, path, stats, limit=PLAYLIST_TRACKS_PAGE)
    out: list[str | None] = []
    for item in collection.items:
        attrs = item.get("attributes") if isinstance(item, dict) else None
        play = attrs.get("playParams") if isinstance(attrs, dict) else None
        catalog_id = play.get("catalogId") if isinstance(play, dict) else None
        if not catalog_id and isinstance(item, dict) and item.get("type") == "songs":
            catalog_id = item.get("id")
        out.append(catalog_id if isinstance(catalog_id, str) else None)
    return out


async def find_playlist(client: AppleClient, stats: FetchStats, *, marker: str) -> PublishedPlaylist | None:
    """The member's library playlist whose description contains `marker`, for recovering a create
    whose answer was lost. Apple lists a new playlist only seconds after creating it, so a miss
    right after a create proves nothing (analytics/publish.py waits before creating again)."""
    collection = await read_collection(client, "/v1/me/library/playlists", stats, limit=PLAYLIST_TRACKS_PAGE)
    for item in collection.items:
        attrs = item.get("attributes") if isinstance(item, dict) else None
        if not isinstance(attrs, dict) or not isinstance(item.get("id"), str):
            continue
        description = attrs.get("description")
        text = description.get("standard") if isinstance(description, dict) else description
        if isinstance(text, str) and marker in text:
            playlist_id = item["id"]
            return PublishedPlaylist(provider="apple", playlist_id=playlist_id, name=str(attrs.get("name") or ""),
                                     url=f"https://music.apple.com/library/playlist/{playlist_id}",
                                     description=text)  # fmt: skip
    return None
