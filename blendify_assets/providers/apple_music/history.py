"""Apple's privacy export -> `user_recently_played` rows (pure: no SQL, no Dagster, no HTTP).

The "Apple Media Services information" export (`shared/reference/publishing-and-history.md` §2.3)
is a zip, often holding further zips (`Apple_Media_Services.zip` > `Apple Music Activity.zip`),
with three files that each describe the same listening:

| file | read? | recognised by |
|---|---|---|
| `Apple Music Play Activity.csv`: one row per player event (schema `apple-play-activity`) | yes | the name; a CSV given on its own under another name by its header |
| `Apple Music - Play History Daily Tracks.csv`: per track per day, no times | no: the same plays again | the name, or `Track Description` + `Date Played` |
| `Apple Music - Recently Played Tracks.csv`: last months, per day | no: the same plays again | the name, or `Track Description` + `First Event Timestamp` |

Play Activity must have `Event Start Timestamp`, `Event Type`, `End Reason Type`,
`Play Duration Milliseconds` and `Song Name` (older exports: `Content Name`); a file lacking one
fails up-front naming the column. Its columns are found by name (their order changed in 2019).

Rows:

- Only `PLAY_END` events are plays (a play also logs `PLAY_START` and others): `not_play_end`.
- `played_at` = `Event Start Timestamp` (ISO-8601 with a zone designator, converted to UTC); when it
  is blank, `Event End Timestamp - Play Duration Milliseconds`. A timestamp without a zone is read
  as UTC and marked. `UTC Offset In Seconds` (the device's local offset, for listening clocks) is
  kept in the marker. A paused and resumed song logs two `PLAY_END` rows and counts as two plays
  unless one of them is a short skip.
- `track_id`: the catalog id from an `Apple Music Track Identifier` column if a file has one (no
  export seen so far does), else `synthetic_track_id(title, album)`: the artist is left out because
  `Container Artist Name` is blank for a third to a half of the rows, which would split one song.
- `artist_name` = `Container Artist Name` (or the 2019 `Artist Name`), `""` when blank; `album_name`
  = `Album Name`; `duration_ms` = `Media Duration In Milliseconds`.
- `track_metadata`: the row's non-empty cells by column name (the file has ~100 columns, most
  empty: a CSV cell has no null, so nothing is lost) plus `_blendify` = {"source": "export",
  "file", "schema", "ms_played", "utc_offset_s", "time_from", "track_id_from"}.

Filters, each counted in the file's summary: `not_play_end`; `video` (`Media Type` VIDEO, as
Spotify's video files are not read); `short_skip`: under 30 s and an `End Reason Type` other than
`NATURAL_END_OF_TRACK` (the Spotify rule, in Apple's terms); `no_track` (no song name);
`unreadable` (no time or play length, or more cells than the header: an unescaped comma).
Rows of two Apple accounts (`Apple Id Number` differs) fail the import.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from blendify_assets.blend.identity import TrackInfo, match_tracks
from blendify_assets.core.fetch import FetchStats, Row
from blendify_assets.providers.apple_music.catalog import catalog_isrcs
from blendify_assets.providers.apple_music.client import AppleClient
from blendify_assets.providers.apple_music.publish import search_songs
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
    synthetic_track_id,
)
from blendify_assets.providers.http import strip_nul

PLAY_ACTIVITY = "apple-play-activity"
PLAY_ACTIVITY_FILE = "apple music play activity.csv"
NAME_COLUMNS = ("song name", "content name")
REQUIRED = ("event start timestamp", "event type", "end reason type", "play duration milliseconds")
CATALOG_ID_COLUMN = "apple music track identifier"
ACCOUNT_COLUMN = "apple id number"
NATURAL_END = "NATURAL_END_OF_TRACK"
LOOKUP_WORKERS = 8  # searches in flight; the client's HTTP layer bounds and retries them
_OTHER_HISTORY = {
    "daily tracks": ({"track description", "date played"}, "play history daily tracks"),
    "recently played tracks": ({"track description", "first event timestamp"}, "recently played tracks"),
}


def read_export(paths: str | Path | Iterable[str | Path]) -> Iterator[ExportFile]:
    """Each Play Activity file of an Apple export, validated as a whole before the first is yielded."""
    with open_export(paths) as export:
        yield from export.files


def open_export(paths: str | Path | Iterable[str | Path]) -> Export:
    """The export at `paths` (the zip, nested zips, an unzipped folder, or the CSV itself), validated
    up-front: each Play Activity file has the columns Blendify needs, and all are one account's."""
    stack = contextlib.ExitStack()
    try:
        return _open(as_paths(paths), stack)
    except BaseException:
        stack.close()
        raise


