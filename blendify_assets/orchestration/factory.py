"""The one place provider declarations become Dagster objects.

For each `ProviderSpec`: its user partitions, one asset per endpoint (a step per chain of endpoints,
with its pool, checks and freshness), its sync job, its schedules; for all of them one connection
sensor; then the analytics and blends downstream of every ingestion asset. Names come from the spec
(`spotify_users`, `spotify_sync`, `spotify_api`, `spotify_daily_resync`, ...), spelled nowhere else.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from blendify_assets.assets.analytics import analytics_definitions
from blendify_assets.assets.ingestion import build_endpoint_assets
from blendify_assets.assets.publish import publish_definitions
from blendify_assets.ingest.sync import validate_specs
from blendify_assets.orchestration.runs import USERS_PER_RUN, batch_events
from blendify_assets.orchestration.schedules import build_schedules
from blendify_assets.orchestration.sensors import build_connection_sensor
from blendify_assets.providers.spec import ProviderSpec


@dataclass(frozen=True)
class ProviderDefs:
    """Everything Dagster holds for one provider."""

    spec: ProviderSpec[Any]
    partitions: dg.DynamicPartitionsDefinition
    assets: list[dg.AssetsDefinition]
    job: UnresolvedAssetJobDefinition
    schedules: list[dg.ScheduleDefinition]


def provider_defs(spec: ProviderSpec[Any]) -> ProviderDefs:
    partitions = dg.DynamicPartitionsDefinition(name=spec.partitions_name)
    assets = [build_endpoint_assets(spec, chain, partitions, USERS_PER_RUN) for chain in spec.steps()]
    job = dg.define_asset_job(
        spec.job_name,
        selection=dg.AssetSelection.groups(spec.group),
        partitions_def=partitions,
        description=f"Sync {spec.group} endpoints for a batch of users (a partition range or set).",
        tags={"blendify/provider": spec.name},
    )
    return ProviderDefs(spec, partitions, assets, job, build_schedules(spec, job))


def build_definitions(
    specs: Sequence[ProviderSpec[Any]], resources: Mapping[str, dg.ConfigurableResource]
) -> dg.Definitions:
    """The code location for these providers, with these resources (`assets/resources.py`).

    Every job runs its steps in the run's process, including the implicit asset job behind the UI's
    Materialize button and backfills (orchestration/runs.py says why); a per-job executor would miss
    that one. Loading it lets Dagster store a step's batched asset events together
    (`runs.batch_events`)."""
    validate_specs(specs)
    batch_events()  # every process that loads the code location (a run's, a command's) stores in batches
    per = [provider_defs(spec) for spec in specs]
    ingestion_keys = [key for p in per for assets_def in p.assets for key in assets_def.keys]
    return dg.Definitions.merge(
        dg.Definitions(
            assets=[a for p in per for a in p.assets],
            jobs=[p.job for p in per],
            schedules=[s for p in per for s in p.schedules],
            sensors=[build_connection_sensor([(p.spec, p.partitions, p.job) for p in per])],
            resources=dict(resources),
            executor=dg.in_process_executor,
        ),
        analytics_definitions(ingestion_keys),
        publish_definitions(specs),
    )


def pool_limits(specs: Sequence[ProviderSpec[Any]]) -> dict[str, int]:
    """Each provider's pool and its limit, for the instance (`instance.set_pool_limits`)."""
    return {spec.pool: spec.pool_limit for spec in specs}
