"""The one trigger path for ingestion: the connection sensor (first sync) and the re-sync schedules.

Ingestion assets carry no automation conditions, so nothing else can launch them twice.
"""

import dagster as dg

from blendify_assets.ingest.registry import providers
from blendify_assets.orchestration.jobs import sync_jobs
from blendify_assets.orchestration.schedules import build_schedules
from blendify_assets.orchestration.sensors import build_connection_sensor


def orchestration_definitions() -> dg.Definitions:
    jobs = sync_jobs()
    available = providers()
    sensor = build_connection_sensor({p: job.name for p, job in jobs.items()}, list(jobs.values()))
    schedules = build_schedules(jobs, {p: available[p].group for p in jobs})
    return dg.Definitions(sensors=[sensor], schedules=schedules)
