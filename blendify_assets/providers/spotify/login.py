"""Signing a user in with Spotify from a terminal: the Authorization Code + PKCE flow with a one-shot
callback server on the loopback address of SPOTIFY_REDIRECT_URI (Spotify accepts http only for
127.0.0.1 / [::1]). It ends with the tokens and the account id; storing them is the caller's (no SQL
here)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

from blendify_assets.core.errors import BlendifyError, SettingsError
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens
from blendify_assets.providers.errors import ProviderError
from blendify_assets.providers.spotify.auth import (
    SCOPES,
    SpotifyApp,
    authorize_url,
    code_challenge,
    exchange_code,
    make_code_verifier,
)
from blendify_assets.providers.spotify.client import SpotifyClient, spotify_http
from blendify_assets.providers.spotify.settings import SpotifySettings
from blendify_assets.providers.tokens import InMemoryTokenSource

LOOPBACK = ("127.0.0.1", "::1", "[::1]")


@dataclass
class Callback:
    code: str | None = None
    error: str | None = None


def _callback_server(
    redirect_uri: str, expected_state: str, result: Callback, done: threading.Event
) -> HTTPServer:
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK or not parts.port:
        raise SettingsError(
            "SPOTIFY_REDIRECT_URI must be a loopback address with a port for `connect`, "
            "e.g. http://127.0.0.1:8888/callback (Spotify no longer accepts 'localhost')"
        )
    path = parts.path or "/"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != path:
                self.send_error(404)
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if query.get("state") != expected_state:
                result.error = "the callback's state did not match (possible CSRF); try again"
            elif "error" in query:
                result.error = f"Spotify did not authorise the connection: {query['error']}"
            else:
                result.code = query.get("code")
            body = b"Blendify: you can close this tab and return to the terminal.\n"
            self.send_response(200 if result.code else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, *args: object) -> None:  # the query holds the code: keep it out of logs
            return

    host = parts.hostname.strip("[]")
    return HTTPServer((host, parts.port), Handler)


@dataclass(frozen=True)
class ConnectedAccount:
    """What the flow obtained. repr() hides the tokens."""

    tokens: Tokens
    provider_user_id: str | None


async def _finish(settings: SpotifySettings, app: SpotifyApp, code: str, verifier: str) -> ConnectedAccount:
    http = spotify_http()
    try:
        tokens = await exchange_code(http, app, code=code, verifier=verifier)
        async with SpotifyClient(InMemoryTokenSource(tokens), app, api_url=settings.api_url, http=http) as c:
            me = await c.me(FetchStats())
    finally:
        await http.aclose()
    return ConnectedAccount(tokens, me.get("account_id") or me.get("id"))


def login(
    settings: SpotifySettings,
    *,
    open_url: Callable[[str], object],
    timeout: float = 300.0,
    scopes: tuple[str, ...] = SCOPES,
) -> ConnectedAccount:
    """Run the flow; `open_url` shows the authorisation page (a browser, or a test). `scopes`: what
    to ask for (the read scopes; `PUBLISH_SCOPES` on top only when the member opts in to publishing)."""
    app = SpotifyApp.from_settings(settings, "connect Spotify")
    if not settings.redirect_uri:
        raise SettingsError(
            "SPOTIFY_REDIRECT_URI must be set to connect Spotify, e.g. http://127.0.0.1:8888/callback"
        )
    state, verifier = secrets.token_urlsafe(24), make_code_verifier()
    result, done = Callback(), threading.Event()
    try:
        server = _callback_server(settings.redirect_uri, state, result, done)
    except OSError as exc:
        raise BlendifyError(f"cannot listen on {settings.redirect_uri}: {exc.strerror}") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        open_url(authorize_url(app, state=state, challenge=code_challenge(verifier), scopes=scopes))
        if not done.wait(timeout):
            raise BlendifyError(
                f"no answer from Spotify within {int(timeout)} s; run `blendify connect` again"
            )
    finally:
        server.shutdown()
        server.server_close()
    if result.error or not result.code:
        raise BlendifyError(result.error or "the callback carried no authorisation code")
    try:
        return asyncio.run(_finish(settings, app, result.code, verifier))
    except ProviderError as exc:
        raise BlendifyError(f"Spotify refused the authorisation code: {exc}") from None
