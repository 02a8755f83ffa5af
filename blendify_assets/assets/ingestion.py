"""One asset per (provider, endpoint), partitioned per user: "fetch this endpoint for these users,
append what changed, report counts". Each run may cover many users. Built from a provider's
declaration by `orchestration/factory.py`."""

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id

from blendify_assets.assets.resources import ProviderResource, WarehouseResource
from blendify_assets.db.music.reads import column_schema
from blendify_assets.ingest.budget import SYNCED_BEFORE, request_budget, select_users
from blendify_assets.ingest.sync import StepSync, UserSync
from blendify_assets.providers.spec import Cadence, Endpoint, ProviderSpec

# Transient failures (5xx, timeouts, rate limits that outlasted the client's waits) retry the step;
# spent quotas raise Failure(allow_retries=False) instead; revoked or expired connections are skipped
# with a warning check (`connection_healthy`), never retried.
SYNC_RETRY = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def freshness_policy(cadence: Cadence) -> dg.FreshnessPolicy:
    """Warn after one missed run, fail after two (a run itself takes a while at scale); read from
    the cadence the endpoint's schedule uses, so it never promises more than the schedule does."""
    slack = min(cadence.every / 3, timedelta(hours=2))  # 10 min on a 30-min poll, 2 h on the daily re-sync
    return dg.FreshnessPolicy.time_window(
        fail_window=2 * cadence.every + slack, warn_window=cadence.every + slack
    )


_SCHEMA_READS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blendify-column-schema")
"""Reads a step's column schemas beside its user checks (one short query per table)."""

OWNERS = ["team:blendify-data"]
CONNECTION_HEALTHY = "connection_healthy"
UNHEALTHY = frozenset({"needs_reauth", "skipped"})
"""Outcomes that are the user's connection, not the pipeline: the user is skipped with a warning and
an observation, and the step goes on (no retry: the connection row already says why)."""


def batched(
    context: dg.AssetExecutionContext, events: Sequence[dg.AssetMaterialization | dg.AssetObservation]
) -> Iterator[DagsterEvent]:
    """The step's per-user asset events as one batch: Dagster stores them with one INSERT and one
    index transaction (`store_event_batch`) instead of a write per user and endpoint, when
    `DAGSTER_EVENT_BATCH_SIZE` is set (orchestration/runs.py sets it; unset, each is stored alone as
    before). Still one event per user that synced: only their partitions are materialised. Dagster
    batches this way only for outputs, which cover every partition of the run, failed users' too."""
    step = context.get_step_execution_context()
    batch, last = generate_event_batch_id(), len(events) - 1
    for i, event in enumerate(events):
        where = DagsterEventBatchMetadata(batch, i == last)
        if isinstance(event, dg.AssetMaterialization):
            yield DagsterEvent.asset_materialization(step, event, where)
        else:
            yield DagsterEvent.asset_observation(step, event, where)


def _metadata(outcome: UserSync, row_count: int | None) -> dict[str, dg.MetadataValue]:
    stats = outcome.stats
    return {
        "user": dg.MetadataValue.text(outcome.label),
        **({"dagster/row_count": dg.MetadataValue.int(row_count)} if row_count is not None else {}),
        "requests": dg.MetadataValue.int(stats.requests),
        "pages": dg.MetadataValue.int(stats.pages),
        "rows_appended": dg.MetadataValue.int(outcome.rows_appended),
        "changed": dg.MetadataValue.bool(outcome.changed),
        "not_reread": dg.MetadataValue.int(outcome.not_reread),
        "skipped_items": dg.MetadataValue.int(
            stats.skipped_null + stats.skipped_malformed + stats.skipped_forbidden + stats.skipped_duplicate
        ),
        "repaired_items": dg.MetadataValue.int(stats.repaired_items),
        "rate_limit_waits": dg.MetadataValue.int(stats.rate_limit_waits),
        "rate_limit_wait_seconds": dg.MetadataValue.float(round(stats.rate_limit_wait_seconds, 3)),
        "token_refreshes": dg.MetadataValue.int(stats.token_refreshes),
        "duration_seconds": dg.MetadataValue.float(round(outcome.seconds, 3)),
    }


