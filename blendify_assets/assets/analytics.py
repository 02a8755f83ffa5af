"""Overlap analytics and blend assets: thin wrappers over ``analytics`` and ``blends_service``.

Trigger paths (one each, so nothing runs twice):

- after syncs: declarative automation on these assets only (``after_syncs``), evaluated by the
  ``analytics_automation`` sensor, which is on by default. Ingestion assets carry no automation
  condition; their sensor and schedules belong to the orchestration layer. Taste matching is two
  assets: ``analytics/taste_vectors`` (one run prepares a computation) and ``analytics/taste_matches``
  (static bucket partitions, ``eager``: once the vectors are new, each bucket is its own run, so
  the run queue runs them in parallel). ``taste_matching`` launches buckets by hand or as a backfill.
  Analytics runs queue behind syncs and backfills (``ANALYTICS_RUN_TAGS``: priority -1, at most
  ``ANALYTICS_RUN_LIMIT`` at once), so a new computation's 16 buckets never hold every run slot.
- new blends: ``new_blends_sensor`` reads ``blends`` past its cursor and adds the partitions (so
  the automation above refreshes them daily); it requests a first generation only for blends that
  have none. ``blendify blends create`` writes the blend and its first generation in one
  transaction, so a blend is never generated twice on creation.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import dagster as dg

from blendify_assets.analytics.blends import (
    BlendNotFound,
    Generation,
    blends_created_since,
    generate_blend_tracks,
    latest_generation,
)
from blendify_assets.analytics.matches import BUCKETS, DEFAULT_K, compute_bucket, prepare_taste_run
from blendify_assets.assets.resources import WarehouseResource
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.text import user_label

BLENDS = "blends"
blends = dg.DynamicPartitionsDefinition(name=BLENDS)  # key = blends.id

TASTE_MATCHES = dg.AssetKey(["analytics", "taste_matches"])
TASTE_VECTORS = dg.AssetKey(["analytics", "taste_vectors"])
BLEND_TRACKS = dg.AssetKey(["blends", "blend_tracks"])
PUBLISHED = dg.AssetKey(["blends", "published_playlists"])  # assets/publish.py
TASTE_MATCH_CRON = "0 */6 * * *"
BLEND_CRON = "0 6 * * *"
OWNERS = ["team:blendify-analytics"]
PREVIEW_TRACKS = 10
SENSOR_PAGE = 1000
SENSOR_LOOKBACK = timedelta(minutes=10)
"""A blend committed late (created_at is its transaction's start) is still seen: the sensor looks
back this far past its cursor and skips blends that already have a partition."""


def after_syncs(cron: str) -> dg.AutomationCondition:
    """Run once per cron tick, and only if some sync appended since the last run and none is running;
    a missing asset (or blend) does not wait for the tick: the first syncs of a new deployment (or
    the demo) fill it within a minute.

    Not ``on_cron``: it waits for *every* upstream asset to update, and a deployment without Apple
    Music users never updates the Apple assets. Not bare ``eager``: it would recompute after every
    recently-played poll, and a never-synced user partition (``any_deps_missing``) would block it.
    """
    return (
        (
            dg.AutomationCondition.cron_tick_passed(cron).since_last_handled()  # type: ignore[misc]  # Dagster annotates its self as AutomationCondition[AssetKey | AssetCheckKey]
            | dg.AutomationCondition.missing()
        )
        & dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"after syncs: when missing, else at most once per '{cron}'")


def _deps(ingestion_keys: Sequence[dg.AssetKey]) -> list[dg.AssetDep]:
    """Every provider endpoint, all of its user partitions."""
    return [dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in ingestion_keys]


ANALYTICS_QUEUE_TAG = "blendify/queue"
ANALYTICS_QUEUE = "analytics"
ANALYTICS_RUN_LIMIT = 2
"""Runs tagged ``blendify/queue=analytics`` that the run queue starts at once (the instance's
``tag_concurrency_limits``, orchestration/instance.py): 16 bucket runs never take every run slot."""
ANALYTICS_RUN_TAGS = {"dagster/priority": "-1", ANALYTICS_QUEUE_TAG: ANALYTICS_QUEUE}
"""Tags of every analytics run (automation, ``taste_matching``): queued syncs and backfills go first
(the QueuedRunCoordinator dequeues by ``dagster/priority``, highest first, FIFO within one), and at
most ``ANALYTICS_RUN_LIMIT`` of them run at once, so the other run slots stay free for syncs."""

TASTE_BUCKETS = dg.StaticPartitionsDefinition([f"{b:02d}" for b in range(BUCKETS)])
"""Buckets of users (a hash of the user id): each bucket of the taste matches is its own run."""


def _taste_vectors(ingestion_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=TASTE_VECTORS,
        group_name="analytics",
        deps=_deps(ingestion_keys),
        automation_condition=after_syncs(TASTE_MATCH_CRON),
        kinds={"postgres", "python"},
        owners=OWNERS,
        tags={"blendify/layer": "analytics"},
        metadata={"dagster/table_name": "public.taste_vectors"},
        description=(
            "A taste-match computation prepared: recordings clustered across providers once, every user's "
            "taste vector stored (taste_vectors), users read a page at a time. Its buckets follow as "
            "analytics/taste_matches partitions."
        ),
    )
    def taste_vectors(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Start a computation: its run row, identity clusters and vectors, in one transaction."""
        run = prepare_taste_run(warehouse.engine, k=DEFAULT_K, buckets=BUCKETS, dagster_run_id=context.run_id)
        return dg.MaterializeResult(
            metadata={
                "run_id": dg.MetadataValue.int(run.run_id),
                "computed_at": dg.MetadataValue.text(run.computed_at.isoformat()),
                "users": dg.MetadataValue.int(run.users),
                "dagster/row_count": dg.MetadataValue.int(run.users),
                "items": dg.MetadataValue.int(run.items),
                "clusters_stored": dg.MetadataValue.int(run.clusters_stored),
                "buckets": dg.MetadataValue.int(run.buckets),
                "seconds": dg.MetadataValue.json(dict(run.seconds)),
            }
        )

    return taste_vectors


def _taste_matches() -> dg.AssetsDefinition:
    @dg.asset(
        key=TASTE_MATCHES,
        group_name="analytics",
        deps=[TASTE_VECTORS],
        partitions_def=TASTE_BUCKETS,
        # No backfill policy: Dagster's default is a run per partition, so buckets run in parallel
        # (and `backfill_policy` on `@asset` prints a BetaWarning in every command's output).
        automation_condition=dg.AutomationCondition.eager(),
        kinds={"postgres", "python"},
        owners=OWNERS,
        tags={"blendify/layer": "analytics"},
        metadata={"dagster/table_name": "public.user_taste_matches"},
        description=(
            f"Each user's {DEFAULT_K} most similar users (sparse top-k against everyone) with shared tracks, "
            "artists, genres and the 0-100 taste match, for one bucket of users of the newest prepared "
            "computation; appended to user_taste_matches. Readers (latest_user_taste_matches) see a "
            "computation once all its buckets are in."
        ),
    )
    def taste_matches(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """One bucket's users: their best matches, explained and appended with the bucket's row."""
        run = compute_bucket(warehouse.engine, int(context.partition_key), dagster_run_id=context.run_id)
        if not run.seconds:
            context.log.info(f"bucket {context.partition_key} of computation {run.run_id} is already in")
        return dg.MaterializeResult(
            metadata={
                "run_id": dg.MetadataValue.int(run.run_id),
                "users": dg.MetadataValue.int(run.users),
                "candidate_pairs": dg.MetadataValue.int(run.candidate_pairs),
                "pairs": dg.MetadataValue.int(run.pairs),
                "tastes_loaded": dg.MetadataValue.int(run.tastes_loaded),
                "rows_appended": dg.MetadataValue.int(run.rows),
                "dagster/row_count": dg.MetadataValue.int(run.rows),
                "computation_complete": dg.MetadataValue.bool(run.complete),
                "seconds": dg.MetadataValue.json(dict(run.seconds)),
            }
        )

    return taste_matches


def _blend_tracks(ingestion_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="blend_tracks",
        specs=[
            dg.AssetSpec(
                BLEND_TRACKS,
                group_name="blends",
                deps=_deps(ingestion_keys),
                skippable=True,  # reported per blend, for the blends that generated
                automation_condition=after_syncs(BLEND_CRON),
                kinds={"postgres", "python"},
                owners=OWNERS,
                tags={"blendify/layer": "blends"},
                metadata={"dagster/table_name": "public.blend_tracks"},
                description="One generation of a blend's tracks (blend_tracks, latest: latest_blend_tracks).",
            )
        ],
        partitions_def=blends,
        backfill_policy=dg.BackfillPolicy.multi_run(100),
    )
    def blend_tracks(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetMaterialization]:
        """Generate each blend of the run; a deleted or broken blend is logged, the others go on."""
        failed = {}
        for blend_id in context.partition_keys:
            try:
                result = generate_blend_tracks(warehouse.engine, blend_id)
            except BlendNotFound:
                context.log.warning(f"blend {blend_id} no longer exists; skipped")
                continue
            except BlendifyError as exc:
                context.log.warning(str(exc))
                failed[blend_id] = str(exc)
                continue
            if result.created_at is None:  # nothing to pick from yet: nothing written, still missing
                context.log.info(f"blend {blend_id}: no tracks generated ({result.note})")
                continue
            shown = latest_generation(warehouse.engine, blend_id)
            yield dg.AssetMaterialization(
                asset_key=BLEND_TRACKS,
                partition=blend_id,
                metadata={
                    **_blend_metadata(shown),
                    "algorithm": result.algorithm,
                    "tracks": dg.MetadataValue.int(result.tracks),
                    "dagster/row_count": dg.MetadataValue.int(len(shown.tracks)),
                    "shared": dg.MetadataValue.int(result.shared),
                    "discovery": dg.MetadataValue.int(result.discovery),
                    "cross_provider": dg.MetadataValue.int(result.cross_provider),
                    "generation": dg.MetadataValue.text(result.created_at.isoformat()),
                    **({"note": dg.MetadataValue.text(result.note)} if result.note else {}),
                },
            )
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} blend(s) could not be generated",
                metadata={"failed": dg.MetadataValue.json(failed)},
                allow_retries=False,
            )

    return blend_tracks


