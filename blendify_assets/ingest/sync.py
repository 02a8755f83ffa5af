"""Sync a provider's endpoints for many users at once: fetch, compare, append, log. No Dagster here.

A `StepSync` is one Dagster step's work: it reads its users' connection rows once (one query) and
keeps one token source per user for every endpoint the step runs (playlists, then their tracks).
Users run concurrently (bounded); the provider's HTTP client bounds requests. One user's failure is
logged and reported, never raised: the others go on. Finished checks are written together
(`_BatchWriter`: many users' small snapshots in one transaction, each check still all or nothing),
while the next users fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.text import user_label
from blendify_assets.db import connections, provider_budget
from blendify_assets.db.connections import DatabaseTokenSource
from blendify_assets.db.music.state import load_state
from blendify_assets.db.music.tables import TABLES, TableSpec
from blendify_assets.db.music.writer import Check, StoreResult, store_fetches
from blendify_assets.db.sync_log import record_failure
from blendify_assets.ingest.budget import pause_for_quota
from blendify_assets.providers.checks import drop_duplicate_items, run_checks
from blendify_assets.providers.errors import NeedsReauth, ProviderError, QuotaExceeded
from blendify_assets.providers.http import HttpClient, tally_requests
from blendify_assets.providers.spec import Endpoint, ProviderSpec
from blendify_assets.security.vault import Vault

log = logging.getLogger(__name__)


@dataclass
class UserSync:
    """The outcome of one (user, endpoint) check."""

    user_id: str
    provider: str
    endpoint: str
    status: str  # success | failed | needs_reauth | skipped | deferred (paused or out of budget: not tried)
    label: str = ""  # how operators see the user: display name and short id (core.text.user_label)
    rows_appended: int = 0
    current_rows: int | None = None  # rows in the user's current state of the table once stored
    changed: bool = False
    error: str | None = None
    retryable: bool = True
    stats: FetchStats = field(default_factory=FetchStats)
    seconds: float = 0.0
    not_reread: int = 0
    problems: dict[str, str | None] = field(default_factory=dict)  # check name -> None (passed) or why not


class _BatchWriter:
    """Writes one endpoint's finished checks in batches (`store_fetches`): a batch goes when no user
    is still fetching, when it reaches `max_checks` checks or `max_rows` rows, or `linger` seconds
    after its first check, whichever comes first. Writes run in a worker thread, so other users
    fetch meanwhile; each check's outcome (a result, or the exception that stored nothing of it)
    goes back to its own user."""

    def __init__(
        self,
        engine: Engine,
        table: TableSpec,
        *,
        max_checks: int = 64,
        max_rows: int = 20_000,
        linger: float = 0.25,
    ) -> None:
        self.engine, self.table = engine, table
        self.max_checks, self.max_rows, self.linger = max_checks, max_rows, linger
        self.fetching = 0  # users inside their fetch, who may still hand a check in
        self._pending: list[tuple[Check, asyncio.Future[StoreResult | BaseException]]] = []
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def submit(self, check: Check) -> asyncio.Future[StoreResult | BaseException]:
        """Hand in a fetching user's check (it stops counting as fetching); await the future."""
        future: asyncio.Future[StoreResult | BaseException] = asyncio.get_running_loop().create_future()
        self._pending.append((check, future))
        self._rows += sum(len(s.rows) for s in check.fetch.scopes) + len(check.fetch.events or [])
        self.fetching -= 1
        self.maybe_flush()
        if self._pending and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self.flush)
        return future

    def gave_up(self) -> None:
        """A fetching user failed: it hands nothing in."""
        self.fetching -= 1
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if self._pending and (
            self.fetching <= 0 or len(self._pending) >= self.max_checks or self._rows >= self.max_rows
        ):
            self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._rows = self._pending, [], 0
        if batch:
            task = asyncio.ensure_future(self._write(batch))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[tuple[Check, asyncio.Future[StoreResult | BaseException]]]) -> None:
        try:
            results: list[StoreResult | BaseException] = list(
                await asyncio.to_thread(store_fetches, self.engine, self.table, [c for c, _ in batch])
            )
        except BaseException as exc:  # the thread could not run; nothing was written
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class StepSync:
    """One step's syncs of `spec` for `user_ids`: connection rows read once, here."""

    def __init__(
        self,
        engine: Engine,
        vault: Vault,
        spec: ProviderSpec[Any],
        settings: Any,
        user_ids: Sequence[str],
        *,
        run_id: str | None = None,
        user_concurrency: int = 16,
        write_linger: float = 0.25,
        budget: int | None = None,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.settings = settings  # the provider's settings (spec.settings)
        self.run_id = run_id
        self.user_concurrency = user_concurrency
        self.write_linger = write_linger  # how long a finished check may wait to share a write
        self.budget = (
            budget  # requests per budget window: a re-sync stops when it is spent (ingest/budget.py)
        )
        self.stopped: str | None = None  # why the rest of the step makes no requests (a pause, the budget)
        self._spent = 0  # requests spent in the window when the endpoint started, plus this step's since
        self.rows = connections.for_sync(engine, spec.name, user_ids)
        self.sources = {user: DatabaseTokenSource(engine, vault, row) for user, row in self.rows.items()}
        self._provider_user_ids = {user: row.provider_user_id for user, row in self.rows.items()}
        self.labels = {
            user: self.rows[user].label if user in self.rows else user_label(user, None) for user in user_ids
        }

    def run(self, endpoint: Endpoint, user_ids: Sequence[str]) -> list[UserSync]:
        """Check `endpoint` for every user; one outcome per user, in the order given."""
        return asyncio.run(self._run(endpoint, user_ids))

    async def _run(self, endpoint: Endpoint, user_ids: Sequence[str]) -> list[UserSync]:
        pause = await asyncio.to_thread(provider_budget.paused, self.engine, self.spec.name)
        if pause is not None:
            self.stopped = pause.describe()
        if self.budget is not None:
            self._spent = await asyncio.to_thread(provider_budget.spent, self.engine, self.spec.name)
        http = self.spec.http(self.settings)
        semaphore = asyncio.Semaphore(self.user_concurrency)
        writer = _BatchWriter(self.engine, TABLES[endpoint.table], linger=self.write_linger)
        outcomes: list[UserSync] = []
        try:
            outcomes = list(
                await asyncio.gather(*(self._one(endpoint, u, http, semaphore, writer) for u in user_ids))
            )
            return outcomes
        finally:
            await http.aclose()
            spent = sum(o.stats.requests for o in outcomes)
            await asyncio.to_thread(provider_budget.spend, self.engine, self.spec.name, spent)

    def _stop(self, why: str) -> None:
        """No further checks start in this step: users not yet fetching are deferred. Checks in
        flight finish or fail on their own (after a spent quota, at their next request; they are
        never cut short, so a rotated refresh token on the wire is never lost) and store whole."""
        self.stopped = self.stopped or why

    def _out_of_budget(self) -> bool:
        if self.budget is not None and self._spent >= self.budget:
            self._stop(f"the {self.spec.name} request budget ({self.budget} a day) is spent")
        return self.stopped is not None

    async def _one(
        self,
        endpoint: Endpoint,
        user_id: str,
        http: HttpClient,
        semaphore: asyncio.Semaphore,
        writer: _BatchWriter,
    ) -> UserSync:
        name, table = self.spec.name, TABLES[endpoint.table]
        outcome = UserSync(
            user_id, name, endpoint.name, "success", self.labels.get(user_id) or user_label(user_id, None)
        )
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        uid = uuid.UUID(user_id)

        def deferred() -> UserSync:
            outcome.status, outcome.error, outcome.retryable = "deferred", self.stopped, True
            outcome.stats.requests = tally.requests
            return outcome

        async def fail(status: str, message: str, retryable: bool) -> UserSync:
            outcome.status, outcome.error, outcome.retryable = status, message, retryable
            outcome.stats.requests = tally.requests  # the fetch raised, so its own stats never came back
            await asyncio.to_thread(
                record_failure, self.engine, user_id=uid, provider=name, endpoint=endpoint.name,
                started_at=started_at, status=status, error=message, stats=outcome.stats, run_id=self.run_id,
            )  # fmt: skip
            return outcome

        # Counts this check's requests in its own task context (other users' checks count theirs).
        with tally_requests() as tally:
            try:
                async with semaphore:  # fetching; the write is awaited outside, so others fetch meanwhile
                    if self._out_of_budget():
                        return deferred()
                    writer.fetching += 1
                    handed_in = None
                    try:
                        row = self.rows.get(user_id)
                        if row is None:
                            return await fail("skipped", f"user has no {name} connection", False)
                        if row.status != "active":
                            why = f": {row.status_reason}" if row.status_reason else ""
                            return await fail(
                                "needs_reauth", f"the {name} connection needs re-authorisation{why}", False
                            )
                        tokens = self.sources[user_id]
                        state = await asyncio.to_thread(
                            load_state, self.engine, table, user_id=uid, provider=name, endpoint=endpoint.name
                        )
                        state.provider_user_id = self._provider_user_ids.get(user_id)
                        try:
                            async with self.spec.session(self.settings, http, tokens) as client:
                                fetch = await endpoint.fetch(client, state)
                        finally:
                            self._spent += tally.requests
                        drop_duplicate_items(endpoint, fetch)
                        fetch.baseline_log_id = state.poll_state_log_id
                        if fetch.provider_user_id and fetch.provider_user_id != state.provider_user_id:
                            await asyncio.to_thread(tokens.set_provider_user_id, fetch.provider_user_id)
                            self._provider_user_ids[user_id] = fetch.provider_user_id
                        current = (
                            frozenset(ref.playlist_id for ref in state.playlists)
                            if table.name == "user_playlist_tracks"
                            else None
                        )  # a playlist's tracks are current while the playlist is (latest_user_playlist_tracks)
                        handed_in = writer.submit(Check(uid, name, fetch, started_at, self.run_id, current))
                    finally:
                        if handed_in is None:
                            writer.gave_up()
                stored = await handed_in
                if isinstance(stored, BaseException):
                    raise stored
                outcome.rows_appended, outcome.changed = stored.rows_appended, stored.changed
                outcome.current_rows = stored.current_rows
                outcome.stats, outcome.not_reread = fetch.stats, len(fetch.unchanged_scopes)
                outcome.problems = run_checks(endpoint, fetch)
                return outcome
            except NeedsReauth as exc:
                return await fail("needs_reauth", str(exc), False)
            except QuotaExceeded as exc:  # the provider's quota, not this user's data: pause everyone
                self._stop(f"the {name} quota is spent")  # at once: nobody starts while the pause is stored
                pause = await asyncio.to_thread(pause_for_quota, self.engine, name, exc)
                self.stopped = pause.describe()
                log.info("%s: %s; the rest of the step waits", outcome.label, pause.describe())
                return deferred()
            except (ProviderError, BlendifyError) as exc:
                return await fail("failed", str(exc), getattr(exc, "retryable", True))
            except sa.exc.DBAPIError as exc:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                return await fail("failed", f"database error, nothing was written: {reason}", True)
            except Exception as exc:  # a bug for one user must not stop the others
                log.exception("unexpected error syncing %s %s for user %s", name, endpoint.name, user_id)
                return await fail("failed", f"unexpected {type(exc).__name__}: {exc}", True)
            finally:
                outcome.seconds = time.perf_counter() - clock


def validate_specs(specs: Sequence[ProviderSpec[Any]]) -> None:
    """Refuse declarations the warehouse cannot hold, at load time rather than mid-sync: names and
    groups unique, every table known, an event endpoint exactly where the table is an event log,
    `after` naming an earlier endpoint, check names unique per endpoint."""
    problems: list[str] = []
    for attribute in ("name", "group"):
        values = [getattr(s, attribute) for s in specs]
        problems += [
            f"two providers share the {attribute} {v!r}" for v in sorted(set(values)) if values.count(v) > 1
        ]
    for spec in specs:
        seen: list[str] = []
        for endpoint in spec.endpoints:
            where = f"{spec.name} endpoint {endpoint.name!r}"
            if endpoint.name in seen:
                problems.append(f"{where} is declared twice")
            table = TABLES.get(endpoint.table)
            if table is None:
                problems.append(f"{where}: no music table {endpoint.table!r}")
            elif (endpoint.scope == "events") != table.events:
                problems.append(f"{where}: scope {endpoint.scope!r} does not fit the table {table.name}")
            if endpoint.after is not None and endpoint.after not in seen:
                problems.append(f"{where}: 'after' must name an earlier endpoint, not {endpoint.after!r}")
            checks = [c.name for c in endpoint.checks]
            if len(set(checks)) != len(checks):
                problems.append(f"{where}: a check is declared twice")
            seen.append(endpoint.name)
    if problems:
        raise BlendifyError("provider declarations: " + "; ".join(problems))
