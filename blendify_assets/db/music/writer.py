"""Writing one endpoint check: snapshots by COPY, change detection by hash, the sync log — in one
transaction, so a dropped connection or a crash leaves nothing half-written behind.

A scope whose content is unchanged appends nothing, unless the provider's version of it moved (a
renamed playlist: new snapshot_id, same tracks). Then a snapshots row records the new version and
points at the rows already stored (`content_fetched_at`), so the next check compares against the
version the provider now reports and does not re-read the scope again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from blendify_assets.core.fetch import EndpointFetch, Row, ScopeSnapshot
from blendify_assets.core.time import naive_utc
from blendify_assets.db import poll_state, sync_log
from blendify_assets.db.copy import copy_rows
from blendify_assets.db.music.tables import TableSpec


@dataclass
class StoreResult:
    rows_appended: int = 0
    changed: bool = False
    scopes_changed: list[str] = field(default_factory=list)
    scopes_unchanged: list[str] = field(default_factory=list)
    versions_recorded: list[str] = field(default_factory=list)  # content unchanged, provider version moved
    sync_log_id: int | None = None


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _cell(column: str, value: Any, json_columns: frozenset[str]) -> Any:
    if value is None:
        return None
    if column in json_columns:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
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
    text = "\x1e".join("\x1f".join(_stable(row.get(c)) for c in columns) for row in rows)
    return hashlib.sha256(text.encode()).hexdigest()


def row_values(spec: TableSpec, user_id: uuid.UUID, provider: str, fetched_at: datetime, rows: Iterable[Row]):
    json_columns = spec.json_columns
    for row in rows:
        yield (user_id, provider, fetched_at, *(_cell(c, row.get(c), json_columns) for c in spec.columns))


@dataclass(frozen=True)
class _Latest:
    """The latest snapshot of one scope: what it holds and where its rows are."""

    content_hash: str
    version: str | None
    row_count: int
    content_fetched_at: datetime


def _latest(conn: Connection, user_id: uuid.UUID, provider: str, table: str) -> dict[str, _Latest]:
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT ON (scope) scope, content_hash, version, row_count, "
            "coalesce(content_fetched_at, fetched_at) FROM snapshots "
            "WHERE user_id = :u AND provider = CAST(:p AS provider) AND table_name = :t "
            "ORDER BY scope, fetched_at DESC"
        ),
        {"u": user_id, "p": provider, "t": table},
    )
    return {scope: _Latest(digest, version, count, at) for scope, digest, version, count, at in rows}


def _insert_snapshot(conn: Connection, **values: Any) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO snapshots (user_id, provider, table_name, scope, fetched_at, row_count, content_hash, "
            "version, sync_log_id, content_fetched_at) "
            "VALUES (:u, CAST(:p AS provider), :t, :s, :f, :n, :h, :v, :l, :c)"
        ),
        {"c": None} | values,
    )


def _append_scope(
    conn: Connection, spec: TableSpec, user_id: uuid.UUID, provider: str, fetched_at: datetime,
    scope: ScopeSnapshot, digest: str, sync_log_id: int,
) -> None:  # fmt: skip
    copy_rows(
        conn, spec.name, ("user_id", "provider", "fetched_at", *spec.columns),
        row_values(spec, user_id, provider, fetched_at, scope.rows),
    )  # fmt: skip
    _insert_snapshot(
        conn, u=user_id, p=provider, t=spec.name, s=scope.scope, f=fetched_at, n=len(scope.rows), h=digest,
        v=scope.version, l=sync_log_id,
    )  # fmt: skip


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
    result = StoreResult()
    with engine.begin() as conn:
        # One writer at a time per (user, provider, table), from reading the latest hashes to the
        # commit: a concurrent check of the same user (another CLI run, a scheduled run) then sees
        # this one's snapshots and appends nothing when nothing changed (issue 11). The lock ends
        # with the transaction, so a crash cannot leave it held.
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"blendify.store:{user_id}:{provider}:{spec.name}"},
        )
        fetched_at = conn.execute(sa.text("SELECT clock_timestamp() AT TIME ZONE 'UTC'")).scalar_one()
        changed_scopes: list[tuple[ScopeSnapshot, str]] = []
        moved_versions: list[tuple[ScopeSnapshot, _Latest]] = []
        if spec.events and fetch.next_state is not None:
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
        if spec.events:
            result.rows_appended = _append_events(
                conn, spec, user_id, provider, fetched_at, fetch.events or []
            )
        else:
            latest = _latest(conn, user_id, provider, spec.name)
            for scope in fetch.scopes:
                digest = content_hash(spec, scope.rows)
                previous = latest.get(scope.scope)
                if previous is not None and previous.content_hash == digest:
                    result.scopes_unchanged.append(scope.scope)
                    if previous.version != scope.version:
                        moved_versions.append((scope, previous))
                        result.versions_recorded.append(scope.scope)
                else:
                    changed_scopes.append((scope, digest))
                    result.scopes_changed.append(scope.scope)
                    result.rows_appended += len(scope.rows)
        result.changed = result.rows_appended > 0 or bool(result.scopes_changed)
        result.sync_log_id = sync_log.insert(
            conn, user_id=user_id, provider=provider, endpoint=fetch.endpoint, started_at=naive_utc(started_at),
            finished_at=fetched_at, status="success", requests=fetch.stats.requests,
            rows_appended=result.rows_appended, changed=result.changed, error=None,
            details=_details(fetch, result), run_id=run_id,
        )  # fmt: skip
        if fetch.next_state is not None:
            poll_state.save(
                conn, user_id=user_id, provider=provider, endpoint=fetch.endpoint, state=fetch.next_state,
                sync_log_id=result.sync_log_id, updated_at=fetched_at,
            )  # fmt: skip
        for scope, digest in changed_scopes:
            _append_scope(conn, spec, user_id, provider, fetched_at, scope, digest, result.sync_log_id)
        for scope, previous in moved_versions:
            _insert_snapshot(
                conn, u=user_id, p=provider, t=spec.name, s=scope.scope, f=fetched_at, n=previous.row_count,
                h=previous.content_hash, v=scope.version, l=result.sync_log_id, c=previous.content_fetched_at,
            )  # fmt: skip
    return result