def _cell(text: object) -> str:
    return " ".join(str(text).replace("|", "\\|").split())


def _blend_metadata(shown: Generation) -> dict[str, dg.MetadataValue]:
    """What an operator wants on the blend's page: its name, its members (display name and short
    id, never an email) and a Markdown preview of its first tracks."""
    people = {
        str(m["user_id"]): user_label(m["user_id"], None if m["label"] == m["email"] else str(m["label"]))
        for m in shown.members
    }
    lines = ["| # | track | artist | from |", "|---|---|---|---|"]
    lines += [
        f"| {t['position']} | {_cell(t['track_name'])} | {_cell(t['artist_name'])} | "
        f"{_cell(people.get(str(t['source_user_id']), user_label(t['source_user_id'], None)))} |"
        for t in shown.tracks[:PREVIEW_TRACKS]
    ]
    return {
        "blend": dg.MetadataValue.text(str(shown.blend["name"])),
        "members": dg.MetadataValue.text(", ".join(people.values())),
        "preview": dg.MetadataValue.md("\n".join(lines) if shown.tracks else "_no tracks yet_"),
    }


blend_generation_job = dg.define_asset_job(
    "blend_generation",
    selection=dg.AssetSelection.assets(BLEND_TRACKS),
    partitions_def=blends,
    description="Generate blends now (the new-blends sensor uses it for a blend's first generation).",
)


