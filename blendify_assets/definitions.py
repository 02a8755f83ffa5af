"""The one Definitions object of the `blendify` code location."""

import dagster as dg

from .assets.analytics import analytics_definitions
from .assets.ingestion import ingestion_assets
from .assets.resources import BlendifyResource
from .orchestration.automation import orchestration_definitions
from .orchestration.jobs import sync_jobs

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[asset for assets in ingestion_assets().values() for asset in assets],
        jobs=list(sync_jobs().values()),
        resources={"blendify": BlendifyResource()},
    ),
    analytics_definitions(),
    orchestration_definitions(),
)
