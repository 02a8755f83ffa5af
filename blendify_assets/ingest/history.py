"""Importing a lifetime-history export into the warehouse: the readers (providers/*/history.py),
the comparison with plays already stored, and the append (db/music/history.py) joined here.

One import is one transaction: the export is validated whole before anything is written, each file
is staged and appended in turn, and a failure in any file (a JSON that ends early inside the zip)
rolls back every file of the import, so bad input writes nothing. Each file's ledger row
(`history_imports`, keyed by the file's SHA-256) commits with its plays: importing the same file
again appends nothing and says when it was imported.

Plays already stored from the API are not stored again. The tolerance (documented in
docs/history-import.md): an export play is the API play of the same track whose stored time lies
within the play's span (start to end) widened by `API_TOLERANCE` on each side, paired one to one,
nearest first. Spotify's API time is the start in the simulator and the end on some clients
(reference §2.2), and a ±60 s window around the whole span covers both. Apple's API times are
estimates laid between two polls, so the window is wider and the song is matched by its title
(Apple's export has no catalog id for the API's).

The web app calls `import_upload(engine, user_id, provider, stream, filename)` with the uploaded
file's stream; the command line calls `import_history` with paths.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import queue
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.collector import fewer_collections
from blendify_assets.core.fetch import Row
from blendify_assets.db import connections, history_imports
from blendify_assets.db.connections import DatabaseTokenSource, provider_account
from blendify_assets.db.music import history as plays_db
from blendify_assets.providers.apple_music import history as apple_history
from blendify_assets.providers.apple_music.client import apple_http
from blendify_assets.providers.apple_music.provider import open_session as apple_session
from blendify_assets.providers.apple_music.settings import AppleMusicSettings
from blendify_assets.providers.history import (
    MAX_FILE_BYTES,
    Export,
    ExportError,
    ExportFile,
    IsrcLookups,
    TrackHint,
)
from blendify_assets.providers.http import RetryPolicy
from blendify_assets.providers.spotify import history as spotify_history
from blendify_assets.providers.spotify.client import spotify_http
from blendify_assets.providers.spotify.provider import open_session as spotify_session
from blendify_assets.providers.spotify.settings import SpotifySettings
from blendify_assets.security.vault import Vault

READERS: dict[str, Callable[[list[Path]], Export]] = {
    "spotify": spotify_history.open_export,
    "apple": apple_history.open_export,
}
API_TOLERANCE = {"spotify": timedelta(seconds=60), "apple": timedelta(hours=3)}
"""How far outside an export play's span a stored API play of the same song may lie and still be
that play (your_spotify uses ±60 s; Apple's API times are estimates between polls)."""

Progress = Callable[[str, int], None]
"""Called with (file name, rows read so far in it) as an import goes."""

Lookup = Callable[[list[TrackHint]], IsrcLookups]
"""Looks up the ISRCs of an import's distinct tracks through the provider's API (`provider_lookup`)."""

_BY_ID = {"spotify": ("uri",), "apple": ("catalog",)}
"""Plays looked up by id, by `_blendify.track_id_from`: those that carry the provider's own id."""
_BY_NAME = {"apple": ("synthetic",)}
"""Plays searched by title and artist: Apple's export has no catalog id (Spotify's synthetic ids
are the short Account-data format, for which no search is made: a wrong match would be worse)."""


@dataclass
class FileReport:
    """What importing one file did."""

    file: str
    schema: str
    records: int = 0
    plays: int = 0
    appended: int = 0
    duplicates_api: int = 0
    duplicates_stored: int = 0  # stored by an earlier import, or repeated within the file
    filtered: dict[str, int] = field(default_factory=dict)
    enrichment: dict[str, int] = field(default_factory=dict)
    already_imported_at: datetime | None = None


@dataclass
class ImportReport:
    provider: str
    files: list[FileReport]
    ignored: dict[str, str]
    lookups: str = ""  # one line: what the API lookups did, or why there were none

    def enriched(self, key: str) -> int:
        return sum(int(f.enrichment.get(key, 0)) for f in self.files)

    @property
    def appended(self) -> int:
        return sum(f.appended for f in self.files)

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)


