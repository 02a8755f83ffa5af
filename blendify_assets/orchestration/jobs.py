"""One asset job per provider (a job's assets must share one partitions definition)."""

import functools

import dagster as dg

from blendify_assets.ingest.registry import providers
from blendify_assets.orchestration.partitions import USER_PARTITIONS


def sync_job_name(provider: str) -> str:
    return f"{providers()[provider].group}_sync"


@functools.cache  # one object per job: the sensor and schedules target the same ones definitions.py lists
def sync_jobs() -> dict:
    return {
        name: dg.define_asset_job(
            sync_job_name(name),
            selection=dg.AssetSelection.groups(p.group),
            partitions_def=USER_PARTITIONS[name],
            description=f"Sync {p.group} endpoints for a batch of users (a partition range or set).",
            tags={"blendify/provider": name},
        )
        for name, p in providers().items()
    }
