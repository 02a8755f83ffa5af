"""Spotify writes and lookups for publishing a blend: ISRC and metadata search, create, replace.

On the shared HTTP layer, so 429s wait `Retry-After`, 5xx and timeouts retry with backoff, an
expired token refreshes once and a revoked one raises `NeedsReauth` (reference:
publishing-and-history.md §1.1 for every limit used here):

- ISRC lookup: `GET /search?q=isrc:X&type=track&limit=10` (development mode allows at most 10).
  One request per ISRC: Spotify returns nothing for `isrc:A OR isrc:B`.
- Fallback: `GET /search?q=track:"T" artist:"A"&type=track&limit=10`; the results are candidates,
  the matching rules decide (search is fuzzy and returns near titles).
- Create: `POST /me/playlists` (201). Not idempotent: a retried create after a lost response makes a
  second playlist, so callers store the returned id before adding items and, when a create may have
  happened, look for it with `find_playlist` (name plus a marker in the description).
- Replace: `PUT /playlists/{id}/items` with the first 100 URIs (or [] to clear), then `POST` for
  each further 100, in order: ceil(n/100) requests (one for an empty list). A failure in between
  leaves a partial playlist; the caller re-reads (`playlist_uris`) and replaces again.
- Details: `PUT /playlists/{id}` (name, description, public).

Writes need `playlist-modify-private` for a private playlist (the default here: a blend is personal)
or `playlist-modify-public` for a public one; a 403 "Insufficient client scope" becomes
`MissingScope`, so the member can be reported rather than the publish failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.errors import Forbidden, ProviderError
from blendify_assets.providers.publishing import CatalogTrack, MissingScope, PublishedPlaylist
from blendify_assets.providers.rows import normalise_isrc
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.spotify.paging import offset_pages
from blendify_assets.providers.spotify.parse import page_items

ITEMS_PER_REQUEST = 100  # Spotify's maximum for adding or replacing playlist items
SEARCH_LIMIT = 10  # development mode's maximum search page (more is 400 "Invalid limit")
MODIFY_PUBLIC, MODIFY_PRIVATE = "playlist-modify-public", "playlist-modify-private"
PUBLISH_SCOPES = (MODIFY_PUBLIC, MODIFY_PRIVATE)


def needed_scope(public: bool) -> str:
    return MODIFY_PUBLIC if public else MODIFY_PRIVATE


def missing_scopes(granted: str | None, *, public: bool = False) -> list[str]:
    """Scopes publishing needs that the member's grant (`Tokens.scope`) lacks. An unknown grant
    (None) is not judged here: the write's 403 will tell."""
    if granted is None:
        return []
    need = needed_scope(public)
    return [] if need in granted.split() else [need]


def track_from(obj: Any) -> CatalogTrack | None:
    """A search result's TrackObject -> CatalogTrack; None for local files, nulls and episodes."""
    if not isinstance(obj, dict) or obj.get("type", "track") != "track" or obj.get("is_local"):
        return None
    track_id, name = obj.get("id"), obj.get("name")
    if not isinstance(track_id, str) or not track_id or not isinstance(name, str):
        return None
    artists = obj.get("artists")
    names = (
        [a["name"] for a in artists if isinstance(a, dict) and isinstance(a.get("name"), str)]
        if isinstance(artists, list)
        else []
    )
    album = obj.get("album")
    album_name = album.get("name") if isinstance(album, dict) and isinstance(album.get("name"), str) else None
    duration = obj.get("duration_ms")
    external = obj.get("external_ids")
    explicit = obj.get("explicit")
    uri = obj.get("uri")
    return CatalogTrack(
        provider="spotify",
        track_id=track_id,
        name=name,
        artist_name=", ".join(names),
        album_name=album_name,
        duration_ms=duration if isinstance(duration, int) and not isinstance(duration, bool) else None,
        isrc=normalise_isrc(external.get("isrc")) if isinstance(external, dict) else None,
        explicit=explicit if isinstance(explicit, bool) else None,
        uri=uri if isinstance(uri, str) and uri else f"spotify:track:{track_id}",
    )


async def _search(client: SpotifyClient, q: str, stats: FetchStats, limit: int) -> list[CatalogTrack]:
    body = await client.get("/search", stats, {"q": q, "type": "track", "limit": min(limit, SEARCH_LIMIT)})
    tracks = body.get("tracks") if isinstance(body, dict) else None
    return [t for t in (track_from(o) for o in page_items(tracks)) if t is not None]


async def search_isrc(
    client: SpotifyClient, isrc: str, stats: FetchStats, *, limit: int = SEARCH_LIMIT
) -> list[CatalogTrack]:
    """Spotify tracks registered under `isrc` (several releases can share one), at most 10."""
    code = normalise_isrc(isrc)
    return await _search(client, f"isrc:{code}", stats, limit) if code else []


def _quoted(text: str) -> str:
    return " ".join(text.replace('"', " ").split())


