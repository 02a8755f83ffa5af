"""`blendify dev [--demo]`: the Dagster UI and daemon on the Postgres-backed instance."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import time
from contextlib import ExitStack

import click
from sqlalchemy.engine import Engine

from blendify_assets.commands._app import App, out, pass_app
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import load_settings
from blendify_assets.core.text import printable
from blendify_assets.db import migrations
from blendify_assets.db.engine import warehouse_url
from blendify_assets.orchestration.dev_server import (
    announce_health,
    child_env,
    relay_console,
    start_dagster,
    supervise,
)
from blendify_assets.orchestration.runner import dagster_instance
from blendify_assets.providers.registry import PROVIDERS, settings_types
from blendify_assets.security.vault import LOCAL_KEY_WARNING

DEV_DEMO_USERS = 6


@click.command()
@click.option("--demo", is_flag=True, help="Also run the simulator with demo users and their connections.")
@click.option(
    "--users", default=DEV_DEMO_USERS, show_default=True, type=click.IntRange(1, 500), help="Demo users."
)
@click.option(
    "--profile",
    default="light",
    show_default=True,
    type=click.Choice(["tiny", "light", "medium", "heavy"]),
    help="Library size of the demo users (light: the UI fills within a minute).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Webserver host.")
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Webserver port."
)
@click.option(
    "--web-port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The listeners' web app beside the Dagster UI (0: do not start it).",
)
@pass_app
def dev(app: App, demo: bool, users: int, profile: str, host: str, port: int, web_port: int) -> None:
    """Dagster UI + daemon on the Postgres-backed instance (sensor and schedules running), and the web app."""
    settings = app.settings.warehouse
    with out.status("starting PostgreSQL and applying migrations…"):
        engine = app.raw_engine  # starts (or attaches to) the embedded server and holds it for the children
        migrations.upgrade(app.owner_engine)
        dagster_instance(settings, PROVIDERS).dispose()  # writes the Dagster home and sets the pool limits
    extra: dict[str, str] = {}
    with ExitStack() as stack:
        if demo:
            # The simulator is an optional extra ([simulator]); `dev` alone runs without it.
            from blendify_assets.demo.world import (
                connect_users,
                request_blends,
                simulator_env,
                simulator_values,
                write_simulator_env_file,
            )
            from blendify_assets.simulator import Simulator, SimulatorConfig

            sim = stack.enter_context(
                Simulator.running(SimulatorConfig(users=users, seed=7, profile_mix=profile))
            )
            extra = simulator_env(simulator_values(sim, settings.home, PROVIDERS), PROVIDERS)
            env_file = write_simulator_env_file(settings, extra)
            stack.callback(env_file.unlink, missing_ok=True)  # its URLs die with the simulator
            connected = connect_users(engine, app.vault, sim, PROVIDERS)
            blends = request_blends(engine, connected, time.strftime("%Y-%m-%d %H:%M:%S"))
            out.print(
                f"simulator on {sim.base_url}: {len(connected)} demo users connected and {len(blends)} "
                "blends created; the sensor syncs them within a minute, then taste matches and blends follow"
            )
            out.print(f"commands in another terminal reach it after `set -a; . {env_file}; set +a`")
        if web_port:
            _start_web(app, stack, engine, extra, demo, host, web_port)
        # A process boundary: the children read their settings from their environment.
        # Run logs stay in the UI: the console gets the address, the daemon's health and each
        # distinct warning once (`-v`: everything `dagster dev` prints).
        verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
        env = child_env(settings, warehouse_url(settings), extra)
        if verbose:
            process = start_dagster(settings, env, host, port)
        else:
            process = start_dagster(settings, env, host, port, subprocess.PIPE, subprocess.STDOUT, "warning")
            # The demo's connections used the vault here, so its local-key warning was given once.
            shown = [LOCAL_KEY_WARNING.format(path=settings.local_key_file)] if demo else []
            relay_console(process, lambda line: click.echo(line, err=True), shown)
        url = f"http://{host}:{port}"
        out.print(f"Dagster UI: {url}  (Ctrl-C stops everything)")
        announce_health(url, process, lambda line: click.echo(line, err=True))
        code = supervise(process)
    if code not in (0, None):
        raise BlendifyError(f"dagster dev exited with status {code} (`blendify -v dev` shows its output)")


def _start_web(
    app: App, stack: ExitStack, engine: Engine, extra: dict[str, str], demo: bool, host: str, port: int
) -> None:
    """The listeners' web app on a thread of this process, with the simulator's provider settings
    under --demo and a demo sign-in link (no passwords to hand out). Not started, with one line
    saying why, when the [web] extra is missing or the port is taken."""
    try:
        # The web app is an optional extra ([web]); `dev` alone runs without it.
        from blendify_assets.web.server import running
    except ModuleNotFoundError as exc:
        out.print(f"web app not started: {exc.name} is missing (pip install 'blendify[web]')")
        return
    token = secrets.token_urlsafe(18) if demo else None
    try:
        settings = load_settings({**os.environ, **extra}, providers=settings_types())
        web = stack.enter_context(
            running(settings, engine=engine, vault=app.vault, host=host, port=port, demo_signin_token=token)
        )
    except OSError as exc:
        out.print(f"web app not started: cannot listen on {host}:{port} ({exc.strerror})")
        return
    except BlendifyError as exc:
        out.print(f"web app not started: {printable(exc, one_line=True)}")
        return
    out.print(f"Web app: {web.url}")
    if token:
        out.print(f"sign in as a demo listener: {web.url}/demo/{token}")
