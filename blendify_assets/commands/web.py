"""`blendify web`: the listeners' web app (an optional extra: `pip install 'blendify[web]'`)."""

from __future__ import annotations

import click

from blendify_assets.commands._app import App, pass_app
from blendify_assets.web.server import serve


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@pass_app
def web(app: App, host: str, port: int, workers: int) -> None:
    """The listeners' web app: sign up, connect Spotify and Apple Music, see your music, blend."""
    app.engine  # noqa: B018 - the database answers and its migrations are current before serving
    click.echo(f"Blendify web app on http://{host}:{port} (Ctrl-C stops)", err=True)
    serve(app.settings, host, port, workers)