def step_summary(endpoint: str, outcomes: Sequence[UserSync], wall: float, cpu: float) -> str:
    """One line per endpoint and step (never one per user): how many users synced, failed or were
    skipped, the rows appended, and the wall and CPU seconds of the sync itself (this process's CPU,
    Dagster's events excluded): what `benchmarks/dagster_scale.py` splits CPU by."""
    by_status = {s: sum(o.status == s for o in outcomes) for s in ("success", "failed")}
    skipped = len(outcomes) - by_status["success"] - by_status["failed"]
    rows = sum(o.rows_appended for o in outcomes)
    return (
        f"{endpoint}: {by_status['success']} user(s) synced, {by_status['failed']} failed, {skipped} skipped; "
        f"{rows:,} rows appended; sync {wall:.2f} s wall, {cpu:.2f} s CPU"
    )


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def users_table(outcomes: list[UserSync], limit: int = 50) -> dg.MetadataValue:
    """One Markdown table of users and why: what an operator reads on a failed step or check."""
    lines = ["| user | endpoint | status | why |", "|---|---|---|---|"]
    lines += [
        f"| {_cell(o.label)} | {o.endpoint} | {o.status} | {_cell(o.error or '')} |" for o in outcomes[:limit]
    ]
    if len(outcomes) > limit:
        lines.append(f"| … and {len(outcomes) - limit} more | | | |")
    return dg.MetadataValue.md("\n".join(lines))


def _column_schema(columns: list[tuple[str, str, bool]]) -> dg.MetadataValue:
    return dg.MetadataValue.table_schema(
        dg.TableSchema(
            columns=[
                dg.TableColumn(name, kind, constraints=dg.TableColumnConstraints(nullable=nullable))
                for name, kind, nullable in columns
            ]
        )
    )


def _check_results(
    key: dg.AssetKey, endpoint: Endpoint, outcomes: list[UserSync]
) -> list[dg.AssetCheckResult]:
    """One result per declared check for the users this step checked; none when it checked nobody
    (a check that looked at nothing has not passed). Per run, not per user: Dagster 1.13 records a
    partitioned check result only for single-partition runs, so the failing users are listed."""
    results = []
    for check in endpoint.checks:
        checked = [o for o in outcomes if check.name in o.problems]
        if not checked:
            continue
        failing = [o for o in checked if o.problems[check.name]]
        results.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=check.name,
                passed=not failing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "users_checked": len(checked),
                    "users_failing": len(failing),
                    **(
                        {
                            "failures": dg.MetadataValue.md(
                                "\n".join(
                                    ["| user | finding |", "|---|---|"]
                                    + [
                                        f"| {_cell(o.label)} | {_cell(o.problems[check.name])} |"
                                        for o in failing[:50]
                                    ]
                                )
                            )
                        }
                        if failing
                        else {}
                    ),
                },
            )
        )
    return results


def _connection_check(key: dg.AssetKey, attempted: int, unhealthy: list[UserSync]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CONNECTION_HEALTHY,
        passed=not unhealthy,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(unhealthy)} of {attempted} user(s) skipped: no working connection (they need to reconnect)"
            if unhealthy
            else None
        ),
        metadata={
            "users_checked": attempted,
            "users_skipped": len(unhealthy),
            **({"skipped_users": users_table(unhealthy)} if unhealthy else {}),
        },
    )