def _norm(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


class ApiMatcher:
    """Pairs export plays with API plays already stored, one to one, nearest first."""

    def __init__(self, provider: str, stored: Iterable[plays_db.ApiPlay]) -> None:
        self.provider = provider
        self.tolerance = API_TOLERANCE[provider]
        self._times: dict[str, list[datetime]] = {}
        for play in stored:
            self._times.setdefault(self._key(play.track_id, play.track_name), []).append(play.played_at)
        for times in self._times.values():
            times.sort()
        self._paired: set[tuple[datetime, str]] = set()  # export plays already found stored

    def state(self) -> tuple[dict[str, list[datetime]], set[tuple[datetime, str]]]:
        """What pairing has used up so far (API plays are few: copies are cheap)."""
        return {k: list(v) for k, v in self._times.items()}, set(self._paired)

    def restore(self, state: tuple[dict[str, list[datetime]], set[tuple[datetime, str]]]) -> None:
        """Back to `state`, before a file whose reading is redone."""
        self._times, self._paired = {k: list(v) for k, v in state[0].items()}, set(state[1])

    def _key(self, track_id: str, track_name: str | None) -> str:
        return _norm(track_name) if self.provider == "apple" else track_id

    def take(self, row: Row) -> bool:
        """True (and the API play used up) when a stored API play is this export play. A record
        the export repeats (same start, same track) is the same play again, not another one."""
        if not self._times and not self._paired:  # no API play stored (a first import's usual case)
            return False
        start: datetime = row["played_at"].replace(tzinfo=None)
        if (start, row["track_id"]) in self._paired:
            return True
        times = self._times.get(self._key(str(row["track_id"]), row.get("track_name")))
        if not times:
            return False
        ms = row["track_metadata"]["_blendify"].get("ms_played") or 0
        low, high = start - self.tolerance, start + timedelta(milliseconds=ms) + self.tolerance
        i = bisect.bisect_left(times, low)
        candidates = [j for j in range(i, len(times)) if times[j] <= high] if i < len(times) else []
        if not candidates:
            return False
        best = min(candidates, key=lambda j: abs(times[j] - start))
        del times[best]
        self._paired.add((start, row["track_id"]))
        return True


def _sha256(file: ExportFile) -> str:
    digest = hashlib.sha256()
    with file.member.open() as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_account(conn: Connection, export: Export, user_id: uuid.UUID, provider: str) -> None:
    """An export naming another account than the user's connected one is someone else's history."""
    if export.account is None:
        return
    connected = provider_account(conn, user_id, provider)
    if connected is not None and connected != export.account:
        raise ExportError(
            f"this export is {provider} account {export.account!r}, but the user is connected as "
            f"{connected!r}; import each person's export for that person"
        )


def import_history(
    engine: Engine,
    user_id: uuid.UUID,
    provider: str,
    paths: str | Path | Iterable[str | Path],
    progress: Progress | None = None,
    lookup: Lookup | None = None,
    no_lookup_reason: str = "no lookups asked for",
) -> ImportReport:
    """Import an export (zip, folder or history files) for the user, in one transaction.

    With `lookup`, a first pass over the files not imported yet collects the distinct track ids
    whose ISRC the warehouse does not know, and each is looked up once before the write pass: the
    table is append-only, so a play's ISRC must be known when it is written. Memory holds the
    distinct ids only. Lookups run before the transaction opens (no lock is held across HTTP)."""
    if provider not in READERS:
        raise ExportError(f"no history import for provider {provider!r}")
    given = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    with READERS[provider](given) as export, fewer_collections():
        # By file, not by name: two downloads zipped together hold files of the same path.
        digests = {file: _sha256(file) for file in export.files}
        found: IsrcLookups | None = None
        note = f"ISRCs from the warehouse only ({no_lookup_reason})"
        if lookup is not None:
            with engine.connect() as conn:
                _check_account(conn, export, user_id, provider)
                wanted = _wanted(conn, export, digests, user_id, provider)
            if wanted:
                found = lookup(wanted)
                note = _lookup_line(found)
            else:
                note = "no lookups needed: the warehouse knew every track's ISRC"
        with engine.begin() as conn:
            _check_account(conn, export, user_id, provider)
            plays_db.lock_plays(conn, user_id, provider)
            fetched_at = plays_db.clock(conn)
            matcher = ApiMatcher(provider, plays_db.api_plays(conn, user_id, provider))
            plays_db.start_import(conn)
            known: dict[str, str | None] = {}  # the warehouse's ISRCs asked so far, for every file
            with _Reader(_to_read(conn, export, digests, user_id, provider)) as reader:
                reports = [
                    _import_file(
                        conn,
                        file,
                        digests[file],
                        user_id,
                        provider,
                        fetched_at,
                        matcher,
                        progress,
                        found,
                        known,
                        reader,
                    )
                    for file in export.files
                ]
            return ImportReport(provider, reports, dict(export.ignored), note)


def _to_read(
    conn: Connection, export: Export, digests: dict[ExportFile, str], user_id: uuid.UUID, provider: str
) -> list[ExportFile]:
    """The files this import will write, in order: not in the ledger, and not a copy of an earlier
    file of the export (that one is found in the ledger when its turn comes, as it is now)."""
    files, digested = [], set()
    for file in export.files:
        digest = digests[file]
        if digest not in digested and history_imports.imported_at(conn, user_id, provider, digest) is None:
            files.append(file)
        digested.add(digest)
    return files


def _wanted(
    conn: Connection, export: Export, digests: dict[ExportFile, str], user_id: uuid.UUID, provider: str
) -> list[TrackHint]:
    """The distinct tracks of the files still to import that need a lookup: without an ISRC in the
    export, unknown to the warehouse, with the provider's own id or (Apple) a title to search."""
    kinds = _BY_ID.get(provider, ())
    by_name = _BY_NAME.get(provider, ())
    hints: dict[str, TrackHint] = {}
    for file in export.files:
        if history_imports.imported_at(conn, user_id, provider, digests[file]) is not None:
            continue
        for row in file.plays():
            source = row["track_metadata"]["_blendify"].get("track_id_from")
            track_id = str(row["track_id"])
            if row.get("isrc") is not None or track_id in hints or source not in (*kinds, *by_name):
                continue
            hints[track_id] = TrackHint(
                track_id, str(row.get("track_name") or ""), str(row.get("artist_name") or ""),
                row.get("album_name"), source in kinds,
            )  # fmt: skip
    known = plays_db.known_isrcs(conn, provider, sorted(hints))
    return [hints[track_id] for track_id in sorted(hints.keys() - known.keys())]


def _lookup_line(found: IsrcLookups) -> str:
    line = (
        f"looked up {found.asked:,} tracks ({found.requests:,} requests): {len(found.isrcs):,} ISRCs found, "
        f"{found.failed:,} lookups failed"
    )
    if found.rate_limit_waits:
        line += f", waited out {found.rate_limit_waits:,} rate limits"
    if found.stopped is not None:
        line += f"; stopped early ({found.stopped}): the rest are stored without an ISRC"
    return line


def spotify_lookup(
    engine: Engine,
    vault: Vault,
    settings: SpotifySettings,
    user_id: uuid.UUID,
    policy: RetryPolicy | None = None,
) -> tuple[Lookup | None, str]:
    """The user's Spotify track lookups through their connection (its tokens, refreshed as a sync
    does; the HTTP layer's concurrency bound and 429 Retry-After), or None and why not."""
    if not settings.has_credentials():
        return None, "no Spotify app credentials: SPOTIFY_CLIENT_ID is not set"

    async def run(tokens: DatabaseTokenSource, hints: list[TrackHint]) -> IsrcLookups:
        http = spotify_http(concurrency=spotify_history.LOOKUP_WORKERS, policy=policy)
        try:
            async with spotify_session(settings, http, tokens) as client:
                return await spotify_history.look_up_isrcs(client, hints)
        finally:
            await http.aclose()

    return _through_connection(engine, vault, "spotify", "Spotify", user_id, run)


def apple_lookup(
    engine: Engine,
    vault: Vault,
    settings: AppleMusicSettings,
    user_id: uuid.UUID,
    policy: RetryPolicy | None = None,
) -> tuple[Lookup | None, str]:
    """The user's Apple catalogue lookups (by id, else a search by title and artist) through their
    connection (its Music-User-Token names the storefront), or None and why not."""
    if not settings.has_credentials():
        return None, "no Apple Music developer key (APPLE_MUSIC_TEAM_ID, _KEY_ID, _PRIVATE_KEY_PATH)"

    async def run(tokens: DatabaseTokenSource, hints: list[TrackHint]) -> IsrcLookups:
        http = apple_http(concurrency=apple_history.LOOKUP_WORKERS, policy=policy)
        try:
            async with apple_session(settings, http, tokens) as client:
                return await apple_history.look_up_isrcs(client, hints)
        finally:
            await http.aclose()

    return _through_connection(engine, vault, "apple", "Apple Music", user_id, run)


def _through_connection(
    engine: Engine,
    vault: Vault,
    provider: str,
    name: str,
    user_id: uuid.UUID,
    run: Callable[[DatabaseTokenSource, list[TrackHint]], Coroutine[Any, Any, IsrcLookups]],
) -> tuple[Lookup | None, str]:
    """`run` bound to the user's active connection's tokens, or None and why not."""
    row = connections.for_sync(engine, provider, [str(user_id)]).get(str(user_id))
    if row is None:
        return None, f"the user has no {name} connection"
    if row.status != "active":
        return None, f"the user's {name} connection needs re-authorisation"
    tokens = DatabaseTokenSource(engine, vault, row)

    def lookup(hints: list[TrackHint]) -> IsrcLookups:
        return asyncio.run(run(tokens, hints))

    return lookup, ""


def _import_file(
    conn: Connection,
    file: ExportFile,
    digest: str,
    user_id: uuid.UUID,
    provider: str,
    fetched_at: datetime,
    matcher: ApiMatcher,
    progress: Progress | None,
    found: IsrcLookups | None,
    known: dict[str, str | None],
    reader: _Reader,
) -> FileReport:
    report = FileReport(file.name, file.schema)
    report.already_imported_at = history_imports.imported_at(conn, user_id, provider, digest)
    if report.already_imported_at is not None:
        return report

    def fresh(rows: Iterator[Row]) -> Iterator[Row]:
        for n, row in enumerate(rows, 1):
            if progress is not None and n % 5_000 == 0:
                progress(file.name, n)
            if matcher.take(row):
                report.duplicates_api += 1
                continue
            if found is not None and row.get("isrc") is None:
                isrc = found.isrcs.get(str(row["track_id"]))
                if isrc is not None:
                    row["isrc"] = isrc
                    method = found.methods.get(str(row["track_id"]), found.method)
                    row["track_metadata"]["_blendify"]["isrc_from"] = method
            yield row

    # A first import stores every play: COPY straight in. If a play is already stored (an earlier
    # import of overlapping files), that attempt is undone and the file staged and compared instead.
    before = matcher.state()
    done = plays_db.append_new(conn, user_id, provider, fetched_at, fresh(reader.rows(file)), known)
    if done is None:
        matcher.restore(before)
        report.duplicates_api = 0
        with reader.paused(file), read_ahead(file.plays()) as rows:
            done = plays_db.append_file(conn, user_id, provider, fetched_at, fresh(rows))
    summary = file.summary
    if not summary.complete:  # plays() raises before this; belt and braces: never half a file
        raise ExportError(f"{file.member.display}: not read to its end; nothing was imported")
    report.records, report.plays = summary.records, summary.plays
    report.filtered = dict(sorted(summary.filtered.items()))
    report.appended = done.appended
    report.duplicates_stored = done.staged - done.appended
    report.enrichment = _enrichment(summary.plays, summary.synthetic_ids, done)
    if progress is not None:
        progress(file.name, summary.records)
    history_imports.record(
        conn, user_id=user_id, provider=provider, file_name=file.name, file_sha256=digest,
        schema_version=file.schema, records=report.records, plays=report.plays, appended=report.appended,
        duplicates_api=report.duplicates_api, duplicates_stored=report.duplicates_stored,
        filtered=report.filtered, enrichment=report.enrichment,
    )  # fmt: skip
    return report


_AHEAD_BATCH = 1_000  # rows handed over at a time
_AHEAD_DEPTH = 8  # batches read ahead at most: memory stays bounded

T = TypeVar("T")


@contextlib.contextmanager
def read_ahead(rows: Iterator[T]) -> Iterator[Iterator[T]]:
    """`rows`, produced by a reader thread while the caller writes: parsing the next rows overlaps the
    server's work on the last COPY (psycopg releases the GIL while it waits on the server), which
    roughly halves an import's wall time on two cores. The thread touches no database connection; an
    error in it is raised in the caller; leaving the block stops and joins it, so whatever it
    counted is final and nothing reads on behind the caller's back."""
    handoff: queue.Queue[list[T] | BaseException | None] = queue.Queue(_AHEAD_DEPTH)
    stop = threading.Event()

    def put(item: list[T] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            batch: list[T] = []
            for row in rows:
                batch.append(row)
                if len(batch) == _AHEAD_BATCH:
                    if not put(batch):
                        return
                    batch = []
            if put(batch):
                put(None)
        except BaseException as exc:  # handed to the caller, raised there
            put(exc)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while (item := handoff.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item

    thread = threading.Thread(target=produce, name="history-reader", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class _FileEnd:
    """Marks where one file's rows end in the reader's stream (its summary is final by then)."""

    file: ExportFile


def _rows_of(files: list[ExportFile]) -> Iterator[Row | _FileEnd]:
    for file in files:
        yield from file.plays()
        yield _FileEnd(file)


class _Reader:
    """The rows of the files an import writes, in order, from one reader thread (`read_ahead`) that
    runs on across files: the next file is opened and parsed while the server still stores the last
    one's rows. Read a file at a time, the server waited at every file's start for its first rows
    (the whole file is inflated and parsed first), about a tenth of an import's time."""

    def __init__(self, files: list[ExportFile]) -> None:
        self._files = files
        self._stack = contextlib.ExitStack()
        self._stream: Iterator[Row | _FileEnd] = iter(())

    def __enter__(self) -> _Reader:
        self._start(0)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self, first: int) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._stream = self._stack.enter_context(read_ahead(_rows_of(self._files[first:])))

    def rows(self, file: ExportFile) -> Iterator[Row]:
        """The file's rows; it is the next file of the stream (files are written in order)."""
        for item in self._stream:
            if isinstance(item, _FileEnd):
                if item.file is not file:
                    raise RuntimeError(f"{file.name}: the reader is at {item.file.name} instead")
                return
            yield item
        raise RuntimeError(f"{file.name}: the reader ended before this file")

    @contextlib.contextmanager
    def paused(self, file: ExportFile) -> Iterator[None]:
        """No reading ahead while `file` is read again on its own (the staged path), so only one
        thread reads the export at a time; afterwards the reader goes on from the file after it."""
        self._stack.close()
        yield
        self._start(self._files.index(file) + 1)


def _enrichment(plays: int, synthetic: int, done: plays_db.Appended) -> dict[str, Any]:
    """How the file's stored-or-staged plays were identified: by the provider's own track id or a
    synthetic one; their ISRC by method (`isrc_from_warehouse`, `isrc_from_lookup`, ...); and
    `unidentified`: plays stored without an ISRC (matched to other people's music by id or name)."""
    counts: dict[str, Any] = {"provider_id": plays - synthetic, "synthetic_id": synthetic}
    counts["isrc_from_warehouse"] = done.isrc_from.get("warehouse", done.isrc_from_warehouse)
    for method, n in sorted(done.isrc_from.items()):
        counts[f"isrc_from_{method}"] = n
    counts["unidentified"] = done.without_isrc
    return counts


def spool_upload(stream: IO[bytes], filename: str, folder: Path) -> Path:
    """Copy an uploaded file into `folder` (a private temporary directory the caller owns) in 1 MB
    chunks, never held in memory, refused past `MAX_FILE_BYTES`; the copy's path."""
    safe = Path(filename).name or "upload"
    target = folder / safe
    with target.open("wb") as out:
        copied = 0
        while chunk := stream.read(1 << 20):
            copied += len(chunk)
            if copied > MAX_FILE_BYTES:
                raise ExportError(
                    f"{safe}: larger than any export file (at most {MAX_FILE_BYTES >> 20} MiB is read)"
                )
            out.write(chunk)
    if copied == 0:
        raise ExportError(f"{safe}: the upload is empty")
    return target


def import_upload(
    engine: Engine,
    user_id: uuid.UUID,
    provider: str,
    stream: IO[bytes],
    filename: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an uploaded file: spooled to a private temporary file (`spool_upload`), then imported
    as `import_history` does."""
    with tempfile.TemporaryDirectory(prefix="blendify-upload-") as folder:
        target = spool_upload(stream, filename, Path(folder))
        return import_history(engine, user_id, provider, target, progress)
