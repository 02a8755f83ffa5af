"""Spotify's privacy exports -> `user_recently_played` rows (pure: no SQL, no Dagster, no HTTP).

Versions read (`shared/reference/publishing-and-history.md` §2.1) and how each is recognised:

| schema | file names | recognised by |
|---|---|---|
| `spotify-endsong` | `endsong.json`, `endsong_N.json` (Extended, ≤2022) | the name |
| `spotify-extended-2023` | `Streaming_History_Audio_*.json` (Extended, mid-2023) | the name, and `username` in the first record |
| `spotify-extended-2024` | `Streaming_History_Audio_*.json` (Extended, late-2024+) | the name, and no `username` in the first record |
| `spotify-account-data` | `StreamingHistory_music_N.json`, older `StreamingHistoryN.json` (Account data) | the name |

A JSON file given on its own under another name is recognised by its first record's keys (`ts` and
`ms_played`: Extended; `endTime` and `msPlayed`: Account data). Video, podcast and audiobook files
(`endvideo.json`, `Streaming_History_Video_*`, `StreamingHistory_podcast_*`, …) are not read, and
neither is Account data beside an Extended history: its last year repeats the same plays.

Rows:

- `played_at` is the play's start, UTC: Extended `ts` is when the stream stopped, so start =
  `ts - ms_played`. Account data's `endTime` ("2021-04-21 05:30", minute precision) is read as UTC
  (Spotify documents it so; your_spotify does the same), start = `endTime - msPlayed`, marked
  `time_precision: "minute"`.
- `track_id`: the id of `spotify:track:<id>`; a `spotify:local:…` URI itself (as for playlist
  tracks); else `synthetic_track_id(artist, title)` (album left out: Account data has none, so a
  song keys the same in both formats). A record with neither a URI nor a title is not a song.
- `track_metadata`: the record as exported plus `_blendify` = {"source": "export", "file",
  "schema", "ms_played", "ended_at", "track_id_from": "uri" | "local_uri" | "synthetic"}.

Filters, as ListenBrainz's importer applies them (Account data: your_spotify's, the only importer
that reads it), each counted in the file's summary under its reason:

- `incognito`: `incognito_mode` true;
- `episode` / `audiobook`: a podcast episode or audiobook chapter rather than a song;
- `short_skip`: under 30 s and `skipped`, or under 30 s with a `reason_end` that is null or one of
  fwdbtn, backbtn, clickrow, clickside, endplay, playbtn, remote, logout, popup, trackerror,
  unexpected-exit(-while-paused), unknown (a 20 s track that ran to `trackdone` is kept);
- `short` (Account data, which has no reasons): under 30 s;
- `no_track`: neither a track URI nor a title (nothing says what was played);
- `unreadable`: no parseable time or play length.

Duplicate records (same end time and track) are yielded as they are: the warehouse's unique
(user, provider, played_at, track_id) key stores such a play once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from blendify_assets.core.fetch import FetchStats, Row
from blendify_assets.providers.errors import NeedsReauth, ProviderError, QuotaExceeded
from blendify_assets.providers.history import (
    MIN_PLAY_MS,
    SOURCE,
    Export,
    ExportError,
    ExportFile,
    ExportSummary,
    IsrcLookups,
    Member,
    TrackHint,
    as_paths,
    collect_members,
    first_json_record,
    json_records,
    synthetic_track_id,
)
from blendify_assets.providers.http import strip_nul
from blendify_assets.providers.rows import normalise_isrc
from blendify_assets.providers.spotify.client import SpotifyClient

ENDSONG = "spotify-endsong"
EXTENDED_2023 = "spotify-extended-2023"
EXTENDED_2024 = "spotify-extended-2024"
ACCOUNT_DATA = "spotify-account-data"
EXTENDED = frozenset({ENDSONG, EXTENDED_2023, EXTENDED_2024})

# ListenBrainz's SKIP_REASONS: ends that mean "not really listened" when under 30 s (None included).
SKIP_REASONS = frozenset({
    None, "fwdbtn", "backbtn", "clickrow", "clickside", "endplay", "playbtn", "remote", "logout",
    "popup", "trackerror", "unexpected-exit", "unexpected-exit-while-paused", "unknown",
})  # fmt: skip
AUDIOBOOK_KEYS = ("audiobook_title", "audiobook_uri", "audiobook_chapter_uri", "audiobook_chapter_title")
WHAT = "a Spotify streaming history file"

_ENDSONG_NAME = re.compile(r"^endsong(_\d+)?\.json$")
_AUDIO_NAME = re.compile(r"^streaming_history_audio.*\.json$")
_ACCOUNT_NAME = re.compile(r"^streaminghistory(_music_)?\d+\.json$")
_NOT_MUSIC = (
    (re.compile(r"^endvideo(_\d+)?\.json$"), "videos"),
    (re.compile(r"^streaming_history_video.*\.json$"), "videos"),
    (re.compile(r"^streaminghistory_podcast_\d+\.json$"), "podcasts"),
    (re.compile(r"^streaminghistory_audiobook_\d+\.json$"), "audiobooks"),
    (re.compile(r"^streaminghistory_video_\d+\.json$"), "videos"),
)


def read_export(paths: str | Path | Iterable[str | Path]) -> Iterator[ExportFile]:
    """Each history file of a Spotify export, validated as a whole before the first is yielded."""
    with open_export(paths) as export:
        yield from export.files


def open_export(paths: str | Path | Iterable[str | Path]) -> Export:
    """The export at `paths` (its zip, its JSON files, or an unzipped folder), validated up-front:
    every history file is a JSON array of the expected records, and all name one account."""
    stack = contextlib.ExitStack()
    try:
        return _open(as_paths(paths), stack)
    except BaseException:
        stack.close()
        raise


def _open(paths: list[Path], stack: contextlib.ExitStack) -> Export:
    members = collect_members(paths, stack)
    found: list[tuple[Member, str, Any]] = []
    ignored: dict[str, str] = {}
    for member in members:
        lower = member.basename.lower()
        kind = _kind_by_name(lower)
        if kind is None:
            reason = next((why for pattern, why in _NOT_MUSIC if pattern.match(lower)), None)
            if reason is not None:
                ignored[member.name] = f"{reason}, not music"
                continue
            if not member.explicit:
                continue  # the export's other files (Userdata.json, ReadMeFirst….pdf, …)
        first = first_json_record(member, WHAT)
        schema = _schema(kind, first, member)
        found.append((member, schema, first))
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise ExportError(
            f"{where}: no Spotify streaming history in it (expected Streaming_History_Audio_*.json, "
            "endsong_*.json or StreamingHistory_music_*.json)"
        )
    if any(schema in EXTENDED for _, schema, _ in found):
        for member, schema, _ in found:
            if schema == ACCOUNT_DATA:
                ignored[member.name] = "account-data summary of plays the extended history already holds"
        found = [f for f in found if f[1] != ACCOUNT_DATA]
    account = _one_account(found)
    files = [ExportFile(m, schema, _rows_reader(m, schema, account)) for m, schema, _ in found]
    return Export("spotify", files, ignored, account, stack)


def _kind_by_name(lower: str) -> str | None:
    if _ENDSONG_NAME.match(lower):
        return ENDSONG
    if _AUDIO_NAME.match(lower):
        return "audio"
    if _ACCOUNT_NAME.match(lower):
        return ACCOUNT_DATA
    return None


def _schema(kind: str | None, first: Any, member: Member) -> str:
    """The file's schema from its name and first record (None when the file is an empty array)."""
    if first is not None and not isinstance(first, dict):
        raise ExportError(f"{member.display}: not {WHAT} (its records are not JSON objects)")
    keys = set(first) if isinstance(first, dict) else set()
    if kind is None:  # a file given on its own under another name: go by its keys
        if {"ts", "ms_played"} <= keys:
            kind = "audio"
        elif {"endTime", "msPlayed"} <= keys:
            kind = ACCOUNT_DATA
        else:
            raise ExportError(
                f"{member.display}: not {WHAT} (expected records with ts and ms_played, "
                "or endTime and msPlayed)"
            )
    needed = ("endTime", "msPlayed") if kind == ACCOUNT_DATA else ("ts", "ms_played")
    missing = [k for k in needed if first is not None and k not in keys]
    if missing:
        raise ExportError(f"{member.display}: not {WHAT} (its records have no {' or '.join(missing)})")
    if kind == "audio":
        return EXTENDED_2023 if "username" in keys else EXTENDED_2024
    return kind