def build_endpoint_assets(
    spec: ProviderSpec[Any],
    chain: list[Endpoint],
    partitions: dg.DynamicPartitionsDefinition,
    users_per_run: int,
) -> dg.AssetsDefinition:
    """One step: the endpoints of `chain` (one, or playlists then their tracks), each its own asset.
    A backfill (the UI's, or the automation's) runs up to `users_per_run` users a run."""
    keys = {e.name: dg.AssetKey(spec.asset_key_path(e.name)) for e in chain}
    specs = [
        dg.AssetSpec(
            keys[e.name],
            group_name=spec.group,
            deps=[keys[e.after]] if e.after else [],
            skippable=True,  # materialisations are reported per user, for the users that succeeded
            kinds={"postgres", spec.group},
            description=f"{e.description} Table: {e.table}.",
            metadata={"dagster/table_name": f"public.{e.table}", "provider": spec.name},
            owners=OWNERS,
            tags={"blendify/layer": "ingestion", "blendify/provider": spec.name, "blendify/scope": e.scope},
            freshness_policy=freshness_policy(e.cadence),  # matches its schedule
        )
        for e in chain
    ]
    check_specs = [
        *(
            dg.AssetCheckSpec(c.name, asset=keys[e.name], description=c.description)
            for e in chain
            for c in e.checks
        ),
        *(
            dg.AssetCheckSpec(
                CONNECTION_HEALTHY,
                asset=keys[e.name],
                description=f"Every user of the run has a working {spec.label} connection; the others "
                "are skipped (they need to reconnect), not failed.",
            )
            for e in chain
        ),
    ]

    @dg.multi_asset(
        name=f"{spec.group}_{chain[0].name}",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions,
        pool=spec.pool,
        retry_policy=SYNC_RETRY,
        backfill_policy=dg.BackfillPolicy.multi_run(users_per_run),
        can_subset=True,
        required_resource_keys={"warehouse", spec.group},
    )
    def _endpoint_assets(context: dg.AssetExecutionContext):
        """Fetch these endpoints for these users, append what changed, report counts."""
        users = list(context.partition_keys)
        warehouse: WarehouseResource = context.resources.warehouse
        # Read while the users sync (the materialisations carry it): not a pause before or after them.
        schemas = {e.table: _SCHEMA_READS.submit(column_schema, warehouse.engine, e.table) for e in chain}
        provider: ProviderResource = getattr(context.resources, spec.group)
        tags = context.run.tags
        settings = provider.settings(spec)
        step = StepSync(
            warehouse.engine, warehouse.vault, spec, settings, users,
            run_id=context.run_id, user_concurrency=warehouse.user_concurrency,
            budget=request_budget(settings) if SYNCED_BEFORE in tags else None,
        )  # fmt: skip
        users, later = select_users(warehouse.engine, spec, chain, users, tags, context.run_id)
        if later:
            context.log.info(f"{len(later)} user(s) of the range left alone: not due, or not active")
        failed: dict[str, UserSync] = {}
        skipped: dict[str, UserSync] = {}
        for endpoint in chain:
            key = keys[endpoint.name]
            if key not in context.selected_asset_keys:
                continue
            selected_checks = {c.name for c in context.selected_asset_check_keys if c.asset_key == key}
            attempted = [u for u in users if u not in failed and u not in skipped]
            wall, cpu = time.perf_counter(), time.process_time()
            outcomes = step.run(endpoint, attempted)
            deferred = [o for o in outcomes if o.status == "deferred"]
            if deferred:
                context.log.warning(
                    f"{endpoint.name}: {len(deferred)} user(s) left for later: {step.stopped}"
                )
            succeeded = [o for o in outcomes if o.status == "success"]
            materialized = _materializations(key, succeeded, schemas[endpoint.table])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            context.log.info(step_summary(endpoint.name, outcomes, wall, cpu))  # before Dagster stores events
            yield from batched(context, materialized)
            unhealthy = [o for o in outcomes if o.status in UNHEALTHY]
            skipped |= {o.user_id: o for o in unhealthy}
            # A batch of its own: dagster-postgres writes a batch at once only when it holds one kind.
            yield from batched(
                context,
                [
                    dg.AssetObservation(
                        asset_key=key,
                        partition=o.user_id,
                        metadata={
                            "user": dg.MetadataValue.text(o.label),
                            "connection": dg.MetadataValue.text(o.status),
                            "why": dg.MetadataValue.text(o.error or ""),
                        },
                    )
                    for o in unhealthy
                ],
            )
            if unhealthy:
                context.log.warning(
                    f"{endpoint.name}: skipped {len(unhealthy)} user(s) without a working {spec.label} "
                    f"connection (they need to reconnect): {', '.join(o.label for o in unhealthy[:10])}"
                )
            for outcome in outcomes:
                if outcome.status not in ("success", "deferred") and outcome.status not in UNHEALTHY:
                    failed[outcome.user_id] = outcome
            results = _check_results(key, endpoint, succeeded)
            if succeeded or unhealthy:  # a user whose fetch failed otherwise says nothing of the connection
                results.append(_connection_check(key, len(succeeded) + len(unhealthy), unhealthy))
            yield from (r for r in results if r.check_name in selected_checks)
        if failed:
            problems = list(failed.values())
            first = problems[0]
            raise dg.Failure(
                description=f"{len(failed)} of {len(users)} user(s) failed; first: {first.label}, "
                f"{first.endpoint}: {first.error}",
                metadata={"failed_users": users_table(problems)},
                allow_retries=any(o.retryable for o in problems),
            )

    return _endpoint_assets


def _materializations(
    key: dg.AssetKey, succeeded: list[UserSync], schema: Future[list[tuple[str, str, bool]]]
) -> list[dg.AssetMaterialization]:
    """One per user that synced, naming the user, with the rows in their current state (as the
    writer left it: `UserSync.current_rows`, no query of the latest-state views). The last of the
    step also carries the table's column schema as the database has it (once a step, not per user:
    the UI shows the latest materialisation's)."""
    if not succeeded:
        return []
    columns = {"dagster/column_schema": _column_schema(schema.result())}
    return [
        dg.AssetMaterialization(
            asset_key=key,
            partition=o.user_id,
            metadata=_metadata(o, o.current_rows) | (columns if i == len(succeeded) - 1 else {}),
        )
        for i, o in enumerate(succeeded)
    ]
