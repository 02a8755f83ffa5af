"""Lifetime-history exports, the provider-neutral half: finding files, streaming them, counting.

Spotify (`providers/spotify/history.py`) and Apple Music (`providers/apple_music/history.py`) each
turn their export into `ExportFile`s; this module holds what they share:

- **Sources.** A path is a zip (nested zips are spooled to a temporary file, never to memory), a
  directory (an unzipped export) or one file. Every file becomes a `Member` that opens as a binary
  stream; nothing larger than `WHOLE_FILE_BYTES` is read whole (`json_records`). macOS `__MACOSX/`
  and `._*` entries are skipped.
- **One file, one unit.** An `Export` lists its `ExportFile`s after validating all of them (member
  names, JSON shape or CSV header, one account), so a bad export fails before any row. Each file's
  `plays()` streams its rows and fills its `ExportSummary`; `summary.complete` turns true only when
  the file was read to the end, so a caller can write one file per transaction.
- **Errors.** `ExportError` (a `BlendifyError`) with one line naming the file and the problem.
- **Synthetic track ids.** Records without a provider id are stored under `synthetic_track_id`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import shutil
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import Row
from blendify_assets.providers.http import strip_nul

SOURCE = "export"  # track_metadata._blendify.source of every imported play
MIN_PLAY_MS = 30_000  # under this, a play that was skipped or cut short is not a listen
MAX_FILE_BYTES = 1 << 30
"""Largest history file read (1 GiB, uncompressed). Spotify splits its history into ~12 MB files and
a decade of Apple Play Activity is a few hundred MB; anything larger is not an export (ListenBrainz
caps a file at 500 MB), and refusing it up-front beats streaming it for an hour."""
_MAX_ZIP_DEPTH = 3
_BOM = b"\xef\xbb\xbf"


@dataclass
class IsrcLookups:
    """What looking up an import's distinct tracks through the provider's API found: ISRCs by track
    id, the method recorded on each play (`_blendify.isrc_from`), and what went wrong. A failure
    never stops the import: the plays of tracks not found are stored without an ISRC and counted."""

    method: str  # "lookup" (Spotify GET /tracks/{id}), "catalogue", "search" (Apple)
    isrcs: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)  # track id -> method, where not `method`
    asked: int = 0  # distinct tracks looked up
    failed: int = 0  # of them, lookups that failed after the HTTP layer's retries (5xx, 404)
    requests: int = 0
    rate_limit_waits: int = 0
    stopped: str | None = None  # why lookups stopped early (a revoked token, the quota), or None


@dataclass(frozen=True)
class TrackHint:
    """What an export says of a track to look up: its id, and its names for a search."""

    track_id: str
    title: str
    artist: str
    album: str | None
    by_id: bool  # the id is the provider's own (look it up); else a synthetic one (search the names)


class ExportError(BlendifyError):
    """An export Blendify cannot read; the message names the file and the problem."""

    retryable = False


@dataclass
class ExportSummary:
    """What reading one file found: every record lands in `plays` or in one `filtered` reason."""

    file: str
    schema: str
    records: int = 0
    plays: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    synthetic_ids: int = 0  # plays stored under a synthetic track id (no provider id in the record)
    first_unreadable: str | None = None  # why the first unreadable record was unreadable
    complete: bool = False  # True only once the whole file was read without error

    def skip(self, reason: str) -> None:
        self.filtered[reason] = self.filtered.get(reason, 0) + 1

    def unreadable(self, why: str) -> None:
        self.skip("unreadable")
        if self.first_unreadable is None:
            self.first_unreadable = why

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "schema": self.schema,
            "records": self.records,
            "plays": self.plays,
            "filtered": dict(sorted(self.filtered.items())),
            "synthetic_ids": self.synthetic_ids,
            "complete": self.complete,
        }


@dataclass(frozen=True)
class Member:
    """One file of an export: a zip entry or a file on disk, opened as a binary stream."""

    name: str  # path inside its archive, or the file's name; what rows record as their file
    display: str  # what messages name: "export.zip:dir/file.json", or the path given
    opener: Callable[[], IO[bytes]]
    path: Path | None = None  # set for files on disk (their end can be checked cheaply)
    explicit: bool = False  # named on its own by the caller (read whatever its name)
    size: int | None = None  # bytes (uncompressed), when known before reading

    def check_size(self) -> None:
        """Refuse a file larger than any export holds, before a byte of it is read."""
        if self.size is not None and self.size > MAX_FILE_BYTES:
            raise ExportError(
                f"{self.display}: {self.size / (1 << 30):.1f} GiB is larger than any export file "
                f"(at most {MAX_FILE_BYTES >> 20} MiB is read); is this the right file?"
            )

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The member's bytes; a corrupt archive becomes an ExportError naming this member."""
        try:
            stream = self.opener()
        except (zipfile.BadZipFile, RuntimeError, OSError) as exc:  # RuntimeError: an encrypted entry
            raise ExportError(f"{self.display}: cannot be read ({exc})") from None
        try:
            with stream:
                yield stream
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ExportError(
                f"{self.display}: the archive is corrupt ({exc}); download the export again"
            ) from None

    def ends_with(self, suffix: bytes) -> bool | None:
        """Whether a file on disk ends (ignoring whitespace) with `suffix`; None inside an archive."""
        if self.path is None:
            return None
        with self.path.open("rb") as stream:
            stream.seek(0, 2)
            size = stream.tell()
            stream.seek(max(0, size - 256))
            return stream.read().rstrip().endswith(suffix)


