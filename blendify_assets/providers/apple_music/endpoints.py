"""One async function per Apple Music endpoint: SyncState in, EndpointFetch out.

Apple gives no "since" for library lists (alphabetical) and a version for few playlists, so each
check starts from the cheapest signal Apple does give, and reads in full only when it moved:

- Library songs, albums and artists: the first page (its `meta.total` and items) and the head of
  `/v1/me/library/recently-added` (an album moves to the top whenever a song of it is added). An
  addition changes the head, a removal the total; if neither moved, the list is not re-read.
- Playlist contents: re-read only when the playlist's version moved: `playParams.versionHash`
  where Apple gives one (few playlists), else `attributes.lastModifiedDate`, which moves on edits.
- Both are heuristics over what Apple documents, so every list is also read in full once a week
  (`FULL_READ_EVERY`), whatever the signals say; edits they cannot see last at most that long.

Recently played is diffed against the previous poll (see `recent.py`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from blendify_assets.core.fetch import EndpointFetch, FetchStats, PlaylistRef, Row, ScopeSnapshot, SyncState
from blendify_assets.providers.aio import gather_all, gather_pair
from blendify_assets.providers.apple_music import parse, recent
from blendify_assets.providers.apple_music.catalog import catalog_isrcs
from blendify_assets.providers.apple_music.client import AppleClient
from blendify_assets.providers.apple_music.paging import (
    LIBRARY_LIMIT,
    PLAYLIST_TRACKS_LIMIT,
    RECENT_LIMIT,
    Collection,
    first_page,
    follow,
    page_data,
    page_total,
    read_collection,
)
from blendify_assets.providers.apple_music.poll import LibraryPoll, RecentPoll
from blendify_assets.providers.checks import PLAYS, RANKS, TOTALS, UNIQUE
from blendify_assets.providers.http import ClientError
from blendify_assets.providers.rows import as_dict, parse_items, unreadable
from blendify_assets.providers.spec import Cadence, Endpoint

WHOLE_LIST = ""
RECENT_TYPES = "songs,library-songs"
RECENTLY_ADDED_HEAD = 10  # Apple's default page of /v1/me/library/recently-added
FULL_READ_EVERY = timedelta(days=7)  # read every list in full at least this often, whatever the signals say
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _unique(collection: Collection, fetch: EndpointFetch) -> list[Any]:
    """Drop repeats of one id (an alphabetical list can shift under concurrent pages)."""
    seen: set[str] = set()
    items: list[Any] = []
    for item in collection.items:
        key = item.get("id") if isinstance(item, dict) else None
        if isinstance(key, str):
            if key in seen:
                continue
            seen.add(key)
        items.append(item)
    if len(items) != len(collection.items):
        fetch.notes["duplicates_dropped"] = len(collection.items) - len(items)
    return items


def _catalog_ids(items: list[Any], *, only_without_isrc: bool = False) -> list[str]:
    ids: list[str] = []
    for item in items:
        with contextlib.suppress(parse.Malformed, TypeError, AttributeError):
            cid = parse.catalog_id(item)
            if cid and not (only_without_isrc and parse.attributes(item).get("isrc")):
                ids.append(cid)
    return ids


# --- change signals -------------------------------------------------------------------------------


def full_read_due(state: SyncState, now: datetime) -> bool:
    """Whether the weekly full read is due (never read in full, or FULL_READ_EVERY ago or more)."""
    last = LibraryPoll.from_json(state.poll_state).full_read_at
    return last is None or not timedelta(0) <= now - last < FULL_READ_EVERY


def _remember(fetch: EndpointFetch, state: SyncState, now: datetime, *, read_in_full: bool) -> None:
    """Carry the time of the last full read to the next check (it comes back as state.poll_state)."""
    last = LibraryPoll.from_json(state.poll_state).full_read_at
    fetch.next_state = LibraryPoll(now if read_in_full else last).to_json()


def _signature(resource: Any, *keys: str) -> list[Any]:
    """Stable fields of a resource for a version marker (never artwork, whose URLs may change)."""
    if not isinstance(resource, dict):
        return [None]
    attrs = as_dict(resource.get("attributes"))
    return [resource.get("type"), resource.get("id"), *(attrs.get(k) for k in keys)]


def library_version(first: Any | None, recently_added: list[Any]) -> str | None:
    """A version marker for an alphabetical library list: its total, its first page, and the head
    of the recently added list. None when Apple reports no total (then the list is always read)."""
    total = 0 if first is None else page_total(first)
    if total is None:
        return None
    items = [] if first is None else page_data(first)
    text = json.dumps(
        [total, [_signature(i, "name") for i in items], [_signature(i, "dateAdded") for i in recently_added]],
        sort_keys=True,
        default=str,
    )
    return f"library:{total}:{hashlib.sha256(text.encode()).hexdigest()[:24]}"


async def _recently_added(client: AppleClient, stats: FetchStats) -> list[Any]:
    try:
        page = await client.get("/v1/me/library/recently-added", stats, {"limit": RECENTLY_ADDED_HEAD})
    except ClientError as exc:
        if exc.status != 404:
            raise
        page = None  # an empty library
    stats.pages += 1
    return page_data(page)


async def _library_check(
    client: AppleClient, path: str, fetch: EndpointFetch, state: SyncState, now: datetime
) -> tuple[Any | None, str | None] | None:
    """Probe a library list: None when it is unchanged (nothing more to read), else the first
    page already fetched and the version marker to store with the full read."""
    first, head = await gather_pair(
        first_page(client, path, fetch.stats, limit=LIBRARY_LIMIT), _recently_added(client, fetch.stats)
    )
    version = library_version(first, head)
    unchanged = (
        version is not None
        and state.scope_versions.get(WHOLE_LIST) == version
        and not full_read_due(state, now)
    )
    _remember(fetch, state, now, read_in_full=not unchanged)
    if unchanged:
        fetch.stats.pages += 1
        fetch.unchanged_scopes = [WHOLE_LIST]
        return None
    return first, version


# --- library ------------------------------------------------------------------------------------------


async def _library(
    client: AppleClient,
    state: SyncState,
    clock: Clock,
    endpoint: str,
    table: str,
    what: str,
    row: Callable[[Any, dict[str, str]], Row],
    *,
    resolve_isrcs: bool = False,
) -> EndpointFetch:
    """A library list, read in full only when its change signals moved (or weekly)."""
    fetch = EndpointFetch(endpoint=endpoint, table=table)
    path = f"/v1/me/library/{what}"
    checked = await _library_check(client, path, fetch, state, clock())
    if checked is None:
        return fetch
    first, version = checked
    collection = await read_collection(client, path, fetch.stats, limit=LIBRARY_LIMIT, first=first)
    items = _unique(collection, fetch)
    isrcs: dict[str, str] = {}
    if resolve_isrcs:
        catalog_ids = _catalog_ids(items)
        isrcs = await catalog_isrcs(client, catalog_ids, fetch.stats)
        fetch.notes.update(catalog_matched=len(set(catalog_ids)), isrc_resolved=len(isrcs))
    rows = parse_items(items, lambda item, i: row(item, isrcs), fetch.stats)
    fetch.scopes = [
        ScopeSnapshot(scope=WHOLE_LIST, rows=rows, version=version, expected_count=collection.total)
    ]
    return fetch


async def library_songs(client: AppleClient, state: SyncState, *, clock: Clock = _utcnow) -> EndpointFetch:
    """Library songs -> saved tracks, with ISRCs from their catalog twins (300 ids a request)."""
    return await _library(
        client, state, clock, "library_songs", "user_saved_tracks", "songs", parse.library_song_row,
        resolve_isrcs=True,
    )  # fmt: skip


async def library_albums(client: AppleClient, state: SyncState, *, clock: Clock = _utcnow) -> EndpointFetch:
    """Library albums -> saved albums (dateAdded is the saved time)."""
    return await _library(
        client, state, clock, "library_albums", "user_saved_albums", "albums",
        lambda item, _: parse.library_album_row(item),
    )  # fmt: skip


async def library_artists(client: AppleClient, state: SyncState, *, clock: Clock = _utcnow) -> EndpointFetch:
    """Library artists -> followed artists (Apple has no follows; library artists are the closest)."""
    return await _library(
        client, state, clock, "library_artists", "user_followed_artists", "artists",
        lambda item, _: parse.library_artist_row(item),
    )  # fmt: skip


async def library_playlists(client: AppleClient, state: SyncState) -> EndpointFetch:
    """Library playlists -> playlists, read in full (usually one page); snapshot_id is the
    playlist's version: versionHash, else lastModifiedDate (see `parse.playlist_version`)."""
    fetch = EndpointFetch(endpoint="library_playlists", table="user_playlists")
    path = "/v1/me/library/playlists"
    collection = await read_collection(client, path, fetch.stats, limit=LIBRARY_LIMIT)
    rows = parse_items(
        _unique(collection, fetch), lambda item, i: parse.library_playlist_row(item), fetch.stats
    )
    fetch.scopes = [ScopeSnapshot(scope=WHOLE_LIST, rows=rows, expected_count=collection.total)]
    return fetch


