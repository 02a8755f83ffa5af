"""Writing one endpoint check: snapshots by COPY, change detection by hash, the sync log — in one
transaction, so a dropped connection or a crash leaves nothing half-written behind.

Many small checks (one per user) are written together by `store_fetches`: one transaction, one
COPY of all their rows and one of their snapshots, instead of a transaction, a COPY and a handful
of statements each (issue 17: 50-row checks ran at a fifth of COPY's speed). Every check is still
all or nothing: its rows are converted and hashed before the shared transaction (a check that
cannot be converted fails alone, before anything is written), and if the server refuses the shared
transaction, each check is written again in its own, so only the bad one stores nothing.

A scope whose content is unchanged appends nothing, unless the provider's version of it moved (a
renamed playlist: new snapshot_id, same tracks). Then a snapshots row records the new version and
points at the rows already stored (`content_fetched_at`), so the next check compares against the
version the provider now reports and does not re-read the scope again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import EndpointFetch, Row, ScopeSnapshot
from blendify_assets.core.time import naive_utc
from blendify_assets.db import poll_schedule, poll_state, sync_log
from blendify_assets.db.copy import copy_rows
from blendify_assets.db.music.tables import TableSpec

log = logging.getLogger(__name__)


@dataclass
class StoreResult:
    rows_appended: int = 0
    changed: bool = False
    scopes_changed: list[str] = field(default_factory=list)
    scopes_unchanged: list[str] = field(default_factory=list)
    versions_recorded: list[str] = field(default_factory=list)  # content unchanged, provider version moved
    sync_log_id: int | None = None
    current_rows: int = 0
    """Rows in the user's current state of the table once this check is stored (what its
    `latest_*` view, or for an event log the table, holds for the user): known from the latest
    snapshots the writer reads anyway, so the step's materialisations need no query of the views."""


@dataclass(frozen=True)
class Check:
    """One successful endpoint check of one user, to be stored."""

    user_id: uuid.UUID
    provider: str
    fetch: EndpointFetch
    started_at: datetime
    run_id: str | None = None
    current_scopes: frozenset[str] | None = None
    """The scopes the user's current state is made of, when not every stored scope counts: a
    playlist's tracks count only while the playlist is among the user's current playlists (as in
    `latest_user_playlist_tracks`). None: every scope's latest snapshot counts."""


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _json_text(value: Any) -> str:
    """Compact JSON for a jsonb column; orjson (~10x the stdlib here), the stdlib for what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _cell(column: str, value: Any, json_columns: frozenset[str]) -> Any:
    if value is None:
        return None
    if column in json_columns:
        return _json_text(value)
    if isinstance(value, datetime):
        return _naive_utc(value)
    return value


def _stable(value: Any) -> str:
    if value is None:
        return "\x00"  # distinct from an empty string
    if isinstance(value, datetime):
        return _naive_utc(value).isoformat()
    return str(value)


def content_hash(spec: TableSpec, rows: Sequence[Row]) -> str:
    """SHA-256 over the stable fields of the rows, in order (ranks and positions matter)."""
    columns = spec.stable_columns
    stable = _stable
    digest = hashlib.sha256()
    first = True
    for row in rows:
        get = row.get
        text = "\x1f".join([value if type(value) is str else stable(value) for value in map(get, columns)])
        digest.update((text if first else "\x1e" + text).encode())
        first = False
    return digest.hexdigest()


def _cells(spec: TableSpec, rows: Iterable[Row]) -> Iterable[tuple[Any, ...]]:
    """The stored values of each row's own columns (jsonb as text, datetimes naive UTC)."""
    json_columns = spec.json_columns
    plain = [(c, c not in json_columns) for c in spec.columns]
    for row in rows:
        get = row.get
        yield tuple(
            value
            if (value := get(c)) is None or (is_plain and type(value) is str)
            else _cell(c, value, json_columns)
            for c, is_plain in plain
        )


def row_values(spec: TableSpec, user_id: uuid.UUID, provider: str, fetched_at: datetime, rows: Iterable[Row]):
    for cells in _cells(spec, rows):
        yield (user_id, provider, fetched_at, *cells)


@dataclass(frozen=True)
class _Latest:
    """The latest snapshot of one scope: what it holds and where its rows are."""

    content_hash: str
    version: str | None
    row_count: int
    content_fetched_at: datetime