def _one_account(found: list[tuple[Member, str, Any]]) -> str | None:
    """The username the files name; two different ones mean two people's exports were mixed."""
    seen: dict[str, str] = {}
    for member, _, first in found:
        username = first.get("username") if isinstance(first, dict) else None
        if isinstance(username, str) and username:
            seen.setdefault(username, member.name)
    if len(seen) > 1:
        (a, file_a), (b, file_b) = list(seen.items())[:2]
        raise ExportError(
            f"these files are two Spotify accounts' histories ({file_a} is {a!r}, {file_b} is {b!r}); "
            "import each person's export for that person"
        )
    return next(iter(seen), None)


def _rows_reader(member: Member, schema: str, account: str | None):
    def rows(summary: ExportSummary) -> Iterator[Row]:
        parse = _account_row if schema == ACCOUNT_DATA else _extended_row
        for record in json_records(member, WHAT):
            summary.records += 1
            if account is not None and isinstance(record, dict):
                username = record.get("username")
                if isinstance(username, str) and username and username != account:
                    raise ExportError(
                        f"{member.display}: record {summary.records} belongs to another Spotify account "
                        f"({username!r}, not {account!r}); import each person's export for that person"
                    )
            row = parse(record, member.name, schema, summary)
            if row is not None:
                summary.plays += 1
                yield row

    return rows


