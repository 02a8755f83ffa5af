"""`blendify dev`: the Dagster webserver and daemon on the Postgres-backed instance, as a child.

The parent owns everything the children need to stay up: the embedded PostgreSQL (it stops when
its last user exits) and, with --demo, the simulator. The child `dagster dev` runs in its own
process group so that Ctrl-C reaches the parent alone, which then stops the whole group in order:
SIGINT (dagster's clean shutdown), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

import httpx

import blendify_assets
from blendify_assets.core.settings import WarehouseSettings
from blendify_assets.orchestration.runs import PLANNED_EVENTS_ENV, batch_events

WORKSPACE = """\
load_from:
  - python_module:
      module_name: blendify_assets.definitions
      location_name: blendify
"""


def workspace_file(settings: WarehouseSettings) -> tuple[Path, Path]:
    """(workspace.yaml, working directory): the repository's when installed editable, else one
    written under the Dagster home that loads the installed package."""
    repo = Path(blendify_assets.__file__).resolve().parents[1]
    if (repo / "workspace.yaml").is_file() and (repo / "pyproject.toml").is_file():
        return repo / "workspace.yaml", repo
    path = settings.dagster_home / "workspace.yaml"
    path.write_text(WORKSPACE)
    return path, settings.dagster_home


def child_env(settings: WarehouseSettings, warehouse: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The children's environment: the instance home, the live warehouse URL (so they use the
    parent's server rather than starting their own) and anything the demo adds."""
    env = dict(os.environ)
    env.update(PLANNED_EVENTS_ENV)
    env.update(extra)
    env["DAGSTER_HOME"] = str(settings.dagster_home)
    env["BLENDIFY_HOME"] = str(settings.home)
    env["BLENDIFY_DATABASE_URL"] = warehouse
    env.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    batch_events(env)  # the run workers (and the commands they start) store asset events in batches
    return env


def start_dagster(
    settings: WarehouseSettings,
    env: Mapping[str, str],
    host: str,
    port: int,
    stdout: IO | int | None = None,
    stderr: IO | int | None = None,
    log_level: str = "info",
) -> subprocess.Popen:
    workspace, cwd = workspace_file(settings)
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    command += ["--log-level", log_level]
    return subprocess.Popen(
        command, cwd=cwd, env=dict(env), stdout=stdout, stderr=stderr, text=stdout == subprocess.PIPE,
        preexec_fn=_own_group_default_signals,
    )  # fmt: skip


# `dagster dev`'s console: "<date> <time> +0000 - <logger> - <LEVEL> - <message>". A run's events
# carry "<job> - <run id> - " after the level; they stay in the UI.
_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - (?P<logger>[\w.]+) - (?P<level>[A-Z]+) - (?P<message>.*)$"
)
_RUN_EVENT = re.compile(r"^[\w.]+ - [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} - ")
_SHOWN = frozenset({"WARNING", "ERROR", "CRITICAL"})


def console_lines(lines: Iterable[str], already_shown: Iterable[str] = ()) -> Iterable[str]:
    """What `blendify dev` shows of its children's output: each distinct warning or error of the
    webserver, daemon and code server once, on one line, and Blendify's own plain warnings (the
    local-key one) once. Run events (DEBUG to ERROR, with their stack traces) stay in the UI's run
    logs; other plain lines (tracebacks, library notices) are dropped: `blendify -v dev` shows all."""
    seen = set(already_shown)
    for raw in lines:
        line = raw.rstrip("\n")
        match = _LINE.match(line)
        if match is None:
            key = line
            if not _BLENDIFY.match(line):
                continue
        else:
            if match["level"] not in _SHOWN or _RUN_EVENT.match(match["message"]):
                continue
            key = f"{match['level'].lower()}: {match['logger']}: {match['message']}"
        if key not in seen:
            seen.add(key)
            yield key


_BLENDIFY = re.compile(r"^(BLENDIFY_[A-Z_]+ |[Bb]lendify\b)")


def relay_console(
    process: subprocess.Popen, echo: Callable[[str], None], already_shown: Iterable[str] = ()
) -> threading.Thread:
    """Read the child's merged output in a thread and pass on `console_lines` of it."""

    def pump() -> None:
        assert process.stdout is not None
        for line in console_lines(process.stdout, already_shown):
            echo(line)

    thread = threading.Thread(target=pump, name="dagster-dev-console", daemon=True)
    thread.start()
    return thread


def _own_group_default_signals() -> None:
    """In the child before exec: its own session (Ctrl-C reaches only us), and SIGINT/SIGTERM
    back to their defaults. A shell's background job inherits SIGINT ignored, and `dagster dev`
    maps SIGTERM onto SIGINT's handler, so without this it could not be stopped at all."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_group(process: subprocess.Popen, grace: float = 30.0) -> int:
    """Stop the child and everything it started (webserver, daemon, code servers, run workers):
    SIGINT to `dagster dev` (it shuts its children down in order), then SIGTERM and SIGKILL to
    whatever is left of the group."""
    steps = ((signal.SIGINT, False, grace), (signal.SIGTERM, True, 10.0), (signal.SIGKILL, True, 5.0))
    for sig, whole_group, wait in steps:
        try:
            if whole_group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(process.pid):
                return process.returncode
            time.sleep(0.2)
    process.wait(5)
    return process.returncode


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


DAEMON_HEALTH = "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"


def announce_health(
    url: str, process: subprocess.Popen, echo: Callable[[str], None], timeout: float = 240.0
) -> threading.Thread:
    """Once the webserver answers, say once whether every daemon service is healthy (the UI's
    Deployment -> Daemons page asks the same question)."""

    def watch() -> None:
        deadline, sick = time.monotonic() + timeout, ["webserver not answering"]
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(2)
            try:
                answer = httpx.post(f"{url}/graphql", json={"query": DAEMON_HEALTH}, timeout=10).json()
                statuses = answer["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
            required = [s for s in statuses if s["required"]]
            sick = [s["daemonType"] for s in required if not s["healthy"]]
            if required and not sick:
                echo(
                    f"daemon healthy: {len(required)} services (sensors, schedules, backfills, run queue, …)"
                )
                return
        if process.poll() is None:
            echo(f"daemon not healthy after {timeout:.0f} s: {', '.join(sick)} (see {url}/health)")

    thread = threading.Thread(target=watch, name="dagster-dev-health", daemon=True)
    thread.start()
    return thread


class Interrupted(Exception):
    """SIGINT or SIGTERM, raised in the main thread (also when a shell started us with SIGINT ignored)."""


def supervise(process: subprocess.Popen) -> int:
    """Wait for the child; on Ctrl-C or SIGTERM, stop its group cleanly. Returns its exit code."""

    def on_term(signum: int, frame: object) -> None:
        raise Interrupted

    previous = {sig: signal.signal(sig, on_term) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    except (KeyboardInterrupt, Interrupted):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan the children
        stop_group(process)
        return 0
    finally:
        if process.poll() is None:
            stop_group(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