taste_matching_job = dg.define_asset_job(
    "taste_matching",
    selection=dg.AssetSelection.assets(TASTE_MATCHES),
    partitions_def=TASTE_BUCKETS,
    tags=ANALYTICS_RUN_TAGS,
    description="Match one bucket of users of the newest prepared computation (a backfill of all buckets "
    "runs them in parallel).",
)


@dg.sensor(
    job=blend_generation_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New blends: add their partitions; request a first generation for those without one.",
)
def new_blends_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    """Cursor = the newest blends.created_at seen; a short lookback catches late commits.

    A blend created with its first generation (``blendify blends create``) only gets its
    partition; one created bare (``create_blend``) also gets a run, so each is generated once.
    """
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    rows = blends_created_since(warehouse.engine, since, SENSOR_LOOKBACK, SENSOR_PAGE)
    if not rows:
        return dg.SkipReason("no blends yet")
    new = [
        (bid, generated)
        for bid, _, generated in rows
        if not context.instance.has_dynamic_partition(BLENDS, bid)
    ]
    newest = max(at for _, at, _ in rows)
    cursor = max(since, newest).isoformat() if since else newest.isoformat()
    if not new:
        return dg.SensorResult(cursor=cursor, skip_reason=dg.SkipReason("no new blends"))
    to_generate = [bid for bid, generated in new if not generated]
    return dg.SensorResult(
        dynamic_partitions_requests=[blends.build_add_request([bid for bid, _ in new])],
        run_requests=[
            dg.RunRequest(run_key=f"blend-{bid}", partition_key=bid, tags={"blendify/trigger": "new_blend"})
            for bid in to_generate
        ],
        cursor=cursor,
        skip_reason=None if to_generate else dg.SkipReason("new blends already generated at creation"),
    )


analytics_automation = dg.AutomationConditionSensorDefinition(
    "analytics_automation",
    target=dg.AssetSelection.assets(TASTE_VECTORS, TASTE_MATCHES, BLEND_TRACKS, PUBLISHED),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    run_tags=ANALYTICS_RUN_TAGS,
    description="Refreshes taste matches (a computation after syncs, then each of its buckets as a run) and "
    "blends after syncs, and publishes each new generation (their automation conditions).",
)


def analytics_definitions(ingestion_keys: Sequence[dg.AssetKey]) -> dg.Definitions:
    """Taste matches and blends, downstream of these ingestion assets, with their sensors."""
    return dg.Definitions(
        assets=[_taste_vectors(ingestion_keys), _taste_matches(), _blend_tracks(ingestion_keys)],
        jobs=[blend_generation_job, taste_matching_job],
        sensors=[new_blends_sensor, analytics_automation],
    )