# --- playlist contents ------------------------------------------------------------------------------


async def playlist_tracks(client: AppleClient, state: SyncState, *, clock: Clock = _utcnow) -> EndpointFetch:
    """Tracks of every library playlist whose version (versionHash, else lastModifiedDate) moved
    since its stored snapshot; a playlist with neither is read every time, and every playlist once
    a week.

    An empty playlist answers 404 on /tracks: that is an empty snapshot, not a failure.
    """
    fetch = EndpointFetch(endpoint="playlist_tracks", table="user_playlist_tracks")
    now = clock()
    due = full_read_due(state, now)
    _remember(fetch, state, now, read_in_full=due)
    todo: list[PlaylistRef] = []
    for ref in state.playlists:
        if not due and ref.version is not None and state.scope_versions.get(ref.playlist_id) == ref.version:
            fetch.unchanged_scopes.append(ref.playlist_id)
        else:
            todo.append(ref)

    async def read(ref: PlaylistRef) -> Collection:
        path = f"/v1/me/library/playlists/{quote(ref.playlist_id, safe='')}/tracks"
        return await read_collection(client, path, fetch.stats, limit=PLAYLIST_TRACKS_LIMIT)

    collections = await gather_all(read(ref) for ref in todo)
    isrcs = await catalog_isrcs(
        client, (cid for c in collections for cid in _catalog_ids(c.items)), fetch.stats
    )
    for ref, collection in zip(todo, collections, strict=True):
        rows = parse_items(
            collection.items, functools.partial(_playlist_track, ref.playlist_id, isrcs), fetch.stats
        )
        fetch.scopes.append(
            ScopeSnapshot(
                scope=ref.playlist_id, rows=rows, version=ref.version, expected_count=collection.total
            )
        )
    empty = sum(1 for c in collections if c.not_found)
    if empty:
        fetch.notes["empty_playlists"] = empty
    return fetch


