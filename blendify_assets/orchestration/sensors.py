"""The connection sensor: a new or re-authorised connection gets its partition and one sync run.

It reads `provider_connections` by `change_seq` (never a full scan) with a cursor per provider, so
a provider that lands later starts from the beginning of its own rows. Sequence numbers are taken
when a transaction writes, not when it commits, so a slow transaction can commit a number below
the cursor: every tick re-reads a short window behind it and skips what it already handled (kept
in the cursor), and run keys (connection id + change_seq) let the daemon drop any repeat.

At 100,000 users a tick stays bounded by its own connections: it asks Dagster only whether these
users have partitions (`get_existing_dynamic_partitions`), adds the missing ones itself in one call
(a request left to the daemon costs it a query per key), and batches new users into ranges by the
order it adds them. Only a burst of re-authorisations reads every partition key (docs/deploy.md,
"100,000 partitions").
"""

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from blendify_assets.assets.resources import WarehouseResource
from blendify_assets.db.connections import ConnectionChange, changes_after
from blendify_assets.orchestration.budget import paused_skip
from blendify_assets.orchestration.runs import SYNC_RUN_CONFIG, USERS_PER_RUN, contiguous_batches, range_tags
from blendify_assets.providers.spec import ProviderSpec

SENSOR_NAME = "connection_sensor"
LOOKBACK = 100  # sequence numbers re-read behind the cursor (commits out of order)
PAGE = 250  # rows per query
MAX_PAGES = 8  # per provider per tick: a backlog drains in a few ticks, each well under the timeout
BURST = 3  # a tick with more new connections than this batches them into range runs


@dataclass
class ProviderCursor:
    seq: int = 0  # the highest change_seq read
    seen: set[int] = field(default_factory=set)  # handled sequence numbers inside the lookback window

    @property
    def low(self) -> int:
        return max(0, self.seq - LOOKBACK)

    def advance(self, changes: Sequence[ConnectionChange]) -> None:
        self.seen |= {c.change_seq for c in changes}
        self.seq = max([self.seq, *(c.change_seq for c in changes)])
        self.seen = {s for s in self.seen if s > self.low}


def load_cursor(raw: str | None) -> dict[str, ProviderCursor]:
    data = json.loads(raw) if raw else {}
    return {p: ProviderCursor(int(v["seq"]), {int(s) for s in v.get("seen", [])}) for p, v in data.items()}


def dump_cursor(cursors: Mapping[str, ProviderCursor]) -> str:
    return json.dumps(
        {p: {"seq": c.seq, "seen": sorted(c.seen)} for p, c in sorted(cursors.items())}, separators=(",", ":")
    )


def _tags(provider: str, extra: Mapping[str, str]) -> dict[str, str]:
    return {"blendify/trigger": SENSOR_NAME, "blendify/provider": provider, **extra}


def plan_runs(
    provider: str,
    job_name: str,
    changes: Sequence[ConnectionChange],
    new_keys: Sequence[str],
    partition_order: Callable[[], Sequence[str]],
) -> list[dg.RunRequest]:
    """One run per connection; a burst (bulk import, first deploy) becomes few range runs instead.

    `new_keys` are the users whose partitions this tick adds, in the order it adds them: appended
    together at the end of the partition order, they form contiguous ranges without reading it.
    Users who already had a partition (re-authorised) sit anywhere in it: a few get a run each, and
    only a burst of them pays for `partition_order()` (every key) to be batched into ranges."""
    if len(changes) <= BURST:
        return [_single_run(provider, job_name, c) for c in changes]
    by_user = {c.user_id: c for c in changes}
    fresh = set(new_keys)
    returning = [u for u in by_user if u not in fresh]
    batches = contiguous_batches(new_keys, new_keys, USERS_PER_RUN)
    requests = []
    if len(returning) > BURST:
        batches += contiguous_batches(partition_order(), returning, USERS_PER_RUN)
    else:
        requests = [_single_run(provider, job_name, by_user[u]) for u in returning]
    for batch in batches:
        seqs = sorted(by_user[u].change_seq for u in batch)
        requests.append(
            dg.RunRequest(
                run_key=f"{provider}-connections-{seqs[0]}-{seqs[-1]}-{len(seqs)}",
                job_name=job_name,
                run_config=SYNC_RUN_CONFIG,
                tags=_tags(provider, range_tags(batch)),
            )
        )
    return requests


def _single_run(provider: str, job_name: str, change: ConnectionChange) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=change.run_key,
        job_name=job_name,
        run_config=SYNC_RUN_CONFIG,
        partition_key=change.user_id,
        tags=_tags(provider, {"blendify/connection": change.connection_id}),
    )


def build_connection_sensor(
    providers: Sequence[
        tuple[ProviderSpec[Any], dg.DynamicPartitionsDefinition, UnresolvedAssetJobDefinition]
    ],
) -> dg.SensorDefinition:
    """One sensor for every provider: (spec, its user partitions, its sync job)."""

    @dg.sensor(
        name=SENSOR_NAME,
        jobs=[job for _, _, job in providers],
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="New or re-authorised provider connections: add the user's partition and sync "
        "every endpoint once. Reads provider_connections by change_seq.",
    )
    def connection_sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        cursors = load_cursor(context.cursor)
        engine = warehouse.engine
        run_requests: list[dg.RunRequest] = []
        skipped = 0
        paused: list[str] = []
        for spec, _partitions, job in providers:
            if paused_skip(context.log, engine, spec) is not None:  # its connections wait for the pause
                paused.append(spec.name)
                continue
            cursor = cursors.setdefault(spec.name, ProviderCursor())
            changes: list[ConnectionChange] = []
            for _ in range(MAX_PAGES):
                page = changes_after(engine, spec.name, cursor.low, cursor.seen, PAGE)
                cursor.advance(page)
                changes += page
                if len(page) < PAGE:
                    break
            active = [c for c in changes if c.status == "active"]
            skipped += len(changes) - len(active)
            if not active:
                continue
            keys = list(dict.fromkeys(c.user_id for c in active))
            # Only these keys are looked up (never the whole partition set), and the missing ones
            # are added here in one call: handed to the daemon as a request, each key would cost
            # it one query.
            known = context.instance.get_existing_dynamic_partitions(spec.partitions_name, keys)
            new_keys = [k for k in keys if k not in known]
            if new_keys:
                context.instance.add_dynamic_partitions(spec.partitions_name, new_keys)
            every_key = functools.partial(context.instance.get_dynamic_partitions, spec.partitions_name)
            run_requests += plan_runs(spec.name, job.name, active, new_keys, every_key)
        if not run_requests:
            reason = f"no new or re-authorised connections ({skipped} not active)" if skipped else None
            reason = reason or "no new or re-authorised connections"
            if paused:
                reason += f"; paused (quota exceeded): {', '.join(paused)}"
            return dg.SensorResult(skip_reason=reason, cursor=dump_cursor(cursors))
        context.log.info(f"{len(run_requests)} sync run(s) for new or re-authorised connections")
        return dg.SensorResult(run_requests=run_requests, cursor=dump_cursor(cursors))

    return connection_sensor