class ExportFile:
    """One history file of an export: its schema, its rows (streamed) and what reading them found."""

    def __init__(self, member: Member, schema: str, rows: Callable[[ExportSummary], Iterator[Row]]) -> None:
        self.member = member
        self.name = member.name
        self.schema = schema
        self._rows = rows
        self.summary = ExportSummary(file=member.name, schema=schema)

    def plays(self) -> Iterator[Row]:
        """Rows for `user_recently_played`, streamed; the summary starts afresh on every call."""
        self.summary = summary = ExportSummary(file=self.name, schema=self.schema)
        yield from self._rows(summary)
        if summary.records and not summary.plays and summary.filtered.get("unreadable") == summary.records:
            raise ExportError(
                f"{self.member.display}: none of its {summary.records} records could be read "
                f"(first: {summary.first_unreadable}); it is not in a shape Blendify reads"
            )
        summary.complete = True

    def __repr__(self) -> str:
        return f"ExportFile({self.name!r}, schema={self.schema!r})"


@dataclass
class Export:
    """A validated export: its history files, and the history-like files deliberately not read."""

    provider: str
    files: list[ExportFile]
    ignored: dict[str, str]  # member name -> why it is not read
    account: str | None  # the account the files name (Spotify username), when they name one
    _stack: contextlib.ExitStack

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Export:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def collect_members(paths: list[Path], stack: contextlib.ExitStack) -> list[Member]:
    """Every file of the given zips, directories and files, in a stable order."""
    if not paths:
        raise ExportError("no export file given")
    members: list[Member] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if not _junk(child.relative_to(path).as_posix()):
                    members.extend(_file_members(child, child.relative_to(path).as_posix(), stack, False))
        elif path.is_file():
            members.extend(_file_members(path, path.name, stack, True))
        else:
            raise ExportError(f"{path}: no such file or directory")
    return members


def _junk(name: str) -> bool:
    """macOS archive litter: resource forks that look like JSON files but are not."""
    return name.startswith("__MACOSX/") or "/__MACOSX/" in name or name.rsplit("/", 1)[-1].startswith("._")


def _file_members(path: Path, name: str, stack: contextlib.ExitStack, explicit: bool) -> list[Member]:
    with path.open("rb") as stream:
        magic = stream.read(4)
    if magic[:2] == b"PK" or path.suffix.lower() == ".zip":
        try:
            archive = stack.enter_context(zipfile.ZipFile(path))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ExportError(
                f"{path}: not a readable zip archive (truncated or corrupt: {exc}); download the export again"
            ) from None
        return _zip_members(archive, str(path), stack, depth=1)
    return [
        Member(name=name, display=str(path), opener=lambda: path.open("rb"), path=path, explicit=explicit,
               size=path.stat().st_size)
    ]  # fmt: skip


def _zip_members(
    archive: zipfile.ZipFile, label: str, stack: contextlib.ExitStack, depth: int
) -> list[Member]:
    members: list[Member] = []
    for info in archive.infolist():
        if info.is_dir() or _junk(info.filename):
            continue
        display = f"{label}:{info.filename}"
        if info.filename.lower().endswith(".zip"):
            if depth >= _MAX_ZIP_DEPTH:
                continue
            spool = stack.enter_context(tempfile.TemporaryFile(prefix="blendify-export-"))  # noqa: SIM115
            inner = Member(info.filename, display, functools.partial(archive.open, info))
            with inner.open() as source:
                shutil.copyfileobj(source, spool, 1 << 18)
            spool.seek(0)
            try:
                nested = stack.enter_context(zipfile.ZipFile(spool))
            except (zipfile.BadZipFile, EOFError) as exc:
                raise ExportError(
                    f"{display}: not a readable zip archive (truncated or corrupt: {exc})"
                ) from None
            members.extend(_zip_members(nested, display, stack, depth + 1))
            continue
        members.append(
            Member(info.filename, display, functools.partial(archive.open, info), size=info.file_size)
        )
    return members


# --- JSON ---------------------------------------------------------------------------------------------