def _text(value: Any) -> str | None:
    if type(value) is not str or not value or value.isspace():
        return strip_nul(value) if isinstance(value, str) and value.strip() else None  # a str subclass
    return value.replace("\x00", "") if "\x00" in value else value


def _ms(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


_TRACK_PREFIX = "spotify:track:"


def _extended_row(record: Any, file: str, schema: str, summary: ExportSummary) -> Row | None:
    """One Extended-history record as a row, or None (counted under its filter reason). Called for
    every record of a lifetime: one `get` per field, no intermediate structures."""
    if not isinstance(record, dict):
        summary.unreadable("a record is not a JSON object")
        return None
    get = record.get
    ts = get("ts")
    ended = _parse_ts(ts)
    ms_played = _ms(get("ms_played"))
    if ended is None or ms_played is None:
        summary.unreadable("no readable ts or ms_played")
        return None
    if get("incognito_mode"):
        summary.skip("incognito")
        return None
    if get("spotify_episode_uri") or get("episode_name"):
        summary.skip("episode")
        return None
    if (
        get("audiobook_title")
        or get("audiobook_uri")
        or get("audiobook_chapter_uri")
        or get("audiobook_chapter_title")
    ):
        summary.skip("audiobook")
        return None
    if ms_played < MIN_PLAY_MS and (
        get("skipped") or ("reason_end" in record and record["reason_end"] in SKIP_REASONS)
    ):
        summary.skip("short_skip")
        return None
    title = _text(get("master_metadata_track_name"))
    artist = _text(get("master_metadata_album_artist_name"))
    album = _text(get("master_metadata_album_album_name"))
    uri = _text(get("spotify_track_uri"))
    if uri and uri.startswith(_TRACK_PREFIX) and len(uri) > len(_TRACK_PREFIX):
        track_id, source = uri[len(_TRACK_PREFIX) :], "uri"
    elif uri and uri.startswith("spotify:local:"):
        track_id, source = uri, "local_uri"
        title, artist, album = _from_local_uri(uri, title, artist, album)
    elif title:
        track_id, source = synthetic_track_id(artist, title), "synthetic"
        summary.synthetic_ids += 1
    else:
        summary.skip("no_track")
        return None
    marker = {"source": SOURCE, "file": file, "schema": schema, "ms_played": ms_played,
              "ended_at": ts, "track_id_from": source}  # fmt: skip
    return _row(track_id, title, artist, album, ended - timedelta(milliseconds=ms_played), record, marker)


def _account_row(record: Any, file: str, schema: str, summary: ExportSummary) -> Row | None:
    if not isinstance(record, dict):
        summary.unreadable("a record is not a JSON object")
        return None
    ended = _parse_end_time(record.get("endTime"))
    ms_played = _ms(record.get("msPlayed"))
    if ended is None or ms_played is None:
        summary.unreadable("no readable endTime or msPlayed")
        return None
    if ms_played < MIN_PLAY_MS:
        summary.skip("short")
        return None
    title, artist = _text(record.get("trackName")), _text(record.get("artistName"))
    if not title:
        summary.skip("no_track")
        return None
    summary.synthetic_ids += 1
    marker = {"source": SOURCE, "file": file, "schema": schema, "ms_played": ms_played,
              "ended_at": record.get("endTime"), "time_precision": "minute", "track_id_from": "synthetic"}  # fmt: skip
    played_at = ended - timedelta(milliseconds=ms_played)
    return _row(synthetic_track_id(artist, title), title, artist, None, played_at, record, marker)


def _row(
    track_id: str,
    title: str | None,
    artist: str | None,
    album: str | None,
    played_at: datetime,
    record: dict[str, Any],
    marker: dict[str, Any],
) -> Row:
    return {
        "track_id": track_id,
        "track_name": title or "",
        "artist_name": artist or "",
        "album_name": album,
        "album_art_url": None,
        "duration_ms": None,  # the export has the play's length (ms_played), not the track's
        "played_at": played_at,
        "isrc": None,
        "track_metadata": {**record, "_blendify": marker},  # json_records removed any U+0000
    }


def _parse_ts(value: Any) -> datetime | None:
    """Extended `ts` ("2019-11-05T14:28:00Z") -> aware UTC; a value without a zone is UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is UTC:  # "…Z", as every export writes it
        return parsed
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_end_time(value: Any) -> datetime | None:
    """Account data `endTime` ("2021-04-21 05:30", UTC to the minute) -> aware UTC."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    except ValueError:
        return _parse_ts(value)


def _from_local_uri(
    uri: str, title: str | None, artist: str | None, album: str | None
) -> tuple[str | None, str | None, str | None]:
    """Fill names a local-file record lacks from its URI `spotify:local:artist:album:title:secs`."""
    parts = [unquote_plus(p) or None for p in uri.split(":")[2:]]
    if len(parts) >= 3:
        artist, album, title = artist or parts[0], album or parts[1], title or parts[2]
    return title, artist, album


LOOKUP_WORKERS = 8  # lookups in flight; the client's HTTP layer bounds and retries them (429 Retry-After)


async def look_up_isrcs(client: SpotifyClient, hints: Iterable[TrackHint]) -> IsrcLookups:
    """ISRCs of these Spotify track ids, one `GET /tracks/{id}` each: development-mode apps lost the
    batch `GET /tracks?ids=` in February 2026 (reference §9), and the batch would 403. A failed
    lookup (5xx after retries, 404) leaves that track unidentified; a revoked token or an exhausted
    quota stops the rest (each would fail the same way)."""
    result = IsrcLookups("lookup")
    stats = FetchStats()
    pending = iter([h.track_id for h in hints if h.by_id])

    async def worker() -> None:
        for track_id in pending:  # one shared iterator: each id is taken by one worker, once
            if result.stopped is not None:
                return
            result.asked += 1
            try:
                body = await client.get(f"/tracks/{quote(track_id, safe='')}", stats)
            except (NeedsReauth, QuotaExceeded) as exc:
                result.stopped = result.stopped or str(exc)
                result.failed += 1
                return
            except ProviderError:
                result.failed += 1
                continue
            external = body.get("external_ids") if isinstance(body, dict) else None
            isrc = normalise_isrc(external.get("isrc")) if isinstance(external, dict) else None
            if isrc is not None:  # the sync's normalisation: stripped, upper case
                result.isrcs[track_id] = isrc

    await asyncio.gather(*(worker() for _ in range(LOOKUP_WORKERS)))
    result.requests, result.rate_limit_waits = stats.requests, stats.rate_limit_waits
    return result
