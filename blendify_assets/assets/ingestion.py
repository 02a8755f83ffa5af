"""One asset per (provider, endpoint), partitioned per user: "fetch this endpoint for these users,
append what changed, report counts". Each run may cover many users."""

import dagster as dg

from blendify_assets.assets.resources import BlendifyResource
from blendify_assets.ingest.checks import CHECKS
from blendify_assets.ingest.registry import Provider, providers
from blendify_assets.ingest.sync import UserSync, sync_endpoint_blocking
from blendify_assets.orchestration.cadence import freshness_policy
from blendify_assets.orchestration.partitions import USER_PARTITIONS
from blendify_assets.providers.spec import EndpointSpec

# Transient failures (5xx, timeouts, rate limits that outlasted the client's waits) retry the step;
# revoked tokens and spent quotas raise Failure(allow_retries=False) instead.
SYNC_RETRY = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def endpoint_key(provider: Provider, endpoint: str) -> dg.AssetKey:
    return dg.AssetKey([provider.group, endpoint])


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


def _check_results(key: dg.AssetKey, endpoint: str, outcomes: list[UserSync]) -> list[dg.AssetCheckResult]:
    results = []
    for check in CHECKS.get(endpoint, ()):
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


def _steps(provider: Provider) -> list[list[EndpointSpec]]:
    """Endpoints grouped into steps: an endpoint that reads another's fresh output (playlist tracks
    read the playlists just stored) shares its step, so one op runs them in order for every user."""
    steps: dict[str, list[EndpointSpec]] = {}
    for endpoint in provider.endpoints.values():
        head = endpoint.after or endpoint.name
        steps.setdefault(head, []).append(endpoint)
    return list(steps.values())


def build_endpoint_assets(provider: Provider, chain: list[EndpointSpec]) -> dg.AssetsDefinition:
    keys = {e.name: endpoint_key(provider, e.name) for e in chain}
    specs = [
        dg.AssetSpec(
            keys[e.name],
            group_name=provider.group,
            deps=[keys[e.after]] if e.after else [],
            skippable=True,  # materialisations are reported per user, for the users that succeeded
            kinds={"postgres", provider.group},
            description=f"{e.description} Table: {e.table}.",
            metadata={"table": e.table, "provider": provider.name},
            freshness_policy=freshness_policy(provider.name, e.name),  # matches its schedule
        )
        for e in chain
    ]
    check_specs = [
        dg.AssetCheckSpec(c.name, asset=keys[e.name], description=c.description)
        for e in chain
        for c in CHECKS.get(e.name, ())
    ]

    @dg.multi_asset(
        name=f"{provider.group}_{chain[0].name}",
        specs=specs,
        check_specs=check_specs,
        partitions_def=USER_PARTITIONS[provider.name],
        pool=f"{provider.group}_api",
        retry_policy=SYNC_RETRY,
        can_subset=True,
    )
    def _endpoint_assets(context: dg.AssetExecutionContext, blendify: BlendifyResource):
        users = list(context.partition_keys)
        sync_context = blendify.sync_context(context.run_id)
        failed: dict[str, UserSync] = {}
        for endpoint in chain:
            key = keys[endpoint.name]
            if key not in context.selected_asset_keys:
                continue
            todo = [u for u in users if u not in failed]
            outcomes = sync_endpoint_blocking(sync_context, provider, endpoint.name, todo)
            succeeded = [o for o in outcomes if o.status == "success"]
            for outcome in succeeded:
                yield dg.AssetMaterialization(
                    asset_key=key, partition=outcome.user_id, metadata=_metadata(outcome)
                )
            selected_checks = {c.name for c in context.selected_asset_check_keys if c.asset_key == key}
            yield from (
                r for r in _check_results(key, endpoint.name, succeeded) if r.check_name in selected_checks
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


def ingestion_assets() -> dict[str, list[dg.AssetsDefinition]]:
    """Every endpoint asset, by provider."""
    return {name: [build_endpoint_assets(p, chain) for chain in _steps(p)] for name, p in providers().items()}
