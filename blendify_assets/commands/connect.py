"""`blendify connect spotify`: sign in through Spotify's own page and store the connection."""

from __future__ import annotations

import webbrowser
from datetime import UTC, datetime

import click

from blendify_assets.analytics.publish import set_publishing
from blendify_assets.commands._app import App, out, pass_app
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import normalise_email, user_id_for
from blendify_assets.providers.spotify.auth import SCOPES
from blendify_assets.providers.spotify.login import login
from blendify_assets.providers.spotify.publish import PUBLISH_SCOPES


@click.group()
def connect() -> None:
    """Connect a provider account through its own sign-in page."""


@connect.command("spotify")
@click.option("--user", "email", required=True, help="The user's email.")
@click.option("--no-browser", is_flag=True, help="Only print the URL to open.")
@click.option(
    "--timeout", type=click.IntRange(min=10), default=300, show_default=True, help="Seconds to wait."
)
@click.option(
    "--publish",
    is_flag=True,
    help="Also let Blendify write blend playlists to this account (asks for the playlist write scopes).",
)
@pass_app
def connect_spotify(app: App, email: str, no_browser: bool, timeout: int, publish: bool) -> None:
    """Authorization Code + PKCE with a callback on SPOTIFY_REDIRECT_URI (a 127.0.0.1 address).

    Only the read scopes are asked for, unless `--publish`: then the playlist write scopes too,
    and the member is opted in to having their blends published to Spotify."""
    email = normalise_email(email)
    with app.engine.connect() as conn:
        user_id = user_id_for(conn, email)  # fail before opening a browser

    def show(url: str) -> None:
        click.echo(f"Open this page to authorise Blendify:\n  {url}", err=True)
        if not no_browser:
            webbrowser.open(url)

    scopes = SCOPES + PUBLISH_SCOPES if publish else SCOPES
    account = login(app.settings.provider("spotify"), open_url=show, timeout=timeout, scopes=scopes)
    tokens = account.tokens
    expires_in = int((tokens.expires_at - datetime.now(UTC)).total_seconds()) if tokens.expires_at else None
    payload = TokenPayload(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=max(expires_in, 1) if expires_in is not None else None,
        provider_user_id=account.provider_user_id,
    )
    connections.upsert(app.engine, app.vault, email, "spotify", payload)
    granted = set((tokens.scope or "").split())
    if publish and tokens.scope is not None and not granted >= set(PUBLISH_SCOPES):
        out.print(
            "Spotify did not grant the playlist write scopes: blends will not be published there",
            style="yellow",
        )
    elif publish:
        set_publishing(app.engine, user_id, None, True, "spotify")
    out.print(
        f"connected spotify for {email} (Spotify account {account.provider_user_id or ''})"
        + ("; blends will be published to it" if publish else "")
    )
