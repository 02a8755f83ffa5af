"""One asset per (provider, endpoint), partitioned per user: "fetch this endpoint for these users,
append what changed, report counts". Each run may cover many users. Built from a provider's
declaration by `orchestration/factory.py`."""

from datetime import timedelta
from typing import Any

import dagster as dg

from blendify_assets.assets.resources import ProviderResource, WarehouseResource
from blendify_assets.ingest.sync import StepSync, UserSync
from blendify_assets.providers.spec import Cadence, Endpoint, ProviderSpec

# Transient failures (5xx, timeouts, rate limits that outlasted the client's waits) retry the step;
# revoked tokens and spent quotas raise Failure(allow_retries=False) instead.
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


def _metadata(outcome: UserSync) -> dict[str, dg.MetadataValue]:
    stats = outcome.stats
    return {
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


def _check_results(
    key: dg.AssetKey, endpoint: Endpoint, outcomes: list[UserSync]
) -> list[dg.AssetCheckResult]:
    results = []
    for check in endpoint.checks:
        failing = {o.user_id: o.problems[check.name] for o in outcomes if o.problems.get(check.name)}
        checked = sum(1 for o in outcomes if check.name in o.problems)
        results.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=check.name,
                passed=not failing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "users_checked": checked,
                    "users_failing": len(failing),
                    "failures": dg.MetadataValue.json(dict(list(failing.items())[:20])),
                },
            )
        )
    return results


def build_endpoint_assets(
    spec: ProviderSpec[Any], chain: list[Endpoint], partitions: dg.DynamicPartitionsDefinition
) -> dg.AssetsDefinition:
    """One step: the endpoints of `chain` (one, or playlists then their tracks), each its own asset."""
    keys = {e.name: dg.AssetKey(spec.asset_key_path(e.name)) for e in chain}
    specs = [
        dg.AssetSpec(
            keys[e.name],
            group_name=spec.group,
            deps=[keys[e.after]] if e.after else [],
            skippable=True,  # materialisations are reported per user, for the users that succeeded
            kinds={"postgres", spec.group},
            description=f"{e.description} Table: {e.table}.",
            metadata={"table": e.table, "provider": spec.name},
            freshness_policy=freshness_policy(e.cadence),  # matches its schedule
        )
        for e in chain
    ]
    check_specs = [
        dg.AssetCheckSpec(c.name, asset=keys[e.name], description=c.description)
        for e in chain
        for c in e.checks
    ]

    @dg.multi_asset(
        name=f"{spec.group}_{chain[0].name}",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions,
        pool=spec.pool,
        retry_policy=SYNC_RETRY,
        can_subset=True,
        required_resource_keys={"warehouse", spec.group},
    )
    def _endpoint_assets(context: dg.AssetExecutionContext):
        """Fetch these endpoints for these users, append what changed, report counts."""
        users = list(context.partition_keys)
        warehouse: WarehouseResource = context.resources.warehouse
        provider: ProviderResource = getattr(context.resources, spec.group)
        step = StepSync(
            warehouse.engine, warehouse.vault, spec, provider.settings(spec), users,
            run_id=context.run_id, user_concurrency=warehouse.user_concurrency,
        )  # fmt: skip
        failed: dict[str, UserSync] = {}
        for endpoint in chain:
            key = keys[endpoint.name]
            if key not in context.selected_asset_keys:
                continue
            outcomes = step.run(endpoint, [u for u in users if u not in failed])
            succeeded = [o for o in outcomes if o.status == "success"]
            for outcome in succeeded:
                yield dg.AssetMaterialization(
                    asset_key=key, partition=outcome.user_id, metadata=_metadata(outcome)
                )
            selected_checks = {c.name for c in context.selected_asset_check_keys if c.asset_key == key}
            yield from (
                r for r in _check_results(key, endpoint, succeeded) if r.check_name in selected_checks
            )
            for outcome in outcomes:
                if outcome.status != "success":
                    context.log.warning(
                        f"{endpoint.name} for user {outcome.user_id}: {outcome.status}: {outcome.error}"
                    )
                    failed[outcome.user_id] = outcome
        if failed:
            first = next(iter(failed.values()))
            raise dg.Failure(
                description=f"{len(failed)} of {len(users)} user(s) failed; first: {first.endpoint}: {first.error}",
                metadata={
                    "failed_users": dg.MetadataValue.json({u: o.error for u, o in list(failed.items())[:50]})
                },
                allow_retries=any(o.retryable for o in failed.values()),
            )

    return _endpoint_assets
