"""Imported lifetime history in `user_recently_played`: what an import compares against, how one
file's plays are appended, ISRCs already known, and the per-track play counts analytics reads.

Imported rows are told apart by `track_metadata._blendify.source = 'export'` (the readers set it).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from blendify_assets.core.fetch import Row
from blendify_assets.db.music.tables import IS_EXPORT, TABLES

PLAYS = TABLES["user_recently_played"]
_COLUMNS = ("user_id", "provider", "fetched_at", *PLAYS.columns)
assert PLAYS.columns == (
    "track_id", "track_name", "artist_name", "album_name", "album_art_url", "duration_ms", "played_at", "isrc",
    "track_metadata",
), "_copy_lines writes these columns in this order"  # fmt: skip
_INCOMING = "incoming_history"
_CHUNK = 5_000  # rows at most held back on the direct path until one query asks their tracks' ISRCs
_LOOKED_UP = 50_000  # track ids whose warehouse ISRC (or its absence) is remembered on the direct path
_RECENT_KEYS = 10_000  # play keys remembered on the direct path (an export repeats records nearby)

# Tables whose rows carry a provider's ISRC for its track ids (the API's full track objects).
_ISRC_SOURCES = ("user_top_tracks", "user_saved_tracks", "user_playlist_tracks", "user_recently_played")


@dataclass(frozen=True)
class ApiPlay:
    played_at: datetime  # naive UTC, as stored
    track_id: str
    track_name: str


def lock_plays(conn: Connection, user_id: uuid.UUID, provider: str) -> None:
    """The lock every writer of this user's plays takes (db.music.writer's), held to the commit:
    a sync storing plays meanwhile cannot slip a play in between the comparison and the append."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"blendify.store:{user_id}:{provider}:{PLAYS.name}"},
    )


def api_plays(conn: Connection, user_id: uuid.UUID, provider: str) -> list[ApiPlay]:
    """The user's plays stored from the provider's API (not from an export), oldest first."""
    rows = conn.execute(
        sa.text(
            f"SELECT played_at, track_id, track_name FROM {PLAYS.name} "
            f"WHERE user_id = :u AND provider = CAST(:p AS provider) AND NOT coalesce({IS_EXPORT}, false) "
            "ORDER BY played_at"
        ),
        {"u": user_id, "p": provider},
    )
    return [ApiPlay(at, track_id, name) for at, track_id, name in rows]


def start_import(conn: Connection) -> None:
    """A staging table for one file's rows at a time, dropped at the commit. Only the row columns:
    no id default, so staging draws nothing from the table's sequence."""
    listed = ", ".join(_COLUMNS)
    conn.execute(
        sa.text(
            f"CREATE TEMP TABLE {_INCOMING} ON COMMIT DROP AS SELECT {listed} FROM {PLAYS.name} WITH NO DATA"
        )
    )


@dataclass(frozen=True)
class Appended:
    staged: int  # rows of the file that reached the warehouse's comparison
    appended: int  # of them, stored now (the others were stored before, or repeated in the file)
    isrc_from_warehouse: int  # rows that got an ISRC the warehouse already knew for their track id
    unidentified: int  # rows with a synthetic id and no ISRC: stored, but matchable only by name
    isrc_from: dict[str, int] = field(default_factory=dict)  # fresh rows by `_blendify.isrc_from`
    without_isrc: int = 0  # fresh rows left without an ISRC (stored all the same)


