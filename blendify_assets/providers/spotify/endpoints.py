"""One async function per Spotify endpoint: SyncState in, EndpointFetch out.

The ingest engine calls each endpoint's `fetch(client, state)`, writes the scopes it gets back as
snapshots (or appends `events`), and records `unchanged_scopes` as checked without re-reading them.
`ENDPOINTS` at the end declares them: table, scope, checks and cadence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from blendify_assets.core.fetch import EndpointFetch, PlaylistRef, Row, ScopeSnapshot, SyncState
from blendify_assets.core.polling import PollObservation
from blendify_assets.providers.aio import gather_pair
from blendify_assets.providers.checks import PLAYS, RANKS, TOTALS, UNIQUE
from blendify_assets.providers.errors import Forbidden
from blendify_assets.providers.http import ClientError
from blendify_assets.providers.spec import Cadence, Endpoint
from blendify_assets.providers.spotify import parse
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.spotify.paging import (
    PAGE_LIMIT,
    cursor_pages,
    fingerprint,
    gather_all,
    offset_pages,
)

TIME_RANGES = ("short_term", "medium_term", "long_term")
TOP_MAX = 50  # Spotify keeps 50 top items per type and time range
WHOLE_LIST = ""  # the scope of whole-user lists


def _total(page: Any) -> int | None:
    total = page.get("total") if isinstance(page, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _rows(
    pages: list[tuple[int, Any]],
    parse_one: Callable[[Any, int], Row],
    fetch: EndpointFetch,
    *,
    playlist=False,
) -> list[Row]:
    """One list's pages parsed as one list: positions are the pages' offsets, and a list whose every
    item is malformed fails the check (see `rows.parse_items`)."""
    indexed = [(offset + i, item) for offset, page in pages for i, item in enumerate(parse.page_items(page))]
    return parse.parse_items(
        [item for _, item in indexed],
        lambda item, k: parse_one(item, indexed[k][0]),
        fetch.stats,
        playlist=playlist,
    )


# --- top lists ------------------------------------------------------------------------------------------


async def _top(client: SpotifyClient, kind: str, state: SyncState) -> EndpointFetch:
    endpoint, table = (
        ("top_tracks", "user_top_tracks") if kind == "tracks" else ("top_artists", "user_top_artists")
    )
    fetch = EndpointFetch(endpoint=endpoint, table=table)
    row_parser = parse.top_track_row if kind == "tracks" else parse.top_artist_row

    async def one(time_range: str) -> ScopeSnapshot:
        pages = await offset_pages(
            client, f"/me/top/{kind}", fetch.stats, {"time_range": time_range}, max_items=TOP_MAX
        )
        rows = _rows(pages, lambda item, i: row_parser(item, time_range=time_range, rank=i + 1), fetch)
        return ScopeSnapshot(scope=time_range, rows=rows, expected_count=_total(pages[0][1]))

    fetch.scopes = await gather_all(one(tr) for tr in TIME_RANGES)
    return fetch


async def top_tracks(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """The three time ranges of /me/top/tracks, 50 each."""
    return await _top(client, "tracks", state)


async def top_artists(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """The three time ranges of /me/top/artists, 50 each."""
    return await _top(client, "artists", state)


# --- recently played ------------------------------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    """Unix milliseconds, the unit of Spotify's `after` cursor."""
    return int(moment.timestamp() * 1000)


