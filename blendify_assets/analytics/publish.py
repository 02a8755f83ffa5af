"""Publishing a blend's latest generation to each member's own service (issue 14).

For every current member (members who left are not in `blend_participants`, so never published
to) who has not opted out: match each track to the member's service (cached in `track_matches`,
so a regeneration asks only about new tracks), then write the playlist:

- Spotify: one playlist per blend and member, kept. The first publish creates it
  (`POST /me/playlists`) and stores its id before any item is added; every publish then replaces
  its items (`PUT` the first 100, `POST` the rest by 100) and a regeneration also updates its name
  and description. The `POST`s are not resent by the HTTP layer after a 5xx or a timeout; the whole
  replace is repeated instead (its `PUT` resets the list), so a lost answer never doubles an item.
- Apple Music: the API can only create library playlists and append to them (no rename, remove,
  reorder or delete). Appending a regeneration would mix generations and keep tracks the blend
  dropped, so each generation gets its own playlist, named with its date (the member deletes old
  ones in the app). The create carries the first 100 songs; appends follow, and after a lost
  answer the playlist is read back and only its missing tail appended.

A create whose answer was lost may still have happened: a `creating` row is written before every
create, and the next attempt first looks for the playlist by a marker in its description
(Spotify lists it at once; Apple only seconds later, so within `apple_listing_wait` of the lost
create it reports the member and creates nothing). Publishing a generation already published to a
member sends nothing. A revoked member, a missing write scope or a refusal is reported for that
member; the others still get theirs. No Dagster here: the asset and `blendify blends publish`
call `publish_blend`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine, RowMapping

from blendify_assets.analytics.blends import latest_generation
from blendify_assets.analytics.matching import match_on_apple, match_on_spotify, needs_lookup
from blendify_assets.blend.matching import Choice, SourceTrack, match_track
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.time import utcnow
from blendify_assets.db import blends, connections, track_matches
from blendify_assets.db import publishing as store
from blendify_assets.db.connections import ConnectionRow, DatabaseTokenSource
from blendify_assets.providers import registry
from blendify_assets.providers.apple_music import publish as apple
from blendify_assets.providers.errors import NeedsReauth, ProviderError, TransientError
from blendify_assets.providers.http import tally_requests
from blendify_assets.providers.publishing import MissingScope, PublishedPlaylist
from blendify_assets.providers.spotify import publish as spotify
from blendify_assets.security.vault import Vault

PUBLISHABLE = ("spotify", "apple")
"""Services a blend can be published to, in the order chosen when a member has both."""
ATTEMPTS = 3  # whole replaces / append reconciliations before a member is reported failed
APPLE_LISTING_WAIT = timedelta(seconds=60)
"""Apple lists a new playlist 4-9 s after creating it (reference §1.2); a lost create is looked
for this long before another is sent."""


class _CreateMayBePending(ProviderError):
    """A create's answer was lost and the playlist is not listed yet: creating again could
    duplicate it."""

    retryable = True


@dataclass
class MemberReport:
    """What publishing did for one member. Never a token."""

    user_id: str
    label: str
    provider: str | None
    status: str  # published | already_published | opted_out | no_connection | missing_scope | needs_reauth | failed
    url: str | None = None
    playlist_name: str | None = None
    tracks_published: int = 0
    matched: dict[str, int] = field(default_factory=dict)  # method -> tracks
    unmatched: list[dict[str, Any]] = field(default_factory=list)  # position, title, artist, reason, detail
    detail: str | None = None
    requests: int = 0
    lookups: int = 0  # requests spent matching (ISRC and search)


@dataclass
class PublishReport:
    blend_id: str
    name: str
    generation_at: datetime | None
    members: list[MemberReport]


@dataclass(frozen=True)
class _Job:
    engine: Engine
    blend_id: uuid.UUID
    blend_name: str
    labels: str
    generation_at: datetime
    rows: Sequence[Mapping[str, Any]]
    apple_listing_wait: timedelta


def source_key(source: SourceTrack) -> str:
    """The match cache's key: everything the matching rules read about a track (not its copies)."""
    return json.dumps(
        [
            source.isrc,
            source.title,
            source.artist_name,
            source.album_name,
            source.duration_ms,
            source.explicit,
        ],
        ensure_ascii=False,
    )