def _latest(
    conn: Connection, user_ids: Sequence[uuid.UUID], provider: str, table: str
) -> dict[tuple[uuid.UUID, str], _Latest]:
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT ON (user_id, scope) user_id, scope, content_hash, version, row_count, "
            "coalesce(content_fetched_at, fetched_at) FROM snapshots "
            "WHERE user_id = ANY(:u) AND provider = CAST(:p AS provider) AND table_name = :t "
            "ORDER BY user_id, scope, fetched_at DESC"
        ),
        {"u": list(user_ids), "p": provider, "t": table},
    )
    return {
        (user, scope): _Latest(digest, version, count, at) for user, scope, digest, version, count, at in rows
    }


_SNAPSHOT_COLUMNS = (
    "user_id", "provider", "table_name", "scope", "fetched_at", "row_count", "content_hash", "version",
    "sync_log_id", "content_fetched_at",
)  # fmt: skip


def _lock(conn: Connection, keys: Iterable[tuple[uuid.UUID, str, str]]) -> None:
    """One writer at a time per (user, provider, table), from reading the latest hashes to the
    commit: a concurrent check of the same user (another CLI run, a scheduled run) then sees this
    one's snapshots and appends nothing when nothing changed (issue 11). Taken in one order, so two
    batches sharing users cannot deadlock; released with the transaction, so a crash cannot hold one."""
    for user_id, provider, table in sorted(set(keys), key=str):
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"blendify.store:{user_id}:{provider}:{table}"},
        )


def _now(conn: Connection) -> datetime:
    return conn.execute(sa.text("SELECT clock_timestamp() AT TIME ZONE 'UTC'")).scalar_one()


@dataclass
class _Prepared:
    """A check's scopes with their hashes and stored values, computed before its transaction when
    it shares one (a check whose rows cannot be converted fails before anything is written)."""

    check: Check
    scopes: list[tuple[ScopeSnapshot, str, Iterable[tuple[Any, ...]]]]


def _prepare(spec: TableSpec, check: Check, *, eager: bool) -> _Prepared:
    return _Prepared(
        check,
        [
            (
                scope,
                content_hash(spec, scope.rows),
                list(_cells(spec, scope.rows)) if eager else _cells(spec, scope.rows),
            )
            for scope in check.fetch.scopes
        ],
    )