async def recently_played(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """Plays after `state.last_played_at`, oldest first, each (played_at, track_id) once.

    One request: Spotify keeps only the last 50 plays, which is exactly one page.
    """
    fetch = EndpointFetch(endpoint="recently_played", table="user_recently_played", events=[])
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    if state.last_played_at is not None:
        params["after"] = to_ms(state.last_played_at)
    page = await client.get("/me/player/recently-played", fetch.stats, params)
    fetch.stats.pages += 1
    rows = parse.parse_items(
        parse.page_items(page), lambda item, i: parse.recently_played_row(item), fetch.stats
    )
    seen: set[tuple[datetime, str]] = set()
    events: list[Row] = []
    for row in sorted(rows, key=lambda r: r["played_at"]):
        key = (row["played_at"], row["track_id"])
        if key in seen or (state.last_played_at is not None and row["played_at"] <= state.last_played_at):
            continue  # duplicates and plays we already hold, should the server ignore `after`
        seen.add(key)
        events.append(row)
    fetch.events = events
    fetch.notes["duplicates_dropped"] = len(rows) - len(events)
    # A full page after the cursor, none of it already held: older plays may have left the window.
    late = state.last_played_at is not None and len(rows) >= PAGE_LIMIT and len(events) == len(rows)
    fetch.poll = PollObservation([e["played_at"] for e in events], window=PAGE_LIMIT, full_page=late)
    return fetch


# --- playlists ------------------------------------------------------------------------------------------


async def playlists(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """Every playlist the user owns or follows; /me tells which ones the user owns."""
    fetch = EndpointFetch(endpoint="playlists", table="user_playlists")
    me, pages = await gather_pair(client.me(fetch.stats), offset_pages(client, "/me/playlists", fetch.stats))
    me_id = me.get("id") if isinstance(me.get("id"), str) else None
    account_id = me.get("account_id") if isinstance(me.get("account_id"), str) else None
    fetch.provider_user_id = account_id or me_id
    rows = _rows(pages, lambda item, i: parse.playlist_row(item, me_id=me_id), fetch)
    fetch.scopes = [ScopeSnapshot(scope=WHOLE_LIST, rows=rows, expected_count=_total(pages[0][1]))]
    fetch.notes["spotify_user_id"] = me_id
    return fetch


def readable(ref: PlaylistRef) -> bool:
    """Development-mode apps may read the contents of own and collaborative playlists only."""
    return ref.is_owner or ref.collaborative


async def playlist_tracks(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """Contents of every readable playlist whose snapshot_id changed since the stored snapshot.

    A 403 or 404 on one playlist (access revoked, Spotify-owned playlist) skips that playlist and is
    counted; any other failure fails the fetch, so no snapshot is ever partial.
    """
    fetch = EndpointFetch(endpoint="playlist_tracks", table="user_playlist_tracks")
    todo: list[PlaylistRef] = []
    for ref in state.playlists:
        if not readable(ref):
            continue
        if ref.version is not None and state.scope_versions.get(ref.playlist_id) == ref.version:
            fetch.unchanged_scopes.append(ref.playlist_id)
        else:
            todo.append(ref)
    fetch.notes["not_readable"] = sum(1 for ref in state.playlists if not readable(ref))
    not_found: list[str] = []

    async def one(ref: PlaylistRef) -> ScopeSnapshot | None:
        path = f"/playlists/{quote(ref.playlist_id, safe='')}/items"
        try:
            pages = await offset_pages(client, path, fetch.stats, {"additional_types": "track,episode"})
        except Forbidden:
            fetch.stats.skipped_forbidden += 1
            return None
        except ClientError as exc:
            if exc.status != 404:
                raise
            not_found.append(ref.playlist_id)
            return None
        rows = _rows(
            pages,
            lambda item, i: parse.playlist_track_row(item, playlist_id=ref.playlist_id, position=i),
            fetch,
            playlist=True,
        )
        return ScopeSnapshot(
            scope=ref.playlist_id, rows=rows, version=ref.version, expected_count=_total(pages[0][1])
        )

    fetch.scopes = [s for s in await gather_all(one(ref) for ref in todo) if s is not None]
    if not_found:
        fetch.notes["not_found"] = len(not_found)
    return fetch


# --- saved lists ----------------------------------------------------------------------------------------


def _saved_key(kind: str) -> Callable[[Any], Any]:
    def key(item: Any) -> Any:
        obj = item.get(kind) or {}
        return [item.get("added_at"), obj.get("id") or obj.get("uri")]

    return key


async def _saved(client: SpotifyClient, state: SyncState, kind: str) -> EndpointFetch:
    endpoint, table, path, row_parser = {
        "track": ("saved_tracks", "user_saved_tracks", "/me/tracks", parse.saved_track_row),
        "album": ("saved_albums", "user_saved_albums", "/me/albums", parse.saved_album_row),
    }[kind]
    fetch = EndpointFetch(endpoint=endpoint, table=table)
    first = await client.get(path, fetch.stats, {"limit": PAGE_LIMIT, "offset": 0})
    version = fingerprint(_total(first), parse.page_items(first), _saved_key(kind))
    if state.scope_versions.get(WHOLE_LIST) == version:
        fetch.stats.pages += 1
        fetch.unchanged_scopes = [WHOLE_LIST]
        return fetch
    pages = await offset_pages(client, path, fetch.stats, first=first)
    rows = _rows(pages, lambda item, i: row_parser(item), fetch)
    fetch.scopes = [ScopeSnapshot(scope=WHOLE_LIST, rows=rows, version=version, expected_count=_total(first))]
    return fetch


async def saved_tracks(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """Liked songs; not re-read when the total and first page are unchanged."""
    return await _saved(client, state, "track")


async def saved_albums(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """Saved albums; not re-read when the total and first page are unchanged."""
    return await _saved(client, state, "album")


# --- followed artists -----------------------------------------------------------------------------------


async def followed_artists(client: SpotifyClient, state: SyncState) -> EndpointFetch:
    """Followed artists by cursor (`after` = last artist id), always read in full.

    No fingerprint shortcut here: the list is not newest-first, so a follow could change a later
    page while the first one stays the same.
    """
    fetch = EndpointFetch(endpoint="followed_artists", table="user_followed_artists")

    def unwrap(body: Any) -> Any:
        return body.get("artists") if isinstance(body, dict) and isinstance(body.get("artists"), dict) else {}

    pages = await cursor_pages(client, "/me/following", fetch.stats, {"type": "artist"}, unwrap=unwrap)
    items = [item for page in pages for item in parse.page_items(page)]
    rows = parse.parse_items(items, lambda item, i: parse.followed_artist_row(item), fetch.stats)
    fetch.scopes = [ScopeSnapshot(scope=WHOLE_LIST, rows=rows, expected_count=_total(pages[0]))]
    return fetch


# --- the declaration ------------------------------------------------------------------------------------

# Spotify keeps only the last 50 plays. Each user's next poll follows their listening
# (core/polling.py, stored in poll_schedule): the schedule ticks every 15 minutes and launches only the
# users due, and everyone is polled at least daily (the freshness this cadence promises).
POLL_TICK = Cadence("7-59/15 * * * *", timedelta(days=1))

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "top_tracks", "user_top_tracks", "time_range", top_tracks,
        "Top tracks for each time range (short, medium, long term).", checks=(RANKS,),
    ),
    Endpoint(
        "top_artists", "user_top_artists", "time_range", top_artists,
        "Top artists for each time range (short, medium, long term).", checks=(RANKS,),
    ),
    Endpoint(
        "recently_played", "user_recently_played", "events", recently_played,
        "Plays after the newest stored one (Spotify keeps only the last 50), each stored once.",
        checks=(PLAYS,), cadence=POLL_TICK, adaptive=True,
    ),
    Endpoint(
        "playlists", "user_playlists", "user", playlists,
        "Playlists the user owns or follows, with Spotify's snapshot_id.", checks=(UNIQUE, TOTALS),
    ),
    Endpoint(
        "playlist_tracks", "user_playlist_tracks", "playlist", playlist_tracks,
        "Items of every playlist the user owns or collaborates on; unchanged snapshot_ids are not re-read.",
        checks=(TOTALS,), after="playlists",
    ),
    Endpoint(
        "saved_tracks", "user_saved_tracks", "user", saved_tracks,
        "Saved (liked) tracks; not re-read when the total and first page are unchanged.",
        checks=(UNIQUE, TOTALS),
    ),
    Endpoint(
        "saved_albums", "user_saved_albums", "user", saved_albums,
        "Saved albums; not re-read when the total and first page are unchanged.", checks=(UNIQUE, TOTALS),
    ),
    Endpoint(
        "followed_artists", "user_followed_artists", "user", followed_artists,
        "Followed artists (cursor paging).", checks=(UNIQUE, TOTALS),
    ),
)  # fmt: skip
