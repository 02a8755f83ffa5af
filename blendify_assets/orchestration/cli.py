"""`blendify dev [--demo]` and `blendify demo [--users N]`."""

from __future__ import annotations

import click
from rich.text import Text

from ..cli import App, out, pass_app, print_table, printable
from ..errors import BlendifyError

DEV_DEMO_USERS = 6
DEMO_USERS = 8


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
    """Dagster UI + daemon on the Postgres-backed instance (sensor and schedules running), and the
    listeners' web app (with --demo, a sign-in link for the demo users)."""
    import os
    import secrets
    from contextlib import ExitStack

    from ..db import migrations
    from ..db.engine import warehouse_url
    from ..simulator import Simulator, SimulatorConfig
    from .demo_world import connect_users, simulator_env, write_simulator_env_file
    from .dev import child_env, start_dagster, supervise
    from .runner import dagster_instance

    settings = app.settings
    with out.status("starting PostgreSQL and applying migrations…"):
        engine = app.raw_engine  # starts (or attaches to) the embedded server and holds it for the children
        migrations.upgrade(app.owner_engine)
        instance = dagster_instance(settings)  # writes the Dagster home and sets the pool limits
        instance.dispose()
    extra: dict[str, str] = {}
    with ExitStack() as stack:
        if demo:
            sim = stack.enter_context(
                Simulator.running(SimulatorConfig(users=users, seed=7, profile_mix=profile))
            )
            extra = simulator_env(settings, sim)
            env_file = write_simulator_env_file(settings, extra)
            stack.callback(env_file.unlink, missing_ok=True)  # its URLs die with the simulator
            connected = connect_users(engine, app.vault, sim)
            out.print(
                f"simulator on {sim.base_url}: {len(connected)} demo users connected; "
                "the connection sensor syncs them within a minute"
            )
            out.print(f"commands in another terminal reach it after `set -a; . {env_file}; set +a`")
        if web_port:
            from ..settings import load_settings
            from ..web.server import running as web_running

            token = secrets.token_urlsafe(18) if demo else None
            web_settings = load_settings({**os.environ, **extra})
            try:
                web = stack.enter_context(
                    web_running(
                        web_settings,
                        engine=engine,
                        vault=app.vault,
                        host=host,
                        port=web_port,
                        demo_signin_token=token,
                    )
                )
            except OSError as exc:
                out.print(f"web app not started: cannot listen on {host}:{web_port} ({exc.strerror})")
            except BlendifyError as exc:
                out.print(f"web app not started: {printable(exc, one_line=True)}")
            else:
                out.print(f"Web app: {web.url}")
                if token:
                    out.print(f"sign in as a demo listener: {web.url}/demo/{token}")
        process = start_dagster(settings, child_env(settings, warehouse_url(settings), extra), host, port)
        out.print(f"Dagster UI: http://{host}:{port}  (Ctrl-C stops everything)")
        code = supervise(process)
    if code not in (0, None):
        raise BlendifyError(f"dagster dev exited with status {code}")


@click.command()
@click.option(
    "--users", default=DEMO_USERS, show_default=True, type=click.IntRange(1, 2000), help="Simulated users."
)
@click.option("--seed", default=7, show_default=True, type=int, help="Simulator seed.")
@click.option(
    "--profile",
    type=click.Choice(["tiny", "light", "medium", "heavy"]),
    help="One library size for every user (default: the seeded mix).",
)
def demo(users: int, seed: int, profile: str | None) -> None:
    """Headless: embedded DB + simulator + N users (both providers) synced through Dagster + blends."""
    from .demo import run_demo

    report = run_demo(users, out, seed=seed, profile_mix=profile)
    out.print()
    for provider, (ok, total) in report.synced.items():
        out.print(Text.assemble((provider, "bold"), f": {ok} of {total} users synced"))
    for provider, reason in report.not_synced.items():
        out.print(Text.assemble((provider, "bold"), f": not synced ({printable(reason)})"))
    print_table(["table", "rows"], sorted(report.rows.items()), title="Warehouse")
    if report.overlap:
        out.print(report.overlap)
    if report.blends:
        print_table(["blend", "name", "tracks"], report.blends, title="Blends built")
        print_table(["#", "track", "artist", "from"], report.preview, title="Preview of the first blend")
    else:
        out.print(report.blend_note or "blends: none built")
    out.print(
        f"{len(report.users)} users, {len(report.run_ids)} Dagster run(s), {report.seconds:.1f} s; "
        "see them with `blendify dev`"
    )
    failed = sum(total - ok for ok, total in report.synced.values())
    if failed:
        raise BlendifyError(
            f"{failed} user(s) did not sync completely; see `blendify dev` for the failed runs"
        )


COMMANDS: list[click.Command] = [dev, demo]
