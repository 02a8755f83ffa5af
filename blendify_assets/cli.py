"""The `blendify` command. Exit 0 on success, 1 on a failure the user can act on (one line), 2 on usage.

Start-up stays fast: this module imports click and two small core modules only. Each command lives
in its own module (`commands/`), imported when that command runs; `--help` prints the short help
kept in `COMMANDS` (a test keeps it equal to the commands' own).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.text import printable

COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("blendify_assets.commands.db:db", "Apply or show the warehouse migrations."),
    "users": ("blendify_assets.commands.users:users", "Add and list users."),
    "connections": (
        "blendify_assets.commands.connections:connections",
        "Store provider tokens (encrypted) and show connection status.",
    ),
    "connect": (
        "blendify_assets.commands.connect:connect",
        "Connect a provider account through its own sign-in page.",
    ),
    "keys": ("blendify_assets.commands.keys:keys", "Manage the token encryption keys."),
    "sync": (
        "blendify_assets.commands.sync:sync",
        "Materialise the user's partitions now, through Dagster, in this process.",
    ),
    "blends": (
        "blendify_assets.commands.blends:blends",
        "Create blends of several people's tastes, show why each track is there, publish them.",
    ),
    "profile": (
        "blendify_assets.commands.queries:profile",
        "A user's music profile: rows per type and provider, current and stored over time.",
    ),
    "overlap": (
        "blendify_assets.commands.queries:overlap",
        "What two users share: the taste match across providers, explained, and their common top tracks.",
    ),
    "recent": (
        "blendify_assets.commands.queries:recent",
        "A user's latest plays across all providers, newest first.",
    ),
    "import": (
        "blendify_assets.commands.imports:import_group",
        "Import a user's lifetime listening history from a privacy export.",
    ),
    "simulator": (
        "blendify_assets.simulator.cli:simulator",
        "Local Spotify and Apple Music APIs over a deterministic simulated world.",
    ),
    "demo": (
        "blendify_assets.commands.demo:demo",
        "Headless: embedded DB + simulator + N users (both providers) synced through Dagster + blends.",
    ),
    "dev": (
        "blendify_assets.commands.dev:dev",
        "Dagster UI + daemon on the Postgres-backed instance (sensor and schedules running), and the web app.",
    ),
    "web": (
        "blendify_assets.commands.web:web",
        "The listeners' web app: sign up, connect Spotify and Apple Music, see your music, blend.",
    ),
}
"""Command name -> ("module:attribute", short help)."""

SIMULATOR_MODULES = {"starlette", "uvicorn", "python_multipart"}  # the [simulator] extra
WEB_MODULES = {"fastapi", "jinja2", "itsdangerous", "starlette", "uvicorn", "python_multipart", "multipart"}
"""The [web] extra (`blendify web`)."""


def _shortened(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut at a word with "..." (as click lists commands)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."


class BlendifyGroup(click.Group):
    """Commands loaded by name when they run; actionable errors as one line on stderr, exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        try:
            command = getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as exc:
            if exc.name not in SIMULATOR_MODULES | WEB_MODULES:
                raise
            extra = "web" if cmd_name == "web" or exc.name not in SIMULATOR_MODULES else "simulator"
            raise click.ClickException(
                f"`blendify {cmd_name}` needs the optional {extra} dependencies: pip install 'blendify[{extra}]'"
            ) from None
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The stored short help: listing the commands imports none of them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(name, _shortened(COMMANDS[name][1], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BlendifyError as exc:
            raise click.ClickException(printable(exc, one_line=True)) from None
        except Exception as exc:
            # Database errors (an unreachable server, a value out of range, ...) as one line too.
            # SQLAlchemy is loaded only by commands that use it, so it is looked up, not imported.
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is None or not isinstance(exc, sa_exc.DBAPIError):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise click.ClickException(f"database error: {printable(reason, one_line=True)}") from None


@click.group(cls=BlendifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show informational log lines.")
def main(verbose: bool) -> None:
    """Blendify: your Spotify and Apple Music history, kept forever, blended with friends."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
