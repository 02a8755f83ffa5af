"""The `blendify` command (click). Exit 0 on success, 1 on a failure the user can act on, 2 on usage."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click
import sqlalchemy as sa
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .errors import BlendifyError

# C0 and C1 control characters (ESC starts terminal escape sequences) and the bidi overrides that
# reorder what a terminal shows. Line breaks survive in messages, never inside a table cell.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\t\n\r]")


def printable(value: object, *, one_line: bool = False) -> str:
    """`value` as text a terminal only displays: control characters removed (a cell or an error
    line also loses its line breaks, which become spaces)."""
    text = _BREAKS.sub(" ", str(value)) if one_line else str(value)
    return _CONTROL.sub("", text)


class TextConsole(Console):
    """A console for data: strings print as text (never rich markup or emoji codes), with control
    characters stripped, so a name like "[/oops]" or an escape sequence from a provider is inert."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(printable(o) if isinstance(o, str) else o for o in objects), **kwargs)


# Pipes and CI logs get wide tables rather than wrapped cells.
out = TextConsole(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 200)


class App:
    """What a command needs, built lazily so `--help` never touches the database."""

    @functools.cached_property
    def settings(self):
        from .settings import load_settings

        return load_settings()

    @functools.cached_property
    def engine(self):
        """The warehouse engine, migrations verified current."""
        from .db.migrations import require_current

        engine = self.raw_engine
        require_current(engine)
        return engine

    @functools.cached_property
    def raw_engine(self):
        from .db.engine import get_engine

        return get_engine(self.settings)

    @functools.cached_property
    def owner_engine(self):
        """As the role that owns the tables: `db upgrade` only."""
        from .db.engine import get_owner_engine

        return get_owner_engine(self.settings)

    @functools.cached_property
    def vault(self):
        from .security.vault import vault_from_settings

        return vault_from_settings(self.settings)


class BlendifyGroup(click.Group):
    """Turns actionable errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BlendifyError as exc:
            raise click.ClickException(printable(exc, one_line=True)) from None
        except sa.exc.DBAPIError as exc:  # unreachable server, a value out of range, ...
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise click.ClickException(f"database error: {printable(reason, one_line=True)}") from None


pass_app = click.make_pass_decorator(App, ensure=True)


def read_text(stream: Any, what: str) -> str:
    """All of a binary stream as UTF-8 text; anything else is bad input, said in one line."""
    try:
        return stream.read().decode("utf-8")
    except UnicodeDecodeError:
        raise BlendifyError(f"{what}: the input is not UTF-8 text") from None


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """Every header, title and cell is plain text (names come from people and providers)."""
    table = Table(
        box=box.SIMPLE_HEAD,
        title=Text(printable(title, one_line=True)) if title else None,
        title_justify="left",
        pad_edge=False,
    )
    for column in columns:
        table.add_column(Text(printable(column, one_line=True)))
    for row in rows:
        table.add_row(*(Text("" if v is None else printable(v, one_line=True)) for v in row))
    out.print(table)


@click.group(cls=BlendifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show informational log lines.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Blendify: your Spotify and Apple Music history, kept forever, blended with friends."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.ensure_object(App)


# --- db -------------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Apply or show the warehouse migrations."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Apply pending migrations (idempotent; concurrent runs queue on a lock)."""
    from .db import migrations

    applied = migrations.upgrade(app.owner_engine)
    for m in applied:
        out.print(f"applied {m.path.name}")
    total = len(migrations.discover())
    out.print(
        f"database is up to date ({total} migrations)"
        if not applied
        else f"applied {len(applied)} migration(s)"
    )


@db.command("status")
@pass_app
def db_status(app: App) -> None:
    """Show applied and pending migrations."""
    from .db import migrations
    from .db.engine import describe, warehouse_url

    rows = migrations.status(app.raw_engine)
    out.print(f"database: {describe(warehouse_url(app.settings))}")
    print_table(
        ["version", "name", "state", "applied at"],
        [
            (
                s.migration.version,
                s.migration.name,
                "pending"
                if s.applied_at is None
                else ("applied" if s.checksum_ok else "EDITED SINCE APPLIED"),
                s.applied_at,
            )
            for s in rows
        ],
    )
    pending = sum(1 for s in rows if s.applied_at is None)
    out.print(f"{len(rows) - pending} applied, {pending} pending")
    if any(not s.checksum_ok for s in rows):
        raise BlendifyError(
            "an applied migration file was edited; restore it and add a new migration instead"
        )


