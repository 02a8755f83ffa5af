"""What `blendify dev` shows of `dagster dev`'s console: services' warnings once, no run events, no
stack traces (issue 12: 3,173 lines in 33 minutes, the local-key warning 32 times)."""

from __future__ import annotations

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.orchestration.dev_server import child_env, console_lines
from blendify_assets.orchestration.runs import EVENT_BATCH_SIZE

RUN = "2026-11-30 21:12:07 +0000 - dagster - {level} - spotify_sync - ca4a0259-a844-4c74-a71b-20549681225e - 4991 - spotify_saved_albums - {what}"
KEY = (
    "BLENDIFY_ENCRYPTION_KEY is not set: tokens are encrypted with the local key in /tmp/h/encryption.key. "
    "Fine for a laptop; production must set BLENDIFY_ENCRYPTION_KEY."
)
# Lines as `dagster dev` 1.13 prints them (captured from benchmarks/ui_backfill.py's run).
CAPTURED = [
    KEY,
    "/work/.venv/lib/python3.11/site-packages/click/core.py:911: SupersessionWarning: Function `dev_command` is superseded",
    "  return callback(*args, **kwargs)",
    "2026-11-30 21:05:01 +0000 - dagster - INFO - Launching Dagster services...",
    "2026-11-30 21:05:09 +0000 - dagster.daemon.SensorDaemon - INFO - Checking for new runs for sensor: connection_sensor",
    RUN.format(level="DEBUG", what="STEP_START - Started execution of step."),
    RUN.format(level="WARNING", what="top_tracks: skipped 1 user(s) without a working Spotify connection"),
    RUN.format(level="ERROR", what='STEP_FAILURE - Execution of step "spotify_saved_albums" failed.'),
    "dagster._core.definitions.events.Failure: 3 of 3 user(s) failed",
    "",
    "Stack Trace:",
    '  File "/work/.venv/lib/python3.11/site-packages/dagster/_core/execution/plan/execute_plan.py", line 243',
    KEY,
    "2026-11-30 21:06:00 +0000 - dagster.daemon.BackfillDaemon - WARNING - Backfill abc123 is taking longer than expected",
    "2026-11-30 21:07:00 +0000 - dagster.daemon.BackfillDaemon - WARNING - Backfill abc123 is taking longer than expected",
    KEY,
]


def test_the_console_shows_each_service_warning_once_and_no_run_events() -> None:
    shown = list(console_lines(line + "\n" for line in CAPTURED))
    assert shown == [
        KEY,
        "warning: dagster.daemon.BackfillDaemon: Backfill abc123 is taking longer than expected",
    ]


def test_dagster_devs_processes_store_asset_events_in_batches(tmp_path, monkeypatch) -> None:
    """The run workers `dagster dev` starts inherit the batch size (a step's materialisations in one
    write); a deployment's own setting wins."""
    settings = WarehouseSettings.from_env({"BLENDIFY_HOME": str(tmp_path)})
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    assert child_env(settings, "postgresql://x/y", {})["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")
    assert child_env(settings, "postgresql://x/y", {})["DAGSTER_EVENT_BATCH_SIZE"] == "0"


def test_dagster_dev_children_plan_runs_per_range(blendify_env) -> None:
    """The daemon and webserver create the sensor's, schedules' and backfills' runs: one planned
    event per asset for a run's range, not one per user (docs/deploy.md, "100,000 partitions")."""
    env = child_env(WarehouseSettings.from_env(), "postgresql://x@127.0.0.1/x", {})
    assert env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "1"
