"""Every failure a user can act on is one line on stderr with exit 1 (usage errors exit 2): bad
input, bad settings and failed syncs alike, through the real `blendify` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.demo.world import simulator_env, simulator_values, write_simulator_env_file
from blendify_assets.providers.registry import PROVIDERS

Run = Callable[..., subprocess.CompletedProcess]


def blendify(env: dict[str, str]) -> Run:
    def run(
        *args: str, stdin: bytes | str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        full = {
            k: v for k, v in os.environ.items() if not k.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))
        }
        data = stdin.encode() if isinstance(stdin, str) else stdin
        done = subprocess.run(
            [sys.executable, "-m", "blendify_assets", *args], env=full | env, input=data,
            capture_output=True, timeout=timeout,
        )  # fmt: skip
        return subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    return run


def one_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(sql)).scalar_one()
    engine.dispose()
    return n


@pytest.fixture
def run(blendify_env) -> Run:
    return blendify(dict(blendify_env))


@pytest.fixture
def alice(run: Run) -> str:
    assert run("users", "add", "alice@example.com").returncode == 0
    assert run("users", "add", "bob@example.com").returncode == 0
    return "alice@example.com"


# --- bad input ------------------------------------------------------------------------------------------


def test_non_utf8_standard_input_is_refused_in_one_line(run: Run, alice: str, blendify_env) -> None:
    line = one_line(run("connections", "add", "--user", alice, "--provider", "spotify", "--tokens-json", "-",
                        stdin=b'{"access_token": "caf\xe9"}'))  # fmt: skip
    assert "UTF-8" in line
    line = one_line(
        run("users", "add", "carol@example.com", "--password-stdin", stdin=b"p\xe4ssw\xf6rd-long\n")
    )
    assert "UTF-8" in line
    url = blendify_env["BLENDIFY_DATABASE_URL"]
    assert count(url, "SELECT count(*) FROM provider_connections") == 0
    assert count(url, "SELECT count(*) FROM users") == 2


@pytest.mark.parametrize("expires_in", ["1e300", "99999999999999", "4000000000"])
def test_absurd_expires_in_is_refused_in_one_line(run: Run, alice: str, expires_in: str) -> None:
    stdin = f'{{"access_token": "AT-secret", "expires_in": {expires_in}}}'
    line = one_line(run("connections", "add", "--user", alice, "--provider", "spotify", "--tokens-json", "-",
                        stdin=stdin))  # fmt: skip
    assert "expires_in" in line and "AT-secret" not in line


@pytest.mark.parametrize("weights", ["1e200,1", "1e-320,1", "1,0.0000001", "inf,1"])
def test_out_of_range_weights_are_refused_in_one_line(
    run: Run, alice: str, weights: str, blendify_env
) -> None:
    line = one_line(run("blends", "create", "W", "--users", "alice@example.com,bob@example.com",
                        "--algorithm", "weighted", "--weights", weights))  # fmt: skip
    assert "weight" in line
    assert count(blendify_env["BLENDIFY_DATABASE_URL"], "SELECT count(*) FROM blends") == 0


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_bad_simulator_port_is_a_usage_error(run: Run, port: str) -> None:
    result = run("simulator", "serve", "--port", port, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "--port" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://blendify:hunter2pw@localhost:abc/blendify",
        "postgresql://blendify:hunter2pw@localhost:99999/blendify",
        "postgresql://blendify:hunter2pw@[::1/blendify",
    ],
)
def test_a_bad_database_url_is_refused_in_one_line(tmp_path, url: str) -> None:
    result = blendify({"BLENDIFY_HOME": str(tmp_path), "BLENDIFY_DATABASE_URL": url})("users", "list")
    line = one_line(result)
    assert "BLENDIFY_DATABASE_URL" in line and "hunter2pw" not in result.stderr + result.stdout


# --- sync -----------------------------------------------------------------------------------------------


@pytest.fixture
def spotify_user(simulator, sim_env) -> tuple[Run, str]:
    run = blendify(dict(sim_env) | {"SPOTIFY_CLIENT_ID": "blendify-test"})
    uid = simulator.world.spotify_users[0].uid
    email = simulator.world.user(uid).email
    assert run("users", "add", email).returncode == 0
    tokens = json.dumps(simulator.spotify.issue_tokens(uid))
    added = run(
        "connections", "add", "--user", email, "--provider", "spotify", "--tokens-json", "-", stdin=tokens
    )
    assert added.returncode == 0, added.stderr
    return run, email


def test_a_failed_sync_prints_its_table_and_one_line(spotify_user, simulator) -> None:
    run, email = spotify_user
    simulator.faults.add("/me/top/tracks", "malformed_items")
    result = run("sync", "--user", email, "--endpoint", "top_tracks")
    line = one_line(result)
    assert "1 endpoint check(s) failed" in line
    assert "could be read" in result.stdout  # the table says why


def test_a_spent_quota_says_the_provider_is_paused_and_until_when(spotify_user, simulator) -> None:
    run, email = spotify_user
    simulator.faults.add("/me/top/tracks", "quota_exceeded", retry_after=7200)
    line = one_line(run("sync", "--user", email, "--endpoint", "top_tracks"))
    assert "spotify is paused until" in line
    assert "QUOTA_EXCEEDED" in line and "failed" not in line


@pytest.mark.slow
def test_a_sync_whose_retry_succeeded_exits_0(spotify_user, simulator, sim_env) -> None:
    """Five 503s outlast the client's tries; Dagster retries the step and the second try succeeds."""
    run, email = spotify_user
    fault = simulator.faults.add("/me/albums", "http_503", count=5)
    result = run("sync", "--user", email, "--endpoint", "saved_albums")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.count("success") == 1 and "failed" not in result.stdout
    assert fault.hits == 5
    tries = count(
        sim_env["BLENDIFY_DATABASE_URL"], "SELECT count(*) FROM sync_log WHERE endpoint = 'saved_albums'"
    )
    assert tries == 2  # the failed first try stays in the log; the summary reports the outcome