def append_file(
    conn: Connection, user_id: uuid.UUID, provider: str, fetched_at: datetime, rows: Iterable[Row]
) -> Appended:
    """Stage the rows by COPY, give them ISRCs the warehouse already holds for the same provider
    track id, and append those not stored yet (the unique play key skips the rest)."""
    conn.execute(sa.text(f"TRUNCATE {_INCOMING}"))
    tally = {"staged": 0, "synthetic": 0}

    def counted(rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            tally["staged"] += 1
            tally["synthetic"] += str(row["track_id"]).startswith("synthetic:")
            yield row

    _copy(conn, _INCOMING, _copy_lines(user_id, provider, fetched_at, counted(rows)))
    wanted = f"SELECT DISTINCT track_id FROM {_INCOMING} WHERE isrc IS NULL"
    enriched = conn.execute(
        sa.text(
            f"UPDATE {_INCOMING} i SET isrc = k.isrc, "
            "track_metadata = jsonb_set(i.track_metadata, '{_blendify,isrc_from}', '\"warehouse\"') "
            f"FROM ({_known_sql(wanted)}) k "
            "WHERE i.track_id = k.track_id AND i.isrc IS NULL "
            "RETURNING i.track_id LIKE 'synthetic:%'"
        ),
        {"p": provider},
    ).all()
    listed = ", ".join(_COLUMNS)
    appended = conn.execute(
        sa.text(
            f"INSERT INTO {PLAYS.name} ({listed}) SELECT {listed} FROM {_INCOMING} ON CONFLICT DO NOTHING"
        )
    ).rowcount
    unidentified = tally["synthetic"] - sum(1 for (synthetic,) in enriched if synthetic)
    methods: dict[str, int] = {}
    without = 0
    for method, has_isrc, n in conn.execute(
        sa.text(
            f"SELECT track_metadata->'_blendify'->>'isrc_from', isrc IS NOT NULL, count(*) FROM {_INCOMING} "
            "GROUP BY 1, 2"
        )
    ):
        if method is not None:
            methods[method] = methods.get(method, 0) + int(n)
        without += 0 if has_isrc else int(n)
    return Appended(tally["staged"], int(appended), len(enriched), unidentified, methods, without)


def _known_sql(wanted: str) -> str:
    """SELECT (track_id, isrc) for each track id `wanted` (a query of one column, `track_id`) whose
    ISRC the warehouse holds: the least of them, as it is the same whichever table is asked first.

    Each id is probed on its own (a LATERAL subquery per table, LIMIT 1 on a track_id index: the
    partial `... WHERE isrc IS NOT NULL` ones of 0010, user_top_tracks' own). Asked as one
    `track_id = ANY(ids)` per table instead, the planner may scan: with stale or no statistics on
    a freshly filled user_recently_played it judged the partial index no smaller than the table and
    read every stored play of those tracks through the play-key index (a skip scan) or the whole
    heap, ~2 s per 5,000 ids at 1.5 million plays, in the import's own transaction."""
    probes = " UNION ALL ".join(
        f"(SELECT isrc FROM {table} t WHERE t.track_id = w.track_id AND t.isrc IS NOT NULL "
        "AND t.provider = CAST(:p AS provider) ORDER BY t.isrc LIMIT 1)"
        for table in _ISRC_SOURCES
    )
    return (
        f"SELECT w.track_id, k.isrc FROM ({wanted}) w "
        f"CROSS JOIN LATERAL (SELECT min(isrc) AS isrc FROM ({probes}) p) k WHERE k.isrc IS NOT NULL"
    )


def known_isrcs(conn: Connection, provider: str, track_ids: list[str]) -> dict[str, str]:
    """ISRCs the warehouse holds for these provider track ids: one index probe per id and table,
    whatever the table's statistics say (see `_known_sql`)."""
    if not track_ids:
        return {}
    wanted = "SELECT DISTINCT track_id FROM unnest(CAST(:ids AS text[])) AS ids(track_id)"
    rows = conn.execute(sa.text(_known_sql(wanted)), {"p": provider, "ids": track_ids})
    return {track_id: isrc for track_id, isrc in rows}


def append_new(
    conn: Connection,
    user_id: uuid.UUID,
    provider: str,
    fetched_at: datetime,
    rows: Iterable[Row],
    looked_up: dict[str, str | None] | None = None,
) -> Appended | None:
    """The fast path for plays not stored yet (a first import): COPY straight into the table under a
    savepoint, each row given the ISRC the warehouse holds for its track id. A record repeated
    nearby in the file is skipped here. If any play turns out to be stored already (the unique play
    key), everything since the savepoint is undone and None returned: the caller then runs
    `append_file`, which stages and skips what is stored.

    One COPY streams the file while its track ids' ISRCs are known (`looked_up`: track id -> the
    warehouse's ISRC, None: none known; the caller's to share between the files of one import, as a
    song recurs in every file of a lifetime). A row whose id is not known yet waits, with up to
    `_CHUNK` others, until one query (`known_isrcs`) asks for all of theirs; only then does the COPY
    end, for that query, and a new one start with the waiting rows. So the server parses without
    a break while the songs are familiar, which after the first files they mostly are (rows are
    appended in another order then; nothing reads the table's physical order)."""
    seen: dict[tuple[datetime, str], None] = {}  # insertion-ordered: the oldest key is dropped first
    looked_up = {} if looked_up is None else looked_up
    tally = {"staged": 0, "appended": 0, "enriched": 0, "unidentified": 0, "without": 0}
    methods: dict[str, int] = {}
    source = iter(rows)
    waiting: list[Row] = []  # rows whose track's warehouse ISRC is not known yet
    resolved: list[Row] = []  # waiting rows whose ISRC (or its absence) has been asked since

    def settle(row: Row) -> Row:
        """The row with the warehouse's ISRC (when it holds one) and counted."""
        if row.get("isrc") is None:
            track_id = str(row["track_id"])
            isrc = looked_up.get(track_id)
            if isrc is not None:
                row["isrc"] = isrc
                row["track_metadata"]["_blendify"]["isrc_from"] = "warehouse"
                tally["enriched"] += 1
            else:
                tally["without"] += 1
                tally["unidentified"] += track_id.startswith("synthetic:")
        method = row["track_metadata"]["_blendify"].get("isrc_from")
        if method is not None:
            methods[method] = methods.get(method, 0) + 1
        tally["appended"] += 1
        return row

    def ready() -> Iterator[Row]:
        """Rows to COPY now: the resolved ones, then new ones until `_CHUNK` rows wait for a lookup."""
        for row in resolved:
            yield settle(row)
        resolved.clear()
        for row in source:
            tally["staged"] += 1
            key = (row["played_at"], row["track_id"])
            if key in seen:
                continue
            seen[key] = None
            if len(seen) > _RECENT_KEYS:
                del seen[next(iter(seen))]
            if row.get("isrc") is None and row["track_id"] not in looked_up:
                waiting.append(row)
                if len(waiting) >= _CHUNK:
                    return
                continue
            yield settle(row)

    try:
        with conn.begin_nested():
            while True:
                _copy(conn, PLAYS.name, _copy_lines(user_id, provider, fetched_at, ready()))
                if not waiting:
                    break  # the rows are all read, and all written
                wanted = sorted({str(r["track_id"]) for r in waiting} - looked_up.keys())
                if len(looked_up) + len(wanted) > _LOOKED_UP:
                    looked_up.clear()
                found = known_isrcs(conn, provider, wanted)
                looked_up.update({track_id: found.get(track_id) for track_id in wanted})
                resolved.extend(waiting)
                waiting.clear()
    except sa.exc.IntegrityError as exc:  # _copy raises SQLAlchemy's error, as every statement does
        if not isinstance(exc.orig, psycopg.errors.UniqueViolation):
            raise
        return None
    return Appended(
        tally["staged"],
        tally["appended"],
        tally["enriched"],
        tally["unidentified"],
        methods,
        tally["without"],
    )


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: Any) -> str:
    """A text value in COPY's text format: \\N for NULL, its four special characters escaped."""
    if value is None:
        return "\\N"
    text = value if type(value) is str else str(value)
    return text.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(text) else text


