"""Every first-time step on a fresh home is safe when several processes take it at once (issue 11,
item 8): starting the embedded server and creating its databases, migrating, generating the local
key, and setting the Dagster pool limits."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine
from blendify_assets.security.vault import Vault, read_local_keys
from tests.fixtures.cli import run_blendify

embedded_only = pytest.mark.skipif(
    bool(os.environ.get("BLENDIFY_DATABASE_URL")), reason="the suite runs against an external server"
)


def _blendify(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("BLENDIFY_")} | env
    return subprocess.Popen(
        [sys.executable, "-m", "blendify_assets", *args], env=full, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _all_at_once(commands: list[list[str]], env: dict[str, str]) -> list[tuple[int, str]]:
    processes = [_blendify(args, env) for args in commands]
    return [(p.wait(240), p.communicate()[1]) for p in processes]


@embedded_only
@pytest.mark.slow
def test_six_db_upgrades_at_once_on_a_fresh_home(embedded_home: Path) -> None:
    env = {"BLENDIFY_HOME": str(embedded_home)}
    results = _all_at_once([["db", "upgrade"]] * 6, env)
    assert [code for code, _ in results] == [0] * 6, [err[-600:] for _, err in results]
    status = run_blendify(["db", "status"], env)
    assert status.returncode == 0 and f"{len(migrations.discover())} applied, 0 pending" in status.stdout


@embedded_only
@pytest.mark.slow
def test_three_first_syncs_at_once_set_the_pool_limits_once(embedded_home: Path, simulator) -> None:
    """Three users' first `blendify sync` at once: one Dagster database, its tables, the pools."""
    env = {"BLENDIFY_HOME": str(embedded_home), **simulator.env(), "SPOTIFY_CLIENT_ID": "blendify-test"}
    assert run_blendify(["db", "upgrade"], env).returncode == 0
    emails = []
    for sim_user in simulator.world.spotify_users[:3]:
        assert run_blendify(["users", "add", sim_user.email], env).returncode == 0
        tokens = json.dumps(simulator.spotify.issue_tokens(sim_user.uid))
        added = run_blendify(
            ["connections", "add", "--user", sim_user.email, "--provider", "spotify", "--tokens-json", "-"],
            env, stdin=tokens,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        emails.append(sim_user.email)
    results = _all_at_once(
        [["sync", "--user", e, "--provider", "spotify", "--endpoint", "top_tracks"] for e in emails], env
    )
    assert [code for code, _ in results] == [0, 0, 0], [err[-2000:] for _, err in results]
    script = (
        "import json; from blendify_assets.orchestration.runner import dagster_instance\n"
        "from blendify_assets.core.settings import WarehouseSettings\n"
        "from blendify_assets.providers.registry import PROVIDERS\n"
        "instance = dagster_instance(WarehouseSettings.from_env(), PROVIDERS)\n"
        "print(json.dumps({p: instance.event_log_storage.get_concurrency_info(p).slot_count "
        "for p in ('spotify_api', 'apple_music_api')}))\n"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith("BLENDIFY_")} | env
    slots = subprocess.run(
        [sys.executable, "-c", script], env=full, capture_output=True, text=True, timeout=120
    )
    assert json.loads(slots.stdout.strip().splitlines()[-1]) == {"spotify_api": 4, "apple_music_api": 4}


def _encrypt_on_first_use(home: str, secret: str, barrier) -> str:
    """One process's first command: build the vault (generating the local key if there is none)
    and encrypt a token with it, all processes released at the same moment."""
    from blendify_assets.security.vault import vault_from_settings

    settings = WarehouseSettings.from_env({"BLENDIFY_HOME": home})
    barrier.wait()
    return vault_from_settings(settings).encrypt(secret)


@pytest.mark.slow
def test_processes_generating_the_local_key_at_once_agree_on_it(tmp_path: Path) -> None:
    """Every token encrypted by a first command decrypts with the key file left behind."""
    context = multiprocessing.get_context("spawn")
    processes, rounds = 6, 8
    with context.Pool(processes) as pool:
        for round_ in range(rounds):
            home = tmp_path / f"home-{round_}"
            barrier = context.Manager().Barrier(processes)
            secrets = [f"token-{round_}-{i}" for i in range(processes)]
            encrypted = pool.starmap(_encrypt_on_first_use, [(str(home), s, barrier) for s in secrets])
            keys = read_local_keys(home / "encryption.key")
            assert len(keys) == 1
            assert [Vault(keys).decrypt(token) for token in encrypted] == secrets, f"round {round_}"
            assert oct((home / "encryption.key").stat().st_mode & 0o777) == "0o600"
            temporary = [p.name for p in home.iterdir() if p.name.startswith(".encryption.key.")]
            assert set(temporary) <= {".encryption.key.lock"}  # no half-written key left behind


def _ensure_at_the_barrier(url: str, barrier) -> None:
    from blendify_assets.db.engine import ensure_database

    barrier.wait()
    ensure_database(url)


def test_processes_creating_a_missing_database_at_once_all_succeed(server_url: str) -> None:
    """Dagster's database on an external server, or a new warehouse: created once, nobody crashes."""
    name = f"t_race_{uuid.uuid4().hex[:10]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    processes = 6
    try:
        with context.Pool(processes) as pool, context.Manager() as manager:
            barrier = manager.Barrier(processes)
            pool.starmap(_ensure_at_the_barrier, [(url, barrier)] * processes)
    finally:
        admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            created = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :d"), {"d": name}
            ).scalar()
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    assert created == 1