def _playlist_track(playlist_id: str, isrcs: dict[str, str], item: Any, position: int) -> Row:
    return parse.playlist_track_row(item, playlist_id=playlist_id, position=position, isrcs=isrcs)


# --- recently played --------------------------------------------------------------------------------


async def recently_played(client: AppleClient, state: SyncState, *, clock: Clock = _utcnow) -> EndpointFetch:
    """New plays since the previous poll, with inferred times; each play is stored once.

    Apple lists unique songs newest first with no timestamps. `next_state` keeps this poll's
    list, which comes back as `state.poll_state` next time; only the head items that are new
    relative to it become plays. Pages are read until the diff is certain.
    """
    fetch = EndpointFetch(endpoint="recently_played", table="user_recently_played", events=[])
    last = RecentPoll.from_json(state.poll_state)
    previous, since = last.recent, last.polled_at
    now = clock()
    items: list[Any] = []
    head: int | None = None
    complete = True
    pages = follow(
        client, "/v1/me/recent/played/tracks", fetch.stats, limit=RECENT_LIMIT, params={"types": RECENT_TYPES}
    )
    async with contextlib.aclosing(pages):
        async for page in pages:
            items.extend(item for item in page_data(page) if _item_id(item) is not None)
            fetch.stats.skipped_malformed += sum(1 for item in page_data(page) if _item_id(item) is None)
            if previous is not None:
                head = recent.new_head_length(_ids(items), previous, complete=False)
                if head is not None:
                    complete = False
                    break
    if not items and fetch.stats.skipped_malformed:
        raise unreadable(fetch.stats.skipped_malformed, "items without an id")
    ids = _ids(items)

    if previous is not None:
        if head is None:
            head = recent.new_head_length(ids, previous, complete=True)
            fetch.notes["window_overflow"] = head == len(ids) and bool(ids)
        plays, method_since, new_state = items[:head], since, recent.merged_state(ids[:head], previous)
    elif state.last_played_at is not None:
        # Plays are stored but the previous list is lost: storing this list again could repeat
        # plays under new estimated times, so it only becomes the baseline for the next poll.
        plays, method_since, new_state = [], None, ids[: recent.STATE_DEPTH]
        fetch.notes["baseline_reset"] = True
    else:
        plays, method_since, new_state = items, None, ids[: recent.STATE_DEPTH]

    durations = [_duration(item) for item in plays]
    starts, method = recent.infer_times(durations, now, method_since)
    need = _catalog_ids(plays, only_without_isrc=True)
    isrcs = await catalog_isrcs(client, need, fetch.stats) if need else {}
    first_poll = previous is None

    def row(item: Any, i: int) -> Row:
        inferred = {
            "played_at": "inferred",
            "method": "first_poll_" + method if first_poll else method,
            "poll_at": now.isoformat(),
            "previous_poll_at": since.isoformat() if since and not first_poll else None,
            "position": i,
        }
        return parse.recent_row(item, played_at=starts[i], inferred=inferred, isrcs=isrcs)

    fetch.events = parse_items(plays, row, fetch.stats)
    fetch.next_state = RecentPoll(new_state, now, complete).to_json()
    fetch.notes["new_plays"] = len(fetch.events)
    return fetch


