"""The one Definitions object of the `blendify` code location."""

import dagster as dg

from blendify_assets.assets.analytics import analytics_definitions
from blendify_assets.assets.ingestion import ingestion_assets
from blendify_assets.assets.resources import BlendifyResource
from blendify_assets.orchestration.automation import orchestration_definitions
from blendify_assets.orchestration.jobs import sync_jobs

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[asset for assets in ingestion_assets().values() for asset in assets],
        jobs=list(sync_jobs().values()),
        resources={"blendify": BlendifyResource()},
    ),
    analytics_definitions(),
    orchestration_definitions(),
)