def _open(paths: list[Path], stack: contextlib.ExitStack) -> Export:
    found: list[tuple[Member, list[str], str | None]] = []
    ignored: dict[str, str] = {}
    for member in collect_members(paths, stack):
        lower = member.basename.lower()
        if not lower.endswith(".csv") and not member.explicit:
            continue
        other = next((kind for kind, (_, name) in _OTHER_HISTORY.items() if name in lower), None)
        if other is None and lower != PLAY_ACTIVITY_FILE and not member.explicit:
            continue  # the export's other files
        columns = _header(member) if other is None else []
        if other is None and lower != PLAY_ACTIVITY_FILE:
            present = set(_index(columns))
            other = next((kind for kind, (cols, _) in _OTHER_HISTORY.items() if cols <= present), None)
        if other is not None:
            ignored[member.name] = f"{other}: the same plays as Play Activity again (would double-count)"
            continue
        _require_columns(member, _index(columns))
        found.append((member, columns, _first_account(member, _index(columns))))
    if not found:
        where = ", ".join(str(p) for p in paths)
        if ignored:
            raise ExportError(
                f"{where}: holds {', '.join(sorted(ignored))} but no 'Apple Music Play Activity.csv', "
                "the only Apple file with each play's time; import the export that contains it"
            )
        raise ExportError(
            f"{where}: no 'Apple Music Play Activity.csv' in it; not an Apple Media Services export"
        )
    accounts = {account for _, _, account in found if account}
    if len(accounts) > 1:
        raise ExportError(
            "these files are two Apple accounts' activity (their Apple Id Number differs); "
            "import each person's export for that person"
        )
    account = next(iter(accounts), None)
    files = [ExportFile(m, PLAY_ACTIVITY, _rows_reader(m, columns, account)) for m, columns, _ in found]
    return Export("apple", files, ignored, account, stack)


@contextlib.contextmanager
def _csv(member: Member) -> Iterator[Iterator[list[str]]]:
    """The member's CSV rows, streamed; a CSV the csv module cannot split is one ExportError."""
    with member.open() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)

        def rows() -> Iterator[list[str]]:
            try:
                yield from reader
            except csv.Error as exc:
                raise ExportError(f"{member.display}: line {reader.line_num} is not CSV ({exc})") from None

        yield rows()


def _header(member: Member) -> list[str]:
    """The column names of the first line, trimmed."""
    member.check_size()
    with _csv(member) as rows:
        first = next(rows, None)
    if not first:
        raise ExportError(f"{member.display}: empty; not an Apple Music Play Activity file")
    return [strip_nul(name.strip()) for name in first]


def _index(columns: list[str]) -> dict[str, int]:
    """Lower-case column name -> position (found by name: the order changed in 2019)."""
    return {name.lower(): i for i, name in enumerate(columns)}


def _require_columns(member: Member, header: dict[str, int]) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if not any(c in header for c in NAME_COLUMNS):
        missing.append("song name")
    if len(missing) == len(REQUIRED) + 1:
        raise ExportError(
            f"{member.display}: not an Apple Music Play Activity file (none of its columns are)"
        )
    if missing:
        names = ", ".join(f"'{_title(c)}'" for c in missing)
        raise ExportError(
            f"{member.display}: the column{'s' if len(missing) > 1 else ''} {names} "
            f"{'are' if len(missing) > 1 else 'is'} missing; not an Apple Music Play Activity file Blendify can read"
        )


def _title(column: str) -> str:
    return " ".join(word.capitalize() for word in column.split())


def _first_account(member: Member, header: dict[str, int]) -> str | None:
    if ACCOUNT_COLUMN not in header:
        return None
    with _csv(member) as rows:
        next(rows, None)
        for row in rows:
            if len(row) > header[ACCOUNT_COLUMN] and row[header[ACCOUNT_COLUMN]].strip():
                return row[header[ACCOUNT_COLUMN]].strip()
    return None


def _rows_reader(member: Member, columns: list[str], account: str | None):
    header = _index(columns)

    def cell(row: list[str], column: str) -> str:
        i = header.get(column)
        return row[i].strip() if i is not None and i < len(row) else ""

    def rows(summary: ExportSummary) -> Iterator[Row]:
        with _csv(member) as lines:
            next(lines, None)
            for line_no, row in enumerate(lines, start=2):
                if not row or row == [""]:
                    continue
                summary.records += 1
                if len(row) != len(columns):
                    summary.unreadable(f"line {line_no} has {len(row)} cells for {len(columns)} columns")
                    continue
                owner = cell(row, ACCOUNT_COLUMN)
                if account and owner and owner != account:
                    raise ExportError(
                        f"{member.display}: line {line_no} is another Apple account's activity; "
                        "import each person's export for that person"
                    )
                made = _play_row(row, cell, columns, member.name, summary)
                if made is not None:
                    summary.plays += 1
                    yield made

    return rows