async def search_tracks(client: SpotifyClient, title: str, artist: str, stats: FetchStats, *,
                        limit: int = SEARCH_LIMIT) -> list[CatalogTrack]:  # fmt: skip
    """Candidates for a title and (primary) artist, best first as Spotify ranks them."""
    title, artist = _quoted(title), _quoted(artist)
    if not title:
        return []
    q = f'track:"{title}"' + (f' artist:"{artist}"' if artist else "")
    return await _search(client, q, stats, limit)


async def _write(client: SpotifyClient, method: str, path: str, stats: FetchStats, body: Any) -> Any:
    """A write; a POST (create, add items) is not idempotent, so the HTTP layer does not resend it
    after a 5xx or a timeout (`TransientError`): the caller reconciles."""
    try:
        return await client.request(method, path, stats, json=body, idempotent=method != "POST")
    except Forbidden as exc:
        if "Insufficient client scope" in str(exc):
            raise MissingScope(
                f"{exc}: the member has not granted Blendify the playlist write scopes"
            ) from None
        raise


def _playlist(body: Any, fallback_name: str) -> PublishedPlaylist:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise ProviderError("spotify /me/playlists: the answer has no playlist id")
    urls = body.get("external_urls")
    url = urls.get("spotify") if isinstance(urls, dict) else None
    return PublishedPlaylist(
        provider="spotify",
        playlist_id=body["id"],
        name=body["name"] if isinstance(body.get("name"), str) else fallback_name,
        url=url if isinstance(url, str) else f"https://open.spotify.com/playlist/{body['id']}",
        snapshot_id=body.get("snapshot_id") if isinstance(body.get("snapshot_id"), str) else None,
        description=body.get("description") if isinstance(body.get("description"), str) else None,
    )


async def create_playlist(client: SpotifyClient, name: str, stats: FetchStats, *, description: str | None = None,
                          public: bool = False) -> PublishedPlaylist:  # fmt: skip
    """One new playlist in the member's account (`POST /me/playlists`); private unless asked."""
    payload: dict[str, Any] = {"name": name, "public": public}
    if description is not None:
        payload["description"] = description
    return _playlist(await _write(client, "POST", "/me/playlists", stats, payload), name)


async def update_details(client: SpotifyClient, playlist_id: str, stats: FetchStats, *, name: str | None = None,
                         description: str | None = None, public: bool | None = None) -> None:  # fmt: skip
    """Rename, re-describe or re-publish a playlist; nothing is sent when nothing is given."""
    payload = {
        k: v for k, v in (("name", name), ("description", description), ("public", public)) if v is not None
    }
    if payload:
        await _write(client, "PUT", f"/playlists/{playlist_id}", stats, payload)


def chunks(items: Sequence[str], size: int = ITEMS_PER_REQUEST) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def replace_items(
    client: SpotifyClient, playlist_id: str, uris: Sequence[str], stats: FetchStats
) -> str | None:
    """Make the playlist hold exactly `uris`, in order: PUT the first 100, POST the rest by 100.

    Returns the last snapshot_id. Sequential: each chunk lands after the previous one.
    """
    parts = chunks(uris) or [[]]
    body = await _write(client, "PUT", f"/playlists/{playlist_id}/items", stats, {"uris": parts[0]})
    for part in parts[1:]:
        body = await _write(client, "POST", f"/playlists/{playlist_id}/items", stats, {"uris": part})
    return body.get("snapshot_id") if isinstance(body, dict) else None


async def add_items(
    client: SpotifyClient, playlist_id: str, uris: Sequence[str], stats: FetchStats
) -> str | None:
    """Append `uris` in order, 100 a request; returns the last snapshot_id."""
    body: Any = None
    for part in chunks(uris):
        body = await _write(client, "POST", f"/playlists/{playlist_id}/items", stats, {"uris": part})
    return body.get("snapshot_id") if isinstance(body, dict) else None


async def playlist_uris(client: SpotifyClient, playlist_id: str, stats: FetchStats) -> list[str]:
    """The playlist's item URIs in order (null entries skipped), to reconcile after a failure."""
    out: list[str] = []
    for _, page in await offset_pages(client, f"/playlists/{playlist_id}/items", stats):
        for entry in page_items(page):
            obj = (entry.get("item") or entry.get("track")) if isinstance(entry, dict) else None
            if isinstance(obj, dict) and isinstance(obj.get("uri"), str):
                out.append(obj["uri"])
    return out


async def find_playlist(client: SpotifyClient, stats: FetchStats, *, name: str | None = None,
                        marker: str | None = None) -> PublishedPlaylist | None:  # fmt: skip
    """The member's own playlist with this name and/or a description containing `marker`, newest
    first as Spotify lists them; for recovering a create whose answer was lost."""
    me = await client.me(stats)
    for _, page in await offset_pages(client, "/me/playlists", stats):
        for obj in page_items(page):
            if not isinstance(obj, dict) or (obj.get("owner") or {}).get("id") != me.get("id"):
                continue
            found = obj.get("description")
            description = found if isinstance(found, str) else ""
            if (name is None or obj.get("name") == name) and (marker is None or marker in description):
                return _playlist(obj, name or "")
    return None