def _ids(items: list[Any]) -> list[str]:
    """The ids of items already known to have one."""
    return [i for i in map(_item_id, items) if i is not None]


def _item_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) and value else None


def _duration(item: Any) -> int | None:
    attrs = item.get("attributes") if isinstance(item, dict) else None
    value = attrs.get("durationInMillis") if isinstance(attrs, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# --- Replay ---------------------------------------------------------------------------------------


def replay_params(view: str, kind: str) -> dict[str, str]:
    """The query for one Replay view, asking for its songs or artists in full.

    Without `include`, Apple relates each period summary to a bare {id, type}: nothing to store.
    Both spellings are sent: the plain one MusadoraKit ships (`include=song`) and the one scoped to
    the resource type that holds the relationship (`include[song-period-summaries]=song`).
    """
    return {
        "filter[year]": "latest",
        "views": view,
        "include": kind,
        f"include[{kind}-period-summaries]": kind,
    }


async def _replay(
    client: AppleClient, endpoint: str, table: str, view: str, kind: str, row: Callable[..., Row]
) -> EndpointFetch:
    """The latest Replay year's view as the long_term top list (the only year Apple serves)."""
    fetch = EndpointFetch(endpoint=endpoint, table=table)
    try:
        body = await client.get("/v1/me/music-summaries", fetch.stats, replay_params(view, kind))
    except ClientError as exc:
        if exc.status != 404:
            raise
        body = None  # not enough listening for a Replay yet: an empty top list
    fetch.stats.pages += 1
    summaries = page_data(body)
    summary = summaries[0] if summaries and isinstance(summaries[0], dict) else {}
    attrs = as_dict(summary.get("attributes"))
    year = attrs.get("year") if isinstance(attrs.get("year"), int) else None
    views = as_dict(summary.get("views"))
    items = page_data(views.get(view))
    rows = parse_items(items, lambda item, i: row(item, rank=i + 1, year=year), fetch.stats)
    fetch.scopes = [ScopeSnapshot(scope="long_term", rows=rows, version=str(year) if year else None)]
    fetch.notes["replay_year"] = year
    return fetch


async def replay_top_songs(client: AppleClient, state: SyncState) -> EndpointFetch:
    """Replay's top songs of the latest year -> top tracks, long_term."""
    return await _replay(
        client, "replay_top_songs", "user_top_tracks", "top-songs", "song", parse.replay_song_row
    )


async def replay_top_artists(client: AppleClient, state: SyncState) -> EndpointFetch:
    """Replay's top artists of the latest year -> top artists, long_term."""
    return await _replay(
        client, "replay_top_artists", "user_top_artists", "top-artists", "artist", parse.replay_artist_row
    )


# --- the declaration ------------------------------------------------------------------------------

# Apple lists ~75 unique songs without timestamps: an hourly diff keeps inferred play times close to
# the truth and lets few plays scroll out of the window unseen.
HOURLY = Cadence("5 * * * *", timedelta(hours=1))

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "library_songs", "user_saved_tracks", "user", library_songs,
        "Library songs (Apple's saved tracks), ISRCs resolved through the catalog in batches of 300; "
        "not re-read while the total, first page and recently added head are unchanged.",
        checks=(UNIQUE, TOTALS),
    ),
    Endpoint("library_albums", "user_saved_albums", "user", library_albums, "Library albums.", checks=(UNIQUE, TOTALS)),
    Endpoint(
        "library_artists", "user_followed_artists", "user", library_artists,
        "Library artists (stored as followed artists).", checks=(UNIQUE, TOTALS),
    ),
    Endpoint(
        "library_playlists", "user_playlists", "user", library_playlists,
        "Library playlists; the snapshot version is versionHash, else lastModifiedDate.", checks=(UNIQUE, TOTALS),
    ),
    Endpoint(
        "playlist_tracks", "user_playlist_tracks", "playlist", playlist_tracks,
        "Tracks of each library playlist; playlists whose version did not move are not re-read.",
        checks=(TOTALS,), after="library_playlists",
    ),
    Endpoint(
        "recently_played", "user_recently_played", "events", recently_played,
        "Recently played songs; Apple gives no timestamps, so play times are inferred by diffing polls.",
        checks=(PLAYS,), cadence=HOURLY,
    ),
    Endpoint(
        "replay_top_songs", "user_top_tracks", "time_range", replay_top_songs,
        "Replay top songs of the latest year (stored as long_term top tracks).", checks=(RANKS,),
    ),
    Endpoint(
        "replay_top_artists", "user_top_artists", "time_range", replay_top_artists,
        "Replay top artists of the latest year (stored as long_term top artists).", checks=(RANKS,),
    ),
)  # fmt: skip
