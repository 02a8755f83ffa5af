"""`blendify demo`: the whole pipeline headless in one process, with progress and a summary.

Embedded Postgres + simulator + N connected users, synced through Dagster in batched in-process
runs (the same Postgres-backed instance `blendify dev` shows, so the runs appear in the UI), then
blends. Safe to run again on the same BLENDIFY_HOME: users are reused, connections re-authorised.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.engine import Engine

from blendify_assets.analytics.blends import create_and_generate, latest_generation
from blendify_assets.analytics.matches import compute_taste_matches
from blendify_assets.analytics.publish import publish_blend
from blendify_assets.assets.resources import WarehouseResource, resources_for
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import migrations, sync_log
from blendify_assets.db.engine import open_engine, open_owner_engine
from blendify_assets.db.music.reads import row_counts
from blendify_assets.demo.world import BLEND_ALGORITHMS, SIMULATED, DemoUser, connect_users, simulator_values
from blendify_assets.orchestration.factory import build_definitions
from blendify_assets.orchestration.runner import dagster_instance, run_sync_in_process
from blendify_assets.providers.spec import ProviderSpec
from blendify_assets.security.vault import vault_from_settings
from blendify_assets.simulator import Simulator, SimulatorConfig

DEMO_SEED = 7


@dataclass
class DemoReport:
    users: list[DemoUser] = field(default_factory=list)
    synced: dict[str, tuple[int, int]] = field(default_factory=dict)  # provider -> (users ok, users)
    not_synced: dict[str, str] = field(default_factory=dict)  # provider -> reason
    rows: dict[str, int] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    blends: list[tuple[str, str, int]] = field(default_factory=list)  # (id, name, tracks)
    blend_note: str | None = None
    overlap: str | None = None
    preview: list[tuple[object, ...]] = field(default_factory=list)
    published: list[tuple[object, ...]] = field(default_factory=list)  # member, service, status, tracks, link
    seconds: float = 0.0


def _watch_sync_log(
    engine: Engine, provider: str, since: int, on_count: Callable[[int], None]
) -> threading.Event:
    """Poll the sync log in the background (runs block this thread) and report endpoint checks done."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.5):
            on_count(sync_log.checks_since(engine, provider, since))

    threading.Thread(target=poll, name="demo-progress", daemon=True).start()
    return stop


def _completed(progress: Progress, task: TaskID, done: int) -> None:
    progress.update(task, completed=done)


def _sync(
    engine: Engine,
    settings: WarehouseSettings,
    defs: dg.Definitions,
    specs: Sequence[ProviderSpec[Any]],
    users: Sequence[DemoUser],
    report: DemoReport,
    progress: Progress,
) -> None:
    instance = dagster_instance(settings, specs)
    try:
        for spec in specs:
            if spec.name not in SIMULATED:
                report.not_synced[spec.name] = "the simulator does not serve it"
                continue
            user_ids = [u.user_id for u in users if spec.name in u.providers]
            if not user_ids:
                continue
            checks = len(user_ids) * len(spec.endpoints)
            task = progress.add_task(f"syncing {spec.name} ({len(user_ids)} users)", total=checks)
            since = sync_log.max_id(engine)
            stop = _watch_sync_log(engine, spec.name, since, functools.partial(_completed, progress, task))
            try:
                results = run_sync_in_process(instance, defs, spec, user_ids, batch_size=50)
            finally:
                stop.set()
            report.run_ids += [r.run_id for r in results]
            ok = sync_log.users_ok_since(engine, spec.name, since)
            progress.update(task, completed=checks)
            report.synced[spec.name] = (ok, len(user_ids))
    finally:
        instance.dispose()


def _overlap(engine: Engine, report: DemoReport, progress: Progress) -> None:
    task = progress.add_task("computing taste overlap", total=None)
    run = compute_taste_matches(engine)
    progress.update(task, total=1, completed=1)
    report.overlap = (
        f"overlap: {run.users} users, {run.pairs} matched pairs, mean best match {run.mean_top_score:.2f}"
    )