def _json(value: Any) -> str:
    """A jsonb value in COPY's text format: orjson (the stdlib for what orjson refuses, integers
    beyond 64 bits), whose output has no raw control characters: only backslashes need doubling."""
    if value is None:
        return "\\N"
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("\\", "\\\\")


def _copy_lines(
    user_id: uuid.UUID, provider: str, fetched_at: datetime, rows: Iterable[Row]
) -> Iterator[str]:
    """COPY text lines of the rows, in `_COLUMNS` order, written directly: a generic per-value
    converter costs more than the import's parsing. Times are stored as naive UTC."""
    prefix = f"{user_id}\t{_text(provider)}\t{fetched_at.isoformat(sep=' ')}\t"
    for row in rows:
        played_at: datetime = row["played_at"]
        if played_at.tzinfo is not None:
            if played_at.tzinfo is not UTC:
                played_at = played_at.astimezone(UTC)
            played_at = played_at.replace(tzinfo=None)
        get = row.get
        duration = get("duration_ms")
        yield "\t".join((
            prefix + _text(row["track_id"]), _text(get("track_name")), _text(get("artist_name")),
            _text(get("album_name")), _text(get("album_art_url")), "\\N" if duration is None else str(duration),
            played_at.isoformat(sep=" "), _text(get("isrc")), _json(get("track_metadata")) + "\n",
        ))  # fmt: skip


def _copy(conn: Connection, table: str, lines: Iterable[str]) -> None:
    """COPY the lines into `table` inside the connection's transaction, ~256 KB per write, so the
    server parses one batch while the next is formatted. A refusal is raised as SQLAlchemy's error
    (IntegrityError, ...), as db.copy.copy_rows does."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "COPY needs psycopg 3"
    statement = f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            batch: list[str] = []
            for line in lines:
                batch.append(line)
                if len(batch) == 512:
                    copy.write("".join(batch))
                    batch.clear()
            if batch:
                copy.write("".join(batch))
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def clock(conn: Connection) -> datetime:
    """The database's now (naive UTC): every row of one import shares it as fetched_at."""
    now: datetime = conn.execute(sa.text("SELECT clock_timestamp() AT TIME ZONE 'UTC'")).scalar_one()
    return now
