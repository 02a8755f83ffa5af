"""`blendify users add | list`."""

from __future__ import annotations

import sys

import click

from blendify_assets.commands._app import App, pass_app, print_table, read_text
from blendify_assets.core.errors import BlendifyError
from blendify_assets.db import connections
from blendify_assets.db.users import add_user, list_users, normalise_email


@click.group()
def users() -> None:
    """Add and list users."""


@users.command("add")
@click.argument("email")
@click.option("--name", "display_name", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read a password from standard input (stored hashed).")
@pass_app
def users_add(app: App, email: str, display_name: str | None, password_stdin: bool) -> None:
    """Add a user and print the new user's id."""
    normalise_email(email)  # fail on a bad address before reading stdin or touching the database
    password = read_text(sys.stdin.buffer, "--password-stdin").rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise BlendifyError("--password-stdin: standard input was empty")
    click.echo(add_user(app.engine, email, display_name, password))


@users.command("list")
@pass_app
def users_list(app: App) -> None:
    """List users and their connections."""
    rows = list_users(app.engine)
    held = connections.summaries(app.engine)
    print_table(
        ["id", "email", "name", "connections", "created"],
        [(r["id"], r["email"], r["display_name"], held.get(str(r["id"]), ""), r["created_at"]) for r in rows],
    )
