"""`blendify demo`: the whole pipeline headless in one process, with progress and a summary.

Embedded Postgres + simulator + N connected users, synced through Dagster in batched in-process
runs (the same Postgres-backed instance `blendify dev` shows, so the runs appear in the UI), then
blends. Safe to run again on the same BLENDIFY_HOME: users are reused, connections re-authorised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.engine import Engine

from blendify_assets.analytics.blends import create_and_generate, latest_generation
from blendify_assets.analytics.matches import compute_taste_matches
from blendify_assets.db import sync_log
from blendify_assets.db.music.reads import row_counts
from blendify_assets.orchestration.demo_world import DemoUser, connect_users, patched_environ, simulator_env
from blendify_assets.simulator import Simulator, SimulatorConfig

DEMO_SEED = 7
BLEND_ALGORITHMS = ("balanced", "weighted", "discovery")


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
    preview: list[tuple] = field(default_factory=list)
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


def _sync(
    engine: Engine, settings, users: Sequence[DemoUser], report: DemoReport, progress: Progress
) -> None:
    from blendify_assets.definitions import defs
    from blendify_assets.ingest.registry import providers
    from blendify_assets.orchestration.runner import dagster_instance, run_sync_in_process

    available = providers()
    instance = dagster_instance(settings)
    for provider in ("spotify", "apple"):
        user_ids = [u.user_id for u in users if provider in u.providers]
        if provider not in available:
            report.not_synced[provider] = "provider not available in this build"
            continue
        if not user_ids:
            continue
        checks = len(user_ids) * len(available[provider].endpoints)
        task = progress.add_task(f"syncing {provider} ({len(user_ids)} users)", total=checks)
        since = sync_log.max_id(engine)
        stop = _watch_sync_log(engine, provider, since, lambda n, t=task: progress.update(t, completed=n))
        try:
            results = run_sync_in_process(instance, defs, provider, user_ids, batch_size=50)
        finally:
            stop.set()
        report.run_ids += [r.run_id for r in results]
        ok = sync_log.users_ok_since(engine, provider, since)
        progress.update(task, completed=checks)
        report.synced[provider] = (ok, len(user_ids))


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


def _count_rows(engine: Engine, report: DemoReport) -> None:
    report.rows = row_counts(engine) | {"sync_log": sync_log.count(engine)}


def run_demo(
    users: int, console: Console, seed: int = DEMO_SEED, profile_mix: str | None = None
) -> DemoReport:
    from blendify_assets.core.settings import load_settings
    from blendify_assets.db import migrations
    from blendify_assets.db.engine import get_engine, get_owner_engine
    from blendify_assets.security.vault import vault_from_settings

    started = time.perf_counter()
    report = DemoReport()
    settings = load_settings()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting PostgreSQL and applying migrations", total=None)
        migrations.upgrade(get_owner_engine(settings))
        engine = get_engine(settings)
        progress.update(task, total=1, completed=1)
        task = progress.add_task(f"starting the simulator ({users} users)", total=None)
        config = SimulatorConfig(users=users, seed=seed, profile_mix=profile_mix)
        with Simulator.running(config) as sim, patched_environ(simulator_env(settings, sim)):
            progress.update(task, total=1, completed=1)
            task = progress.add_task("connecting users", total=None)
            report.users = connect_users(engine, vault_from_settings(settings), sim)
            progress.update(task, total=1, completed=1)
            _sync(engine, settings, report.users, report, progress)
        _overlap(engine, report, progress)
        _blends(engine, report.users, report, progress)
        _count_rows(engine, report)
    report.seconds = time.perf_counter() - started
    return report