def _store_snapshots(conn: Connection, spec: TableSpec, batch: Sequence[_Prepared]) -> list[StoreResult]:
    """Store these checks' snapshots inside the caller's transaction: per check, scopes equal to
    their latest snapshot append nothing, the rest append all their rows; one sync log row each.
    The rows go first: a check's sync log row says it finished once its rows were written (its
    `finished_at` is after their COPY), so the time spent storing them is inside the check."""
    _lock(conn, ((p.check.user_id, p.check.provider, spec.name) for p in batch))
    fetched_at = _now(conn)
    latest: dict[tuple[uuid.UUID, str], _Latest] = {}
    for provider in {p.check.provider for p in batch}:
        latest |= _latest(
            conn, [p.check.user_id for p in batch if p.check.provider == provider], provider, spec.name
        )
    stored_rows: dict[uuid.UUID, dict[str, int]] = {}
    for (user, scope_name), snapshot in latest.items():
        stored_rows.setdefault(user, {})[scope_name] = snapshot.row_count
    decided: list[
        tuple[Check, StoreResult, list[tuple[ScopeSnapshot, str]], list[tuple[ScopeSnapshot, _Latest]]]
    ] = []
    copies: list[tuple[Check, Iterable[tuple[Any, ...]]]] = []
    for prepared in batch:
        check, result = prepared.check, StoreResult()
        changed: list[tuple[ScopeSnapshot, str]] = []
        moved: list[tuple[ScopeSnapshot, _Latest]] = []
        scope_rows = stored_rows.get(check.user_id, {}) | {
            s.scope: len(s.rows) for s, _, _ in prepared.scopes
        }
        result.current_rows = sum(
            n
            for name, n in scope_rows.items()
            if check.current_scopes is None or name in check.current_scopes
        )
        for scope, digest, cells in prepared.scopes:
            previous = latest.get((check.user_id, scope.scope))
            if previous is not None and previous.content_hash == digest:
                result.scopes_unchanged.append(scope.scope)
                if previous.version != scope.version:
                    moved.append((scope, previous))
                    result.versions_recorded.append(scope.scope)
            else:
                changed.append((scope, digest))
                copies.append((check, cells))
                result.scopes_changed.append(scope.scope)
                result.rows_appended += len(scope.rows)
        result.changed = result.rows_appended > 0 or bool(result.scopes_changed)
        decided.append((check, result, changed, moved))
    if copies:
        copy_rows(
            conn, spec.name, ("user_id", "provider", "fetched_at", *spec.columns),
            ((check.user_id, check.provider, fetched_at, *values) for check, cells in copies for values in cells),
        )  # fmt: skip
    finished_at = _now(conn)
    snapshots: list[tuple[Any, ...]] = []
    for check, result, changed, moved in decided:
        fetch = check.fetch
        result.sync_log_id = sync_log.insert(
            conn, user_id=check.user_id, provider=check.provider, endpoint=fetch.endpoint,
            started_at=naive_utc(check.started_at), finished_at=finished_at, status="success",
            requests=fetch.stats.requests, rows_appended=result.rows_appended, changed=result.changed, error=None,
            details=_details(fetch, result), run_id=check.run_id,
        )  # fmt: skip
        if fetch.next_state is not None:
            poll_state.save(
                conn, user_id=check.user_id, provider=check.provider, endpoint=fetch.endpoint,
                state=fetch.next_state, sync_log_id=result.sync_log_id, updated_at=fetched_at,
            )  # fmt: skip
        for scope, digest in changed:
            snapshots.append(
                (check.user_id, check.provider, spec.name, scope.scope, fetched_at, len(scope.rows), digest,
                 scope.version, result.sync_log_id, None)
            )  # fmt: skip
        for scope, previous in moved:
            snapshots.append(
                (check.user_id, check.provider, spec.name, scope.scope, fetched_at, previous.row_count,
                 previous.content_hash, scope.version, result.sync_log_id, previous.content_fetched_at)
            )  # fmt: skip
    if snapshots:
        copy_rows(conn, "snapshots", _SNAPSHOT_COLUMNS, snapshots)
    return [result for _, result, _, _ in decided]


def _append_events(
    conn: Connection,
    spec: TableSpec,
    user_id: uuid.UUID,
    provider: str,
    fetched_at: datetime,
    rows: list[Row],
) -> int:
    """Append plays that are not stored yet; duplicates (same user, provider, played_at, track) are skipped."""
    if not rows:
        return 0
    columns = ("user_id", "provider", "fetched_at", *spec.columns)
    conn.execute(
        sa.text(f"CREATE TEMP TABLE incoming_events (LIKE {spec.name} INCLUDING DEFAULTS) ON COMMIT DROP")
    )
    copy_rows(conn, "incoming_events", columns, row_values(spec, user_id, provider, fetched_at, rows))
    listed = ", ".join(columns)
    result = conn.execute(
        sa.text(
            f"INSERT INTO {spec.name} ({listed}) SELECT {listed} FROM incoming_events "
            "ORDER BY played_at ON CONFLICT DO NOTHING"
        )
    )
    return result.rowcount


def _details(fetch: EndpointFetch, result: StoreResult) -> dict[str, Any]:
    details: dict[str, Any] = {"stats": vars(fetch.stats).copy()}
    if fetch.unchanged_scopes:
        details["not_reread"] = fetch.unchanged_scopes
    if result.scopes_changed:
        details["scopes_changed"] = result.scopes_changed
    if result.versions_recorded:
        details["versions_recorded"] = result.versions_recorded
    if fetch.notes:
        details["notes"] = fetch.notes
    return details


def store_fetch(
    engine: Engine, spec: TableSpec, *, user_id: uuid.UUID, provider: str, fetch: EndpointFetch,
    started_at: datetime, run_id: str | None = None,
) -> StoreResult:  # fmt: skip
    """Store one successful check. Every appended row shares one fetched_at; scopes equal to their
    latest snapshot append nothing (only a version row when the provider's version moved); the sync
    log row commits with them or not at all."""
    check = Check(user_id, provider, fetch, started_at, run_id)
    if spec.events:
        return _store_events(engine, spec, check)
    with engine.begin() as conn:
        return _store_snapshots(conn, spec, [_prepare(spec, check, eager=False)])[0]