def test_missing_provider_settings_stop_sync_before_it_starts(run: Run, alice: str, blendify_env) -> None:
    added = run("connections", "add", "--user", alice, "--provider", "apple", "--tokens-json", "-",
                stdin=json.dumps({"access_token": "music-user-token"}))  # fmt: skip
    assert added.returncode == 0, added.stderr
    line = one_line(run("sync", "--user", alice, "--provider", "apple"))
    assert "APPLE_MUSIC_TEAM_ID" in line
    assert "simulator" in line  # no credentials at all: say how to try the local simulator
    assert count(blendify_env["BLENDIFY_DATABASE_URL"], "SELECT count(*) FROM sync_log") == 0

    spotify = run("connections", "add", "--user", alice, "--provider", "spotify", "--tokens-json", "-",
                  stdin=json.dumps({"access_token": "AT"}))  # fmt: skip
    assert spotify.returncode == 0
    line = one_line(run("sync", "--user", alice, "--provider", "spotify"))
    assert "SPOTIFY_CLIENT_ID" in line and "simulator" in line


def test_the_simulator_settings_file_lets_another_terminal_sync(simulator, blendify_env, tmp_path) -> None:
    """What the missing-credentials line suggests works: `dev --demo` writes the file, a shell loads it."""
    settings = WarehouseSettings.from_env()
    values = simulator_values(simulator, settings.home, PROVIDERS)
    env_file = write_simulator_env_file(settings, simulator_env(values, PROVIDERS))
    run = blendify(dict(blendify_env))  # no SPOTIFY_* / APPLE_MUSIC_* of its own
    uid = simulator.world.spotify_users[0].uid
    email = simulator.world.user(uid).email
    assert run("users", "add", email).returncode == 0
    tokens = json.dumps(simulator.spotify.issue_tokens(uid))
    assert run("connections", "add", "--user", email, "--provider", "spotify", "--tokens-json", "-",
               stdin=tokens).returncode == 0  # fmt: skip
    script = f'set -a; . "{env_file}"; set +a; exec "{sys.executable}" -m blendify_assets sync --user {email} --endpoint top_tracks'
    full = {
        k: v for k, v in os.environ.items() if not k.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))
    }
    done = subprocess.run(
        ["bash", "-c", script], env=full | blendify_env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert "success" in done.stdout