class _Prefixed:
    """A read()-able stream that first returns bytes already read from `stream` (minus a BOM).

    It also notices whether the raw JSON spells U+0000 (`\\u0000`), which Postgres rejects: records
    are cleaned only then, so the common case costs one byte search per chunk, not a walk per record.
    """

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix[3:] if prefix.startswith(_BOM) else prefix
        self._stream = stream
        self._tail = b""
        self.nul = False

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                out, self._prefix = self._prefix + self._stream.read(), b""
            else:
                out, self._prefix = self._prefix[:size], self._prefix[size:]
        else:
            out = self._stream.read(size)
        if not self.nul:
            window = self._tail + out
            self.nul = b"\\u0000" in window
            self._tail = window[-5:]
        return out


def _array_stream(stream: IO[bytes]) -> _Prefixed | None:
    """The stream, if its first character (after a BOM and whitespace) opens a JSON array."""
    head = stream.read(64)
    body = head[3:] if head.startswith(_BOM) else head
    while body.strip() == b"" and len(head) > 0:
        more = stream.read(64)
        if not more:
            break
        head += more
        body = head[3:] if head.startswith(_BOM) else head
    if not body.lstrip().startswith(b"["):
        return None
    return _Prefixed(head, stream)


_NOTHING = object()


def first_json_record(member: Member, what: str) -> Any:
    """The first element of a file that must be a JSON array (`_NOTHING`-free: None when empty)."""
    member.check_size()
    with member.open() as raw:
        stream = _array_stream(raw)
        if stream is None:
            raise ExportError(f"{member.display}: not {what} (it is not a JSON array)")
        try:
            first = next(iter(ijson.items(stream, "item", use_float=True)), _NOTHING)
        except ijson.JSONError:
            raise ExportError(f"{member.display}: not {what} (its JSON is malformed or ends early)") from None
    if member.ends_with(b"]") is False:
        raise ExportError(f"{member.display}: the JSON ends early (the file is truncated); download it again")
    return None if first is _NOTHING else first


WHOLE_FILE_BYTES = 16 << 20
"""Files up to this size (uncompressed) are parsed whole by orjson, ~2.5x ijson's speed: Spotify
splits its history into ~12 MB files, and one such file's records take ~50 MB. Larger files, and
any whose size is not known up front, are streamed by ijson, so memory stays flat whatever the size."""
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19  # 19 digits in a row: maybe an integer beyond 64 bits, which ijson refuses


def _has_long_number(data: bytes) -> bool:
    """Whether 19 digits follow each other anywhere (a byte search: a regex takes 10x as long)."""
    return _LONG_NUMBER in data.translate(_DIGITS_AS_ZEROS)


def json_records(member: Member, what: str) -> Iterator[Any]:
    """The elements of a JSON array file, one at a time (memory stays flat whatever the size),
    without U+0000 in any string."""
    records = _whole_file_records(member)
    if records is not None:
        yield from records
        return
    yield from _streamed_records(member, what)


def _whole_file_records(member: Member) -> list[Any] | None:
    """A small file's elements parsed at once, or None when it must be streamed instead: too large,
    not an array, or anything orjson reads differently from ijson (malformed JSON, which the
    streaming parser reports with its position; lone surrogates; integers beyond 64 bits)."""
    if member.size is None or member.size > WHOLE_FILE_BYTES:
        return None
    with member.open() as raw:
        data = raw.read(WHOLE_FILE_BYTES + 1)
    if data.startswith(_BOM):
        data = data[3:]
    if len(data) > WHOLE_FILE_BYTES or not data.lstrip().startswith(b"[") or _has_long_number(data):
        return None
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(records, list):
        return None
    return [strip_nul(r) for r in records] if b"\\u0000" in data else records


def _streamed_records(member: Member, what: str) -> Iterator[Any]:
    count = 0
    with member.open() as raw:
        stream = _array_stream(raw)
        if stream is None:
            raise ExportError(f"{member.display}: not {what} (it is not a JSON array)")
        try:
            for item in ijson.items(stream, "item", use_float=True):
                count += 1
                yield strip_nul(item) if stream.nul else item
        except ijson.JSONError:
            raise ExportError(
                f"{member.display}: the JSON ends early or is malformed after record {count}; "
                "the file is incomplete, download the export again"
            ) from None


# --- ids ------------------------------------------------------------------------------------------------


def _norm(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def synthetic_track_id(*parts: str | None) -> str:
    """`synthetic:` + 20 hex digits of BLAKE2b over the NFKC-normalised, case-folded,
    whitespace-collapsed parts: the same song text gives the same id in every import, so the
    warehouse's (played_at, track_id) key still collapses a re-imported play."""
    text = "\x1f".join(_norm(p) for p in parts)
    return "synthetic:" + hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
