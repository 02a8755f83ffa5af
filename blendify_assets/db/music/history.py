"""Imported lifetime history in `user_recently_played`: what an import compares against, how one
file's plays are appended, ISRCs already known, and the per-track play counts analytics reads.

Imported rows are told apart by `track_metadata._blendify.source = 'export'` (the readers set it).
"""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from blendify_assets.core.fetch import Row
from blendify_assets.db.copy import copy_rows
from blendify_assets.db.music.tables import IS_EXPORT, TABLES
from blendify_assets.db.music.writer import row_values

PLAYS = TABLES["user_recently_played"]
_COLUMNS = ("user_id", "provider", "fetched_at", *PLAYS.columns)
_INCOMING = "incoming_history"
_CHUNK = 5_000  # rows per COPY on the direct path: one ISRC lookup each, memory bounded by it
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

    copy_rows(conn, _INCOMING, _COLUMNS, row_values(PLAYS, user_id, provider, fetched_at, counted(rows)))
    known = " UNION ALL ".join(
        f"SELECT track_id, isrc FROM {table} WHERE provider = CAST(:p AS provider) AND isrc IS NOT NULL "
        f"AND track_id = ANY(ARRAY(SELECT DISTINCT track_id FROM {_INCOMING} WHERE isrc IS NULL))"
        for table in _ISRC_SOURCES
    )
    enriched = conn.execute(
        sa.text(
            f"UPDATE {_INCOMING} i SET isrc = k.isrc, "
            "track_metadata = jsonb_set(i.track_metadata, '{_blendify,isrc_from}', '\"warehouse\"') "
            f"FROM (SELECT DISTINCT ON (track_id) track_id, isrc FROM ({known}) s ORDER BY track_id, isrc) k "
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


def known_isrcs(conn: Connection, provider: str, track_ids: list[str]) -> dict[str, str]:
    """ISRCs the warehouse holds for these provider track ids (partial indexes make it lookups)."""
    if not track_ids:
        return {}
    known = " UNION ALL ".join(
        f"SELECT track_id, isrc FROM {table} WHERE provider = CAST(:p AS provider) AND isrc IS NOT NULL "
        "AND track_id = ANY(:ids)"
        for table in _ISRC_SOURCES
    )
    rows = conn.execute(
        sa.text(f"SELECT DISTINCT ON (track_id) track_id, isrc FROM ({known}) s ORDER BY track_id, isrc"),
        {"p": provider, "ids": track_ids},
    )
    return {track_id: isrc for track_id, isrc in rows}


def append_new(
    conn: Connection, user_id: uuid.UUID, provider: str, fetched_at: datetime, rows: Iterable[Row]
) -> Appended | None:
    """The fast path for plays not stored yet (a first import): COPY straight into the table in
    chunks, each given the ISRCs the warehouse holds for its track ids first, under a savepoint.
    A record repeated nearby in the file is skipped here. If any play turns out to be stored
    already (the unique play key), everything since the savepoint is undone and None returned:
    the caller then runs `append_file`, which stages and skips what is stored."""
    seen: OrderedDict[tuple[datetime, str], None] = OrderedDict()
    looked_up: dict[str, str | None] = {}  # track id -> ISRC (None: none known); a song recurs all file long
    staged = appended = enriched = unidentified = without = 0
    methods: dict[str, int] = {}
    try:
        with conn.begin_nested():
            source = iter(rows)
            while chunk := list(itertools.islice(source, _CHUNK)):
                fresh = []
                for row in chunk:
                    staged += 1
                    key = (row["played_at"], row["track_id"])
                    if key in seen:
                        continue
                    seen[key] = None
                    if len(seen) > _RECENT_KEYS:
                        seen.popitem(last=False)
                    fresh.append(row)
                wanted = sorted(
                    {str(r["track_id"]) for r in fresh if r.get("isrc") is None} - looked_up.keys()
                )
                if len(looked_up) + len(wanted) > _LOOKED_UP:
                    looked_up.clear()
                found = known_isrcs(conn, provider, wanted)
                looked_up.update({track_id: found.get(track_id) for track_id in wanted})
                for row in fresh:
                    isrc = looked_up.get(str(row["track_id"])) if row.get("isrc") is None else None
                    if isrc is not None:
                        row["isrc"] = isrc
                        row["track_metadata"]["_blendify"]["isrc_from"] = "warehouse"
                        enriched += 1
                    elif row.get("isrc") is None and str(row["track_id"]).startswith("synthetic:"):
                        unidentified += 1
                    method = row["track_metadata"]["_blendify"].get("isrc_from")
                    if method is not None:
                        methods[method] = methods.get(method, 0) + 1
                    without += row.get("isrc") is None
                copy_rows(conn, PLAYS.name, _COLUMNS, row_values(PLAYS, user_id, provider, fetched_at, fresh))
                appended += len(fresh)
    except sa.exc.IntegrityError as exc:  # copy_rows raises SQLAlchemy's error, as every statement does
        if not isinstance(exc.orig, psycopg.errors.UniqueViolation):
            raise
        return None
    return Appended(staged, appended, enriched, unidentified, methods, without)


def clock(conn: Connection) -> datetime:
    """The database's now (naive UTC): every row of one import shares it as fetched_at."""
    now: datetime = conn.execute(sa.text("SELECT clock_timestamp() AT TIME ZONE 'UTC'")).scalar_one()
    return now
