"""`blendify connections add | list`."""

from __future__ import annotations

from typing import IO

import click

from blendify_assets.commands._app import App, out, pass_app, print_table, read_text
from blendify_assets.db import connections as store
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import normalise_email
from blendify_assets.providers import registry


@click.group()
def connections() -> None:
    """Store provider tokens (encrypted) and show connection status."""


@connections.command("add")
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--provider", required=True, help=f"One of {', '.join(registry.names())}.")
@click.option(
    "--tokens-json",
    required=True,
    type=click.File("rb"),
    help="'-' for standard input: {access_token, refresh_token?, expires_in?, provider_user_id?}.",
)
@pass_app
def connections_add(app: App, email: str, provider: str, tokens_json: IO[bytes]) -> None:
    """Connect a user to a provider (a second call re-authorises the same connection)."""
    registry.get(provider)
    normalise_email(email)
    payload = TokenPayload.parse(read_text(tokens_json, "--tokens-json"))
    connection_id, created = store.upsert(app.engine, app.vault, email, provider, payload)
    verb = "connected" if created else "re-authorised"
    out.print(f"{verb} {provider} for {email.strip().lower()} (connection {connection_id})")


@connections.command("list")
@pass_app
def connections_list(app: App) -> None:
    """List connections with their status (tokens are never shown)."""
    print_table(
        ["id", "email", "provider", "status", "reason", "token expires"],
        [
            (r["id"], r["email"], r["provider"], r["status"], r["status_reason"], r["token_expires_at"])
            for r in store.list_all(app.engine)
        ],
    )