def _blends(engine: Engine, users: Sequence[DemoUser], report: DemoReport, progress: Progress) -> None:
    members = [u.email for u in users if u.providers][:4]
    if len(members) < 2:
        report.blend_note = "blends: need at least two connected users"
        return
    task = progress.add_task("building blends", total=len(BLEND_ALGORITHMS))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for algorithm in BLEND_ALGORITHMS:
        weights = [float(len(members) - i) for i in range(len(members))] if algorithm == "weighted" else None
        name = f"Demo {algorithm} blend ({stamp})"  # a second demo adds new blends beside the old ones
        # One transaction with its first generation, so `dev --demo`'s sensor does not generate it again.
        result = create_and_generate(engine, name, members, algorithm, weights=weights, size=30,
                                     description="Built by `blendify demo`", creator_email=members[0])  # fmt: skip
        report.blends.append((str(result.blend_id), name, result.tracks))
        progress.advance(task)
    first = latest_generation(engine, report.blends[0][0])
    report.preview = [
        (t["position"], t["track_name"], t["artist_name"], t["source_label"]) for t in first.tracks[:10]
    ]


def _publish(
    engine: Engine,
    settings: WarehouseSettings,
    values: Mapping[str, Mapping[str, str]],
    specs: Sequence[ProviderSpec[Any]],
    report: DemoReport,
    progress: Progress,
) -> None:
    """The first blend, published to each member's own (simulated) service."""
    if not report.blends:
        return
    task = progress.add_task("publishing the first blend", total=None)
    provider_settings = {
        s.name: s.settings.from_values(dict(values[s.name])) for s in specs if s.name in values
    }
    published = publish_blend(engine, vault_from_settings(settings), provider_settings, report.blends[0][0])
    report.published = [(m.label, m.provider or "", m.status, m.tracks_published, m.url or m.detail or "")
                        for m in published.members]  # fmt: skip
    progress.update(task, total=1, completed=1)


def _count_rows(engine: Engine, report: DemoReport) -> None:
    report.rows = row_counts(engine) | {"sync_log": sync_log.count(engine)}


def run_demo(
    users: int,
    console: Console,
    specs: Sequence[ProviderSpec[Any]],
    seed: int = DEMO_SEED,
    profile_mix: str | None = None,
) -> DemoReport:
    """Migrate, start the simulator, connect its users, sync them through Dagster, build blends,
    publish the first one to each member's own service."""
    started = time.perf_counter()
    report = DemoReport()
    settings = WarehouseSettings.from_env()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with contextlib.ExitStack() as stack, Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting PostgreSQL and applying migrations", total=None)
        owner = open_owner_engine(settings)
        stack.callback(owner.dispose)
        migrations.upgrade(owner)
        engine = open_engine(settings)
        stack.callback(engine.dispose)
        progress.update(task, total=1, completed=1)
        task = progress.add_task(f"starting the simulator ({users} users)", total=None)
        config = SimulatorConfig(users=users, seed=seed, profile_mix=profile_mix)
        with Simulator.running(config) as sim:
            # The runs get the simulator's settings as resources; the warehouse as this command's.
            values = simulator_values(sim, settings.home, specs)
            defs = build_definitions(specs, resources_for(WarehouseResource.from_env(), values, specs))
            progress.update(task, total=1, completed=1)
            task = progress.add_task("connecting users", total=None)
            report.users = connect_users(engine, vault_from_settings(settings), sim, specs)
            progress.update(task, total=1, completed=1)
            _sync(engine, settings, defs, specs, report.users, report, progress)
            _overlap(engine, report, progress)
            _blends(engine, report.users, report, progress)
            _publish(engine, settings, values, specs, report, progress)  # while the simulator serves
        _count_rows(engine, report)
    report.seconds = time.perf_counter() - started
    return report