# --- users ----------------------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Add and list users."""


@users.command("add")
@click.argument("email")
@click.option("--name", "display_name", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read a password from standard input (stored hashed).")
@pass_app
def users_add(app: App, email: str, display_name: str | None, password_stdin: bool) -> None:
    """Add a user and print the new user's id."""
    from .db.accounts import add_user, normalise_email

    normalise_email(email)  # fail on a bad address before reading stdin or touching the database
    password = read_text(sys.stdin.buffer, "--password-stdin").rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise BlendifyError("--password-stdin: standard input was empty")
    click.echo(add_user(app.engine, email, display_name, password))


@users.command("list")
@pass_app
def users_list(app: App) -> None:
    """List users and their connections."""
    from .db.accounts import list_users

    rows = list_users(app.engine)
    print_table(
        ["id", "email", "name", "connections", "created"],
        [(r["id"], r["email"], r["display_name"], r["connections"], r["created_at"]) for r in rows],
    )


# --- connections ------------------------------------------------------------------------------------------


@main.group()
def connections() -> None:
    """Store provider tokens (encrypted) and show connection status."""


@connections.command("add")
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--provider", required=True, help="spotify or apple.")
@click.option(
    "--tokens-json",
    required=True,
    type=click.File("rb"),
    help="'-' for standard input: {access_token, refresh_token?, expires_in?, provider_user_id?}.",
)
@pass_app
def connections_add(app: App, email: str, provider: str, tokens_json: Any) -> None:
    """Connect a user to a provider (a second call re-authorises the same connection)."""
    from .db.accounts import TokenPayload, check_provider, normalise_email, upsert_connection

    check_provider(provider)
    normalise_email(email)
    payload = TokenPayload.parse(read_text(tokens_json, "--tokens-json"))
    connection_id, created = upsert_connection(app.engine, app.vault, email, provider, payload)
    verb = "connected" if created else "re-authorised"
    out.print(f"{verb} {provider} for {email.strip().lower()} (connection {connection_id})")


@connections.command("list")
@pass_app
def connections_list(app: App) -> None:
    """List connections with their status (tokens are never shown)."""
    from .db.accounts import list_connections

    print_table(
        ["id", "email", "provider", "status", "reason", "token expires"],
        [
            (r["id"], r["email"], r["provider"], r["status"], r["status_reason"], r["token_expires_at"])
            for r in list_connections(app.engine)
        ],
    )


# --- keys -------------------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Manage the token encryption keys."""


@keys.command("rotate")
@pass_app
def keys_rotate(app: App) -> None:
    """Re-encrypt every stored token under the current first key.

    With BLENDIFY_ENCRYPTION_KEY set, put the new key first (keep the old ones after it), run this,
    then drop the old keys. With the generated local key, a new local key is made and the old one
    retired once every token is re-encrypted.
    """
    from .db.accounts import rotate_tokens
    from .security.vault import Vault, rotate_local_key

    settings = app.settings
    engine = app.engine
    if settings.encryption_keys:
        count = rotate_tokens(engine, Vault(settings.encryption_keys))
        out.print(
            f"re-encrypted the tokens of {count} connection(s) under the first BLENDIFY_ENCRYPTION_KEY key"
        )
        return
    count = rotate_local_key(settings, lambda vault: rotate_tokens(engine, vault))
    out.print(
        f"re-encrypted the tokens of {count} connection(s) under a new local key in {settings.local_key_file}"
    )


# --- connect ----------------------------------------------------------------------------------------------


@main.group()
def connect() -> None:
    """Connect a provider account through its own sign-in page."""


@connect.command("spotify")
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--no-browser", is_flag=True, help="Only print the URL to open.")
@click.option(
    "--timeout", type=click.IntRange(min=10), default=300, show_default=True, help="Seconds to wait."
)
@pass_app
def connect_spotify(app: App, email: str, no_browser: bool, timeout: int) -> None:
    """Authorization Code + PKCE with a callback on SPOTIFY_REDIRECT_URI (a 127.0.0.1 address)."""
    import webbrowser

    from .connect import connect_spotify as run_flow
    from .db.accounts import normalise_email, user_id_for

    email = normalise_email(email)
    with app.engine.connect() as conn:
        user_id_for(conn, email)  # fail before opening a browser

    def show(url: str) -> None:
        click.echo(f"Open this page to authorise Blendify:\n  {url}", err=True)
        if not no_browser:
            webbrowser.open(url)

    account = run_flow(app.settings, app.engine, app.vault, email, open_url=show, timeout=timeout)
    out.print(f"connected spotify for {email} (Spotify account {account})")


# --- sync -------------------------------------------------------------------------------------------------


def check_provider_settings(settings: Any, provider: Any) -> None:
    """Stop before any run when the provider's settings are missing or wrong (otherwise every
    endpoint fails alike); with no credentials at all, say how to use the local simulator."""
    from .errors import SettingsError

    try:
        provider.check_settings(settings)
    except SettingsError as exc:
        if provider.has_credentials(settings):
            raise
        hint = (
            f"to try Blendify without a {provider.name} account, point it at the local simulator: while "
            f"`blendify dev --demo` runs, `set -a; . {settings.simulator_env_file}; set +a` loads its "
            "settings (`blendify simulator serve` prints them too)"
        )
        raise SettingsError(f"{exc}; {hint}") from None


@main.command()
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--provider", help="Only this provider: spotify or apple.")
@click.option("--endpoint", help="Only this endpoint (e.g. top_tracks, playlist_tracks).")
@pass_app
def sync(app: App, email: str, provider: str | None, endpoint: str | None) -> None:
    """Materialise the user's partitions now, through Dagster, in this process."""
    from .db.accounts import check_provider, user_id_for
    from .definitions import defs
    from .ingest.registry import providers
    from .orchestration.runner import dagster_instance, run_sync_in_process
    from .reports import sync_summary

    if provider is not None:
        check_provider(provider)
    engine = app.engine
    with engine.connect() as conn:
        user_id = str(user_id_for(conn, email))
        connected = [
            p for (p,) in conn.execute(
                sa.text("SELECT provider::text FROM provider_connections WHERE user_id = CAST(:u AS uuid)"),
                {"u": user_id},
            )
        ]  # fmt: skip
    available = providers()
    chosen = [provider] if provider else [p for p in connected if p in available]
    if provider and provider not in connected:
        raise BlendifyError(f"{email} has no {provider} connection (add one with `blendify connections add`)")
    if not chosen:
        raise BlendifyError(f"{email} has no provider connections to sync")
    for name in chosen:
        if endpoint and endpoint not in available[name].endpoints:
            raise click.UsageError(
                f"unknown {name} endpoint {endpoint!r}: choose one of {', '.join(available[name].endpoints)}"
            )
        check_provider_settings(app.settings, available[name])
    instance = dagster_instance(app.settings)
    run_ids = []
    for name in chosen:
        endpoints = [endpoint] if endpoint else None
        with out.status(f"syncing {name} for {email}…") as status:

            def waiting(message: str, name: str = name, status: Any = status) -> None:
                click.echo(message, err=True)
                status.update(f"syncing {name} for {email}: waiting for a pool slot (Ctrl-C stops)…")

            results = run_sync_in_process(instance, defs, name, [user_id], endpoints, on_wait=waiting)
        run_ids += [r.run_id for r in results]
    rows, failed = sync_summary(engine, run_ids)
    print_table(["provider", "endpoint", "status", "requests", "rows appended", "changed", "error"], rows)
    if failed:
        raise BlendifyError(f"{failed} endpoint check(s) failed; see the error column")


# --- web -----------------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@pass_app
def web(app: App, host: str, port: int, workers: int) -> None:
    """The listeners' web app. Set BLENDIFY_SESSION_SECRET (and BLENDIFY_WEB_URL, the public
    address) to serve it beyond this machine; locally a secret is generated under BLENDIFY_HOME."""
    from .web.server import serve

    app.engine  # noqa: B018 - the database answers and its migrations are current before serving
    click.echo(f"Blendify web app on http://{host}:{port} (Ctrl-C stops)", err=True)
    serve(app.settings, host, port, workers)


def _register_commands() -> None:
    """Commands that live beside the code they drive."""
    from .analytics_cli import COMMANDS as analytics_commands
    from .orchestration.cli import COMMANDS as orchestration_commands
    from .simulator.cli import simulator

    for command in (simulator, *analytics_commands, *orchestration_commands):
        main.add_command(command)


_register_commands()