def _int(text: str) -> int | None:
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def _time(text: str) -> tuple[datetime | None, bool]:
    """(aware UTC datetime, had a zone designator)."""
    if not text:
        return None, False
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, False
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), False
    return parsed.astimezone(UTC), True


def _play_row(row: list[str], cell: Any, columns: list[str], file: str, summary: ExportSummary) -> Row | None:
    if cell(row, "event type") != "PLAY_END":
        summary.skip("not_play_end")
        return None
    if cell(row, "media type").upper() == "VIDEO":
        summary.skip("video")
        return None
    ms_played = _int(cell(row, "play duration milliseconds"))
    start, zoned = _time(cell(row, "event start timestamp"))
    time_from = "start"
    if start is None and ms_played is not None:
        end, zoned = _time(cell(row, "event end timestamp"))
        if end is not None:
            start, time_from = end - timedelta(milliseconds=ms_played), "end_minus_played"
    if start is None or ms_played is None or ms_played < 0:
        summary.unreadable("no readable Event Start Timestamp or Play Duration Milliseconds")
        return None
    if ms_played < MIN_PLAY_MS and cell(row, "end reason type") != NATURAL_END:
        summary.skip("short_skip")
        return None
    title = cell(row, "song name") or cell(row, "content name")
    if not title:
        summary.skip("no_track")
        return None
    album = cell(row, "album name") or None
    artist = cell(row, "container artist name") or cell(row, "artist name")
    catalog_id = cell(row, CATALOG_ID_COLUMN)
    if catalog_id:
        track_id, id_from = catalog_id, "catalog"
    else:
        track_id, id_from = synthetic_track_id(title, album), "synthetic"
        summary.synthetic_ids += 1
    marker: dict[str, Any] = {"source": SOURCE, "file": file, "schema": PLAY_ACTIVITY, "ms_played": ms_played,
                              "utc_offset_s": _int(cell(row, "utc offset in seconds")), "time_from": time_from,
                              "track_id_from": id_from}  # fmt: skip
    if not zoned:
        marker["zone"] = "assumed_utc"
    duration = _int(cell(row, "media duration in milliseconds"))
    return {
        "track_id": strip_nul(track_id),
        "track_name": strip_nul(title),
        "artist_name": strip_nul(artist),
        "album_name": strip_nul(album) if album else None,
        "album_art_url": None,
        "duration_ms": duration if duration and duration > 0 else None,
        "played_at": start,
        "isrc": None,
        "track_metadata": {
            **{name: strip_nul(value) for name, value in zip(columns, row, strict=True) if value != ""},
            "_blendify": marker,
        },
    }


async def look_up_isrcs(client: AppleClient, hints: Iterable[TrackHint]) -> IsrcLookups:
    """ISRCs for an import's distinct Apple tracks: the catalogue by id, 300 a request, where the
    export gives a catalog id; otherwise a catalogue search by title and artist, the first candidate
    blend/identity judges the same recording (`match_tracks`) giving its ISRC. A failed request
    (after the HTTP layer's retries) leaves its tracks unidentified; a revoked token or the quota
    stops the rest."""
    result = IsrcLookups("search")
    stats = FetchStats()
    hints = list(hints)
    by_id = [h.track_id for h in hints if h.by_id]
    result.asked = len(hints)
    if by_id:
        try:
            for track_id, isrc in (await catalog_isrcs(client, by_id, stats)).items():
                result.isrcs[track_id], result.methods[track_id] = isrc, "catalogue"
        except (NeedsReauth, QuotaExceeded) as exc:
            result.stopped, result.failed = str(exc), len(hints)
            return result
        except ProviderError:
            result.failed += len(by_id)
    pending = iter([h for h in hints if not h.by_id])

    async def worker() -> None:
        for hint in pending:  # one shared iterator: each track searched once
            if result.stopped is not None:
                return
            try:
                candidates = await search_songs(client, hint.title, hint.artist, stats)
            except (NeedsReauth, QuotaExceeded) as exc:
                result.stopped = result.stopped or str(exc)
                result.failed += 1
                return
            except ProviderError:
                result.failed += 1
                continue
            wanted = TrackInfo("apple", hint.track_id, hint.title, hint.artist, hint.album)
            for song in candidates:
                found = TrackInfo("apple", song.track_id, song.name, song.artist_name, song.album_name)
                if song.isrc and match_tracks(wanted, found) is not None:
                    result.isrcs[hint.track_id] = song.isrc
                    break

    await asyncio.gather(*(worker() for _ in range(LOOKUP_WORKERS)))
    result.requests, result.rate_limit_waits = stats.requests, stats.rate_limit_waits
    return result
