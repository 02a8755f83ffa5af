"""Sync one endpoint for many users at once: fetch, compare, append, log — no Dagster here.

Users run concurrently (bounded); the provider's HTTP client bounds requests. One user's failure
is logged and reported, never raised: the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.settings import Settings
from blendify_assets.db import connections
from blendify_assets.db.connections import DatabaseTokenSource
from blendify_assets.db.music.state import load_state
from blendify_assets.db.music.tables import TABLES
from blendify_assets.db.music.writer import store_fetch
from blendify_assets.db.sync_log import record_failure
from blendify_assets.ingest.checks import drop_duplicate_items, run_checks
from blendify_assets.ingest.registry import Provider
from blendify_assets.providers.errors import NeedsReauth, ProviderError
from blendify_assets.providers.http import tally_requests
from blendify_assets.security.vault import Vault

log = logging.getLogger(__name__)


@dataclass
class UserSync:
    """The outcome of one (user, endpoint) check."""

    user_id: str
    provider: str
    endpoint: str
    status: str  # success | failed | needs_reauth | skipped
    rows_appended: int = 0
    changed: bool = False
    error: str | None = None
    retryable: bool = True
    stats: FetchStats = field(default_factory=FetchStats)
    seconds: float = 0.0
    not_reread: int = 0
    problems: dict[str, str | None] = field(default_factory=dict)  # check name -> None (passed) or why not


@dataclass
class SyncContext:
    settings: Settings
    engine: Engine
    vault: Vault
    run_id: str | None = None
    user_concurrency: int = 16


async def _sync_one(
    ctx: SyncContext, provider: Provider, endpoint: str, user_id: str, http, semaphore: asyncio.Semaphore
) -> UserSync:
    spec = provider.endpoints[endpoint]
    table = TABLES[spec.table]
    outcome = UserSync(user_id, provider.name, endpoint, "success")
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    uid = uuid.UUID(user_id)

    async def fail(status: str, message: str, retryable: bool) -> UserSync:
        outcome.status, outcome.error, outcome.retryable = status, message, retryable
        outcome.stats.requests = tally.requests  # the fetch raised, so its own stats never came back
        await asyncio.to_thread(
            record_failure, ctx.engine, user_id=uid, provider=provider.name, endpoint=endpoint,
            started_at=started_at, status=status, error=message, stats=outcome.stats, run_id=ctx.run_id,
        )  # fmt: skip
        return outcome

    # Counts this check's requests in its own task context (other users' checks count theirs).
    with tally_requests() as tally:
        async with semaphore:
            try:
                row = (
                    await asyncio.to_thread(connections.for_sync, ctx.engine, provider.name, [user_id])
                ).get(user_id)
                if row is None:
                    return await fail("skipped", f"user has no {provider.name} connection", False)
                if row.status != "active":
                    why = f": {row.status_reason}" if row.status_reason else ""
                    return await fail(
                        "needs_reauth", f"the {provider.name} connection needs re-authorisation{why}", False
                    )
                tokens = DatabaseTokenSource(ctx.engine, ctx.vault, row.id)
                state = await asyncio.to_thread(
                    load_state, ctx.engine, table, user_id=uid, provider=provider.name, endpoint=endpoint
                )
                state.provider_user_id = row.provider_user_id
                async with provider.client(ctx.settings, http, tokens) as client:
                    fetch = await spec.fetch(client, state)
                drop_duplicate_items(fetch)
                fetch.baseline_log_id = state.poll_state_log_id
                if fetch.provider_user_id and fetch.provider_user_id != state.provider_user_id:
                    await asyncio.to_thread(tokens.set_provider_user_id, fetch.provider_user_id)
                stored = await asyncio.to_thread(
                    store_fetch, ctx.engine, table, user_id=uid, provider=provider.name, fetch=fetch,
                    started_at=started_at, run_id=ctx.run_id,
                )  # fmt: skip
                outcome.rows_appended, outcome.changed = stored.rows_appended, stored.changed
                outcome.stats, outcome.not_reread = fetch.stats, len(fetch.unchanged_scopes)
                outcome.problems = run_checks(fetch)
                return outcome
            except NeedsReauth as exc:
                return await fail("needs_reauth", str(exc), False)
            except (ProviderError, BlendifyError) as exc:
                return await fail("failed", str(exc), getattr(exc, "retryable", True))
            except sa.exc.DBAPIError as exc:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                return await fail("failed", f"database error, nothing was written: {reason}", True)
            except Exception as exc:  # a bug for one user must not stop the others
                log.exception("unexpected error syncing %s %s for user %s", provider.name, endpoint, user_id)
                return await fail("failed", f"unexpected {type(exc).__name__}: {exc}", True)
            finally:
                outcome.seconds = time.perf_counter() - clock


async def sync_endpoint(
    ctx: SyncContext, provider: Provider, endpoint: str, user_ids: Sequence[str]
) -> list[UserSync]:
    """Check `endpoint` for every user; returns one outcome per user, in the order given."""
    if endpoint not in provider.endpoints:
        raise BlendifyError(
            f"unknown {provider.name} endpoint {endpoint!r}: choose one of {', '.join(provider.endpoints)}"
        )
    http = provider.open_http(ctx.settings)
    semaphore = asyncio.Semaphore(ctx.user_concurrency)
    try:
        return list(
            await asyncio.gather(*(_sync_one(ctx, provider, endpoint, u, http, semaphore) for u in user_ids))
        )
    finally:
        await http.aclose()


def sync_endpoint_blocking(
    ctx: SyncContext, provider: Provider, endpoint: str, user_ids: Sequence[str]
) -> list[UserSync]:
    return asyncio.run(sync_endpoint(ctx, provider, endpoint, user_ids))