def publish_blend(
    engine: Engine,
    vault: Vault,
    settings: Mapping[str, Any],
    blend_id: uuid.UUID | str,
    *,
    apple_listing_wait: timedelta = APPLE_LISTING_WAIT,
) -> PublishReport:
    """Publish the blend's latest generation to every member; one report per member, in joining
    order. `settings`: provider name -> that provider's settings (read only for a member of that
    service; a SettingsError there fails that member, not the others)."""
    generation = latest_generation(engine, blend_id)
    bid = uuid.UUID(str(generation.blend["id"]))
    name = str(generation.blend["name"])
    report = PublishReport(str(bid), name, generation.created_at, [])
    if generation.created_at is None or not generation.tracks:
        return report
    members = [(str(m["user_id"]), str(m["label"])) for m in generation.members]
    user_ids = [uid for uid, _ in members]
    prefs = store.preferences(engine, bid, user_ids)
    rows = {p: connections.for_sync(engine, p, user_ids) for p in PUBLISHABLE}
    job = _Job(engine, bid, name, _names([label for _, label in members]), generation.created_at,
               generation.tracks, apple_listing_wait)  # fmt: skip
    for uid, label in members:
        pref = prefs.get(uid)
        if pref is not None and not pref.publish:
            report.members.append(MemberReport(uid, label, pref.provider, "opted_out"))
            continue
        wanted = [pref.provider] if pref is not None and pref.provider else list(PUBLISHABLE)
        provider = next((p for p in wanted if uid in rows[p]), None)
        if provider is None:
            report.members.append(
                MemberReport(uid, label, None, "no_connection", detail="no connection to publish to")
            )
            continue
        report.members.append(_publish_member(job, vault, settings, provider, rows[provider][uid], label))
    return report


