"""The root command: it lists every command without importing any, keeps each one's short help, and
a command loads only what it needs (`blendify --help` and `users list` start fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from blendify_assets.cli import COMMANDS, main

HEAVY = (
    "sqlalchemy",
    "psycopg",
    "pandas",
    "numpy",
    "rapidfuzz",
    "dagster",
    "rich",
    "httpx",
    "starlette",
    "uvicorn",
)


def _python(code: str, env: dict[str, str] | None = None, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_help_imports_no_command_and_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "from blendify_assets.cli import main\n"
        "main(['--help'], standalone_mode=False)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(HEAVY)!r} "
        "or m.startswith('blendify_assets.commands'))))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert "sync" in done.stdout and "Materialise the user's partitions now" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_each_commands_short_help_is_its_own() -> None:
    """`--help` prints the help kept in cli.COMMANDS; it must not drift from the command's."""
    context = click.Context(main)
    for name, (_, short) in COMMANDS.items():
        command = main.get_command(context, name)
        assert command is not None and command.get_short_help_str(limit=1000) == short, name


def test_users_list_imports_no_analytics_dagster_or_simulator(blendify_env) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "blendify_assets", "users", "list"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert imported & {"pandas", "numpy", "rapidfuzz", "dagster", "starlette", "uvicorn"} == set()
    assert "sqlalchemy" in imported  # the check sees real imports


def test_a_missing_optional_extra_is_named_in_one_line() -> None:
    """Without the [web] extra, `blendify web` says which extra to install (and `dev` still runs:
    it starts the web app only when it can)."""
    code = (
        "import sys; sys.modules['fastapi'] = None\n"  # as if the [web] extra were not installed
        "from blendify_assets.cli import main\n"
        "main(['web', '--port', '8000'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: `blendify web` needs the optional web dependencies: pip install 'blendify[web]'"
    )
    dev = subprocess.run(
        [sys.executable, "-c", code.replace("'web', '--port', '8000'", "'dev', '--help'")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dev.returncode == 0 and "--web-port" in dev.stdout
