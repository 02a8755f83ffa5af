"""The published playlists asset: each generation of a blend, in each member's own service.

Downstream of `blends/blend_tracks`, partitioned by blend; materialised after each generation
(declarative automation, `eager`: once `blend_tracks` of the blend was materialised, by the
`analytics_automation` sensor; a first generation made by `blendify blends create` outside Dagster
is published at the blend's next generation, or at once by `blendify blends publish`). A thin wrapper over `analytics.publish`; its metadata per member: service,
playlist link, tracks published, matched by each method, unmatched with reasons. Never a token.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from blendify_assets.analytics.blends import BlendNotFound
from blendify_assets.analytics.publish import PUBLISHABLE, MemberReport, publish_blend
from blendify_assets.assets.analytics import BLEND_TRACKS, PUBLISHED, blends
from blendify_assets.assets.resources import ProviderResource, WarehouseResource
from blendify_assets.providers.spec import ProviderSpec


class _Settings(Mapping[str, Any]):
    """Each provider's settings, built only when a member of that service is published to (a
    deployment without Apple credentials still publishes to its Spotify members)."""

    def __init__(self, context: dg.AssetExecutionContext, specs: Sequence[ProviderSpec[Any]]) -> None:
        self._context, self._specs = context, {s.name: s for s in specs}

    def __getitem__(self, name: str) -> Any:
        spec = self._specs[name]
        resource: ProviderResource = getattr(self._context.resources, spec.group)
        return resource.settings(spec)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _member(m: MemberReport) -> dict[str, Any]:
    return {"member": m.label, "service": m.provider, "status": m.status, "link": m.url,
            "tracks_published": m.tracks_published, "matched": m.matched, "unmatched": m.unmatched,
            **({"detail": m.detail} if m.detail else {})}  # fmt: skip


def published_playlists_asset(specs: Sequence[ProviderSpec[Any]]) -> dg.AssetsDefinition:
    specs = [s for s in specs if s.name in PUBLISHABLE]

    @dg.multi_asset(
        name="published_playlists",
        specs=[
            dg.AssetSpec(
                PUBLISHED,
                group_name="blends",
                deps=[BLEND_TRACKS],
                skippable=True,
                automation_condition=dg.AutomationCondition.eager(),
                kinds={"postgres", "python"},
                description="The latest generation of each blend as a playlist in every member's own "
                "service (blend_playlists, blend_publications).",
            )
        ],
        partitions_def=blends,
        backfill_policy=dg.BackfillPolicy.multi_run(100),
        required_resource_keys={"warehouse", *(s.group for s in specs)},
    )
    def published_playlists(context: dg.AssetExecutionContext) -> Iterator[dg.AssetMaterialization]:
        """Publish each blend of the run; a member's failure is reported, the others still get theirs."""
        warehouse: WarehouseResource = context.resources.warehouse
        failed: dict[str, list[str]] = {}
        for blend_id in context.partition_keys:
            try:
                report = publish_blend(warehouse.engine, warehouse.vault, _Settings(context, specs), blend_id)
            except BlendNotFound:
                context.log.warning(f"blend {blend_id} no longer exists; skipped")
                continue
            members = [_member(m) for m in report.members]
            failed_here = [f"{m.label}: {m.detail}" for m in report.members if m.status == "failed"]
            if failed_here:
                failed[blend_id] = failed_here
            yield dg.AssetMaterialization(
                asset_key=PUBLISHED,
                partition=blend_id,
                metadata={
                    "generation": dg.MetadataValue.text(
                        report.generation_at.isoformat() if report.generation_at else "none"
                    ),
                    "published": dg.MetadataValue.int(
                        sum(m.status in ("published", "already_published") for m in report.members)
                    ),
                    "members": dg.MetadataValue.json(members),
                    **{
                        f"{m.label} ({m.provider})": dg.MetadataValue.url(m.url)
                        for m in report.members
                        if m.url
                    },
                },
            )
        if failed:
            raise dg.Failure(
                description=f"publishing failed for a member of {len(failed)} blend(s)",
                metadata={"failed": dg.MetadataValue.json(failed)},
            )

    return published_playlists


def publish_definitions(specs: Sequence[ProviderSpec[Any]]) -> dg.Definitions:
    return dg.Definitions(assets=[published_playlists_asset(specs)])