def _names(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _publish_member(
    job: _Job, vault: Vault, settings: Mapping[str, Any], provider: str, row: ConnectionRow, label: str
) -> MemberReport:
    uid = row.user_id
    out = MemberReport(uid, label, provider, "published")
    done = store.published(job.engine, job.blend_id, uid, provider, job.generation_at)
    if done is not None:  # the same generation again: nothing is sent, nothing changes
        out.status, out.url, out.tracks_published = "already_published", done["url"], done["tracks_published"]
        out.matched, out.unmatched = dict(sorted(done["matched"].items())), list(done["unmatched"])
        return out
    if row.status != "active":
        reason = f": {row.status_reason}" if row.status_reason else ""
        return _finish(job, out, "needs_reauth", f"the {provider} connection needs re-authorisation{reason}")
    with tally_requests() as tally:
        try:
            asyncio.run(_publish_async(job, vault, settings[provider], provider, row, out))
        except MissingScope as exc:
            _finish(
                job, out, "missing_scope", f"{exc}; connect again with `blendify connect spotify --publish`"
            )
        except NeedsReauth as exc:
            _finish(job, out, "needs_reauth", str(exc))
        except (ProviderError, BlendifyError) as exc:  # a refusal, or this service's settings missing
            _finish(job, out, "failed", str(exc))
        out.requests = tally.requests
    return out


def _finish(job: _Job, out: MemberReport, status: str, detail: str) -> MemberReport:
    out.status, out.detail = status, detail
    store.record(job.engine, job.blend_id, out.user_id, out.provider, job.generation_at, status,
                 matched=out.matched, unmatched=out.unmatched, detail=detail)  # fmt: skip
    return out


async def _publish_async(
    job: _Job, vault: Vault, settings: Any, provider: str, row: ConnectionRow, out: MemberReport
) -> None:
    spec = registry.get(provider)
    http = spec.http(settings)
    try:
        async with spec.session(settings, http, DatabaseTokenSource(job.engine, vault, row)) as client:
            sources = [SourceTrack.from_blend_row(r) for r in job.rows]
            stats = FetchStats()
            choices = await _match(job.engine, provider, client, sources, stats)
            out.lookups = stats.requests
            track_ids = _tally(job.rows, choices, out)
            if provider == "spotify":
                playlist = await _publish_spotify(job, client, out, [f"spotify:track:{t}" for t in track_ids])
            else:
                playlist = await _publish_apple(job, client, out, track_ids)
    finally:
        await http.aclose()
    out.url, out.playlist_name, out.tracks_published = playlist[1].url, playlist[1].name, len(track_ids)
    store.record(job.engine, job.blend_id, out.user_id, provider, job.generation_at, "published",
                 playlist=playlist[0], tracks_published=len(track_ids), matched=out.matched,
                 unmatched=out.unmatched)  # fmt: skip


def _tally(rows: Sequence[Mapping[str, Any]], choices: Sequence[Choice], out: MemberReport) -> list[str]:
    """The matched track ids in blend order (each once); counts by method and the unmatched."""
    ids: list[str] = []
    seen: set[str] = set()
    methods: Counter[str] = Counter()
    for row, choice in zip(rows, choices, strict=True):
        if choice.track_id is None:
            out.unmatched.append({"position": row.get("position"), "title": row.get("track_name"),
                                  "artist": row.get("artist_name"), "reason": choice.reason,
                                  "detail": choice.detail})  # fmt: skip
        elif choice.track_id not in seen:  # two blend tracks matched to one song: listed once
            seen.add(choice.track_id)
            ids.append(choice.track_id)
            methods[choice.method or "?"] += 1
    out.matched = dict(sorted(methods.items()))
    return ids


async def _match(
    engine: Engine, target: str, client: Any, sources: Sequence[SourceTrack], stats: FetchStats
) -> list[Choice]:
    """Own ids for free, then the cache, then the service for what neither answers (stored)."""
    now = utcnow()
    choices: list[Choice | None] = [None] * len(sources)
    keys = [source_key(s) for s in sources]
    todo = [i for i, s in enumerate(sources) if needs_lookup(s, target)]
    for i, s in enumerate(sources):
        if i not in set(todo):
            choices[i] = match_track(s, target, [])
    cached = await asyncio.to_thread(track_matches.lookup, engine, target, (keys[i] for i in todo), now)
    ask: dict[str, int] = {}
    for i in todo:
        hit = cached.get(keys[i])
        if hit is not None:
            choices[i] = Choice(target, hit.track_id, hit.method, hit.confidence, hit.reason, hit.detail)
        else:
            ask.setdefault(keys[i], i)
    if ask:
        match = match_on_spotify if target == "spotify" else match_on_apple
        found = await match(client, [sources[i] for i in ask.values()], stats)
        answers = dict(zip(ask, found, strict=True))
        await asyncio.to_thread(track_matches.append, engine, target, [
            {"source_key": k, "method": c.method, "confidence": c.confidence, "track_id": c.track_id,
             "reason": c.reason or (None if c.matched else "not_found"), "detail": c.detail}
            for k, c in answers.items()
        ], now)  # fmt: skip
        for i in todo:
            if choices[i] is None:
                choices[i] = answers[keys[i]]
    return [c for c in choices if c is not None]


# --- Spotify ---------------------------------------------------------------------------------------


def _spotify_details(job: _Job) -> tuple[str, str, str]:
    marker = f"[blendify:{job.blend_id}]"
    when = job.generation_at.strftime("%d %b %Y")
    description = f"Blendify blend of {job.labels}, generated {when}. {marker}"
    return job.blend_name, description, marker


async def _publish_spotify(
    job: _Job, client: Any, out: MemberReport, uris: Sequence[str]
) -> tuple[int, PublishedPlaylist]:
    name, description, marker = _spotify_details(job)
    stats = FetchStats()
    existing = await asyncio.to_thread(store.playlists, job.engine, job.blend_id, out.user_id, "spotify")
    if existing:
        row = existing[0]
        playlist = PublishedPlaylist("spotify", row["playlist_id"], name, row["url"])
        row_id, regenerate = int(row["id"]), row["generation_at"] != job.generation_at
    else:
        row_id, playlist, _ = await _create_once(job, out, "spotify", marker, lambda: spotify.create_playlist(
            client, name, stats, description=description
        ), lambda: spotify.find_playlist(client, stats, marker=marker))  # fmt: skip
        regenerate = False
    for attempt in range(1, ATTEMPTS + 1):
        try:  # the PUT resets the list: repeating the whole replace never doubles an item
            await spotify.replace_items(client, playlist.playlist_id, uris, stats)
            break
        except TransientError:
            if attempt == ATTEMPTS:
                raise
    if regenerate:
        await spotify.update_details(client, playlist.playlist_id, stats, name=name, description=description)
    return row_id, PublishedPlaylist("spotify", playlist.playlist_id, name, playlist.url)


async def _create_once(job: _Job, out: MemberReport, provider: str, marker: str, create: Any, find: Any,
                       wait: timedelta | None = None) -> tuple[int, PublishedPlaylist, bool]:  # fmt: skip
    """Create the member's playlist exactly once and store it before anything is added.

    A `creating` row precedes every create; when one exists, or when the create's answer is lost,
    the playlist is looked for by its marker first. `wait` (Apple): how long a lost create may stay
    unlisted before creating again is safe. The flag: whether this call created it (else adopted).
    """
    engine, bid, uid, gen = job.engine, job.blend_id, out.user_id, job.generation_at
    pending = await asyncio.to_thread(store.creating_since, engine, bid, uid, provider, gen)
    playlist: PublishedPlaylist | None = await find() if pending is not None else None
    if playlist is None and pending is not None and wait is not None and utcnow() - pending < wait:
        raise _CreateMayBePending(
            f"a {provider} playlist created at {pending:%H:%M:%S} UTC may not be listed yet; publish again "
            f"after {wait.total_seconds():.0f} s"
        )
    created = playlist is None
    if playlist is None:
        await asyncio.to_thread(store.record, engine, bid, uid, provider, gen, "creating")
        try:
            playlist = await create()
        except TransientError:
            playlist = await find()  # the create may have happened and only its answer was lost
            created = playlist is None
            if playlist is None:
                if wait is not None:
                    raise
                playlist = await create()
    assert playlist is not None
    row_id = await asyncio.to_thread(
        store.add_playlist, engine, bid, uid, provider, playlist_id=playlist.playlist_id, url=playlist.url,
        name=playlist.name, generation_at=gen,
    )  # fmt: skip
    return row_id, playlist, created


# --- Apple Music -----------------------------------------------------------------------------------


async def _publish_apple(
    job: _Job, client: Any, out: MemberReport, song_ids: Sequence[str]
) -> tuple[int, PublishedPlaylist]:
    """A playlist for this generation (created once), then the songs after what it already holds."""
    name = f"{job.blend_name} · {job.generation_at:%Y-%m-%d %H:%M}"
    marker = f"[blendify:{job.blend_id}:{job.generation_at:%Y%m%dT%H%M%S%f}]"
    description = f"Blendify blend of {job.labels}. {marker}"
    stats = FetchStats()
    existing = [
        r for r in await asyncio.to_thread(store.playlists, job.engine, job.blend_id, out.user_id, "apple")
        if r["generation_at"] == job.generation_at
    ]  # fmt: skip
    first = list(song_ids[: apple.TRACKS_PER_REQUEST])
    if existing:
        playlist = PublishedPlaylist(
            "apple", existing[0]["playlist_id"], existing[0]["name"], existing[0]["url"]
        )
        row_id, held = int(existing[0]["id"]), None  # unknown: read back
    else:
        row_id, playlist, created = await _create_once(job, out, "apple", marker, lambda: apple.create_playlist(
            client, name, stats, description=description, song_ids=first
        ), lambda: apple.find_playlist(client, stats, marker=marker), job.apple_listing_wait)  # fmt: skip
        held = len(first) if created else None
    for attempt in range(1, ATTEMPTS + 1):
        if held is None:
            current = await apple.playlist_song_ids(client, playlist.playlist_id, stats)
            if current != list(song_ids[: len(current)]):
                raise ProviderError(
                    f"apple playlist {playlist.name!r} no longer starts with this generation's songs "
                    "(changed in the app?); Apple allows no removal, so nothing more is added"
                )
            held = len(current)
        try:
            await apple.append_songs(client, playlist.playlist_id, song_ids[held:], stats)
            break
        except TransientError:
            held = None  # some appends may have landed: read back before the next try
            if attempt == ATTEMPTS:
                raise
    return row_id, playlist


# --- what the web app's blend page shows -----------------------------------------------------------


def playlist_links(engine: Engine, blend_id: uuid.UUID | str) -> list[dict[str, str | None]]:
    """Each current member's service and the playlist to open ("Open in Spotify / Apple Music"),
    in joining order: user_id, label, provider, url (None before a first publish). Members who left
    are not listed; nothing secret is."""
    bid = uuid.UUID(str(blend_id))
    with engine.connect() as conn:
        members: list[RowMapping] = blends.members(conn, bid)
    newest = {r["user_id"]: r for r in store.newest_playlists(engine, bid)}
    return [
        {
            "user_id": str(m["user_id"]),
            "label": str(m["label"]),
            "provider": newest[str(m["user_id"])]["provider"] if str(m["user_id"]) in newest else None,
            "url": newest[str(m["user_id"])]["url"] if str(m["user_id"]) in newest else None,
        }
        for m in members
    ]


def set_publishing(
    engine: Engine, user_id: uuid.UUID, blend_id: uuid.UUID | None, publish: bool, provider: str | None = None
) -> None:
    """A member opts in or out, for one blend or (blend_id None) all their blends."""
    if provider is not None and provider not in PUBLISHABLE:
        raise ValueError(f"cannot publish to {provider!r}; choose {' or '.join(PUBLISHABLE)}")
    store.set_preference(engine, user_id, blend_id, publish, provider)


SERVICE_NAMES = {"spotify": "Spotify", "apple": "Apple Music"}


@dataclass(frozen=True)
class MemberPublishing:
    """What the blend page tells one member about their own copy of the blend: the link once
    published, else why not yet, in plain words. Never a token."""

    provider: str | None  # the service their copy is (or would be) on
    url: str | None
    choice: bool | None  # opted in / out; None: never chose (published when they can be)
    state: str  # published | opted_out | missing_scope | needs_reauth | no_connection | failed | waiting
    words: str
    connected: tuple[str, ...]  # their publishable services with an active connection


def member_publishing(
    engine: Engine, blend_id: uuid.UUID | str, user_id: uuid.UUID | str
) -> MemberPublishing:
    """The signed-in member's publishing state for this blend (the caller checked membership)."""
    bid, uid = uuid.UUID(str(blend_id)), str(user_id)
    link = next((x for x in playlist_links(engine, bid) if x["user_id"] == uid), None)
    url = link["url"] if link else None
    pref = store.preferences(engine, bid, [uid]).get(uid)
    rows = {p: connections.for_sync(engine, p, [uid]).get(uid) for p in PUBLISHABLE}
    active = tuple(p for p, row in rows.items() if row is not None and row.status == "active")
    latest = next((r for r in store.latest_publications(engine, bid) if r["user_id"] == uid), None)
    choice = None if pref is None else pref.publish
    candidates = [
        link["provider"] if link else None,
        pref.provider if pref is not None else None,
        latest["provider"] if latest else None,
        *(p for p, row in rows.items() if row is not None),
    ]
    provider = next((p for p in candidates if p), None)
    name = SERVICE_NAMES.get(provider or "", "your service")
    if choice is False:
        words = (
            "You opted out: Blendify does not put this blend in your Spotify or Apple Music. "
            "Opt in below to get it there."
        )
        return MemberPublishing(provider, url, False, "opted_out", words, active)
    status = latest["status"] if latest else None
    if url and status not in ("missing_scope", "needs_reauth", "failed"):
        return MemberPublishing(provider, url, choice, "published", f"Your playlist in {name}.", active)
    row = rows.get(provider) if provider else None
    if status != "needs_reauth" and (row is None or row.status == "revoked"):
        words = "Connect Spotify or Apple Music to get this blend as a playlist in your own app."
        return MemberPublishing(provider, url, choice, "no_connection", words, active)
    if status == "missing_scope":
        words = (
            "Not published yet: Blendify may only read your Spotify. Opt in below and allow it to "
            "write playlists, and the blend appears there after its next generation."
        )
        return MemberPublishing(provider, url, choice, "missing_scope", words, active)
    if status == "needs_reauth" or provider not in active:
        words = (
            f"Not published yet: your {name} connection needs re-authorisation. Reconnect it on "
            "Connections and the blend is published after its next generation."
        )
        return MemberPublishing(provider, url, choice, "needs_reauth", words, active)
    if status == "failed":
        words = f"The last try to publish to {name} did not go through; it is tried again after the next generation."
        return MemberPublishing(provider, url, choice, "failed", words, active)
    words = f"Your {name} playlist is on its way: it is published after the blend's next generation."
    if provider == "spotify" and choice is None:
        words += " Blendify needs your leave to write playlists there: opt in below if you have not."
    return MemberPublishing(provider, url, choice, "waiting", words, active)
