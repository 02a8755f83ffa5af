"""Dagster's instance lives on Postgres, beside the warehouse, and the code location validates."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml

from blendify_assets.core.settings import load_settings
from blendify_assets.db.engine import create_engine
from blendify_assets.orchestration.instance import POOL_LIMITS, set_pool_limits, write_dagster_home


def test_instance_stores_runs_in_postgres(blendify_env) -> None:
    settings = load_settings()
    home = write_dagster_home(settings)
    assert oct((home / "dagster.yaml").stat().st_mode & 0o777) == "0o600"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        set_pool_limits(instance)
        assert (
            instance.event_log_storage.get_concurrency_info("spotify_api").slot_count
            == POOL_LIMITS["spotify_api"]
        )

        @dg.asset
        def probe() -> int:
            return 1

        result = dg.materialize([probe], instance=instance)
        assert result.success
        run_id = result.run_id
    url = sa.engine.make_url(settings.database_url).set(database="dagster")
    engine = create_engine(url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": run_id}).scalar() == 1
        )
    engine.dispose()


def test_definitions_validate_from_the_workspace(tmp_path) -> None:
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_dagster_yaml_keeps_an_external_password_in_the_environment(blendify_env, monkeypatch) -> None:
    """dagster.yaml (read by every Dagster process) references the password; it never holds it."""
    url = sa.engine.make_url(blendify_env["BLENDIFY_DATABASE_URL"]).set(password="s3cret-pw")  # trust auth
    monkeypatch.setenv("BLENDIFY_DATABASE_URL", url.render_as_string(hide_password=False))
    settings = load_settings()
    home = write_dagster_home(settings)
    text = (home / "dagster.yaml").read_text()
    assert "s3cret-pw" not in text and "env:" in text
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_runs_count() >= 0  # the storage connects with the password from the environment


def test_a_command_starting_while_another_writes_dagster_yaml_reads_a_whole_file(blendify_env) -> None:
    """Every command rewrites dagster.yaml; one reading it half-written would silently fall back to
    a private SQLite instance (its runs invisible, its pool slots outside the shared limits)."""
    settings = load_settings()
    path = write_dagster_home(settings) / "dagster.yaml"
    seen: list[object] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(yaml.safe_load(path.read_text()))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(40):
            write_dagster_home(settings)
    finally:
        done.set()
        reader.join()
    assert seen and all(isinstance(c, dict) and "storage" in c for c in seen)