def store_fetches(engine: Engine, spec: TableSpec, checks: Sequence[Check]) -> list[StoreResult | Exception]:
    """Store many checks of one table (one per user, typically): one result per check, in order, an
    exception for a check that stored nothing. Snapshot checks share one transaction when they all
    can; event checks (each compares against its own poll state) keep one transaction each."""
    if spec.events or len(checks) < 2:
        return [_alone(engine, spec, c, None) for c in checks]
    results: list[StoreResult | Exception | None] = [None] * len(checks)
    batch: list[tuple[int, _Prepared]] = []
    for index, check in enumerate(checks):
        try:
            batch.append((index, _prepare(spec, check, eager=True)))
        except Exception as exc:  # this check's rows cannot be stored; the others go on
            results[index] = BlendifyError(f"its rows could not be converted, nothing was written: {exc!r}")
    if len(batch) > 1:
        try:
            with engine.begin() as conn:
                stored = _store_snapshots(conn, spec, [p for _, p in batch])
        except Exception as exc:  # any failure: each check again, alone
            log.warning(
                "a shared write of %d %s checks failed (%s); writing each alone",
                len(batch), spec.name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )  # fmt: skip
        else:
            for (index, _), result in zip(batch, stored, strict=True):
                results[index] = result
            batch = []
    for index, prepared in batch:
        results[index] = _alone(engine, spec, prepared.check, prepared)
    return [r if r is not None else BlendifyError("not stored") for r in results]


def _alone(
    engine: Engine, spec: TableSpec, check: Check, prepared: _Prepared | None
) -> StoreResult | Exception:
    """One check in its own transaction (its rows hashed and converted inside it when not yet
    prepared); the exception instead of raising it."""
    try:
        if spec.events:
            return _store_events(engine, spec, check)
        with engine.begin() as conn:
            return _store_snapshots(conn, spec, [prepared or _prepare(spec, check, eager=False)])[0]
    except Exception as exc:
        return exc


def _store_events(engine: Engine, spec: TableSpec, check: Check) -> StoreResult:
    """An event check: plays not stored yet are appended, in one transaction with the sync log and
    the poll state (unless a concurrent check superseded this one's baseline)."""
    user_id, provider, fetch = check.user_id, check.provider, check.fetch
    result = StoreResult()
    with engine.begin() as conn:
        _lock(conn, [(user_id, provider, spec.name)])
        stored = conn.execute(
            sa.text(
                f"SELECT count(*) FROM {spec.name} WHERE user_id = :u AND provider = CAST(:p AS provider)"
            ),
            {"u": user_id, "p": provider},
        ).scalar_one()
        fetched_at = _now(conn)
        if fetch.next_state is not None:
            found = poll_state.load(conn, user_id, provider, fetch.endpoint)
            newer = found[1] if found else None
            if newer != fetch.baseline_log_id:
                # Plays inferred by diffing against a poll that a concurrent check has since
                # superseded (Apple): that check stored them already, with its own estimated times.
                # Store none and keep its state as the next baseline; anything only this poll saw
                # is still at the head of the list for the next poll.
                fetch.events = []
                fetch.next_state = None
                fetch.notes = fetch.notes | {"superseded_by_sync_log_id": newer}
        result.rows_appended = _append_events(conn, spec, user_id, provider, fetched_at, fetch.events or [])
        result.changed = result.rows_appended > 0
        result.current_rows = int(stored) + result.rows_appended
        result.sync_log_id = sync_log.insert(
            conn, user_id=user_id, provider=provider, endpoint=fetch.endpoint,
            started_at=naive_utc(check.started_at), finished_at=_now(conn), status="success",
            requests=fetch.stats.requests, rows_appended=result.rows_appended, changed=result.changed, error=None,
            details=_details(fetch, result), run_id=check.run_id,
        )  # fmt: skip
        if fetch.next_state is not None:
            poll_state.save(
                conn, user_id=user_id, provider=provider, endpoint=fetch.endpoint, state=fetch.next_state,
                sync_log_id=result.sync_log_id, updated_at=fetched_at,
            )  # fmt: skip
        if fetch.poll is not None:
            poll_schedule.record(conn, user_id, provider, fetch.endpoint, fetch.poll, fetched_at)
    return result
