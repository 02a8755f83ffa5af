"""Run the simulated Spotify and Apple Music APIs over real HTTP (uvicorn + Starlette).

`Simulator.running(config)` starts uvicorn on 127.0.0.1 and a free port in a background thread and
stops it on exit. The socket is bound before the app is built so that `next`/`href` URLs can carry
the real port.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount, Router

from blendify_assets.simulator.admin import admin_routes
from blendify_assets.simulator.apple_api import AppleApi
from blendify_assets.simulator.apple_auth import AppleAuth
from blendify_assets.simulator.apple_publish import AppleWrites
from blendify_assets.simulator.clock import SimClock
from blendify_assets.simulator.config import SimulatorConfig
from blendify_assets.simulator.faults import Faults
from blendify_assets.simulator.middleware import SimMiddleware, not_found_apple, not_found_spotify
from blendify_assets.simulator.musickit import musickit_routes
from blendify_assets.simulator.request_log import RequestLog
from blendify_assets.simulator.spotify_accounts import SpotifyAuth
from blendify_assets.simulator.spotify_api import SpotifyApi
from blendify_assets.simulator.spotify_publish import SpotifyWrites
from blendify_assets.simulator.spotify_render import SpotifyRenderer
from blendify_assets.simulator.world import World


class Simulator:
    """A running (or ready-to-run) simulator: world, clock, faults, request log and the servers."""

    def __init__(self, config: SimulatorConfig | None = None, world: World | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.world = world or World(self.config)
        self.clock = SimClock(self.world)
        self.faults = Faults(self.config.seed)
        self.request_log = RequestLog()
        self.spotify = SpotifyAuth(self.world, self.config.access_token_lifetime, self.config.rotate_refresh_tokens,
                                   self.config.refresh_token_lifetime_days)  # fmt: skip
        self.apple = AppleAuth(self.world, self.config.apple_public_key_pem, self.config.apple_team_id,
                               self.config.apple_key_id)  # fmt: skip
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.base_url = ""

    # --- URLs ---------------------------------------------------------------------------------------

    @property
    def spotify_api_url(self) -> str:
        return f"{self.base_url}/spotify/v1"

    @property
    def spotify_accounts_url(self) -> str:
        return f"{self.base_url}/spotify-accounts"

    @property
    def apple_music_api_url(self) -> str:
        return f"{self.base_url}/apple"

    @property
    def musickit_js_url(self) -> str:
        """The stand-in MusicKit JS (`simulator/musickit.py`) the web app's Apple connect page loads."""
        return f"{self.base_url}/musickit/v3/musickit.js"

    def env(self) -> dict[str, str]:
        """The settings Blendify reads, pointed at this simulator."""
        return {"SPOTIFY_API_URL": self.spotify_api_url, "SPOTIFY_ACCOUNTS_URL": self.spotify_accounts_url,
                "APPLE_MUSIC_API_URL": self.apple_music_api_url, "APPLE_MUSIC_TEAM_ID": self.apple.team_id,
                "APPLE_MUSIC_KEY_ID": self.apple.key_id,
                "APPLE_MUSICKIT_JS_URL": self.musickit_js_url}  # fmt: skip

    # --- app ----------------------------------------------------------------------------------------

    def build_app(self) -> SimMiddleware:
        renderer = SpotifyRenderer(self.world, self.spotify_api_url, self.config.extended_quota)
        spotify_api = SpotifyApi(self.world, self.spotify, renderer)
        apple_api = AppleApi(self.world, self.apple)
        spotify_routes = spotify_api.routes() + SpotifyWrites(spotify_api).routes()
        apple_routes = apple_api.routes() + AppleWrites(apple_api).routes()
        app = Starlette(routes=[
            Mount("/spotify/v1", app=Router(spotify_routes, default=not_found_spotify)),
            Mount("/spotify-accounts", app=Router(self.spotify.routes())),
            Mount("/apple", app=Router(apple_routes, default=not_found_apple)),
            Mount("/_simulator", app=Router(admin_routes(self.world, self.spotify, self.apple, self.clock))),
            Mount("/musickit", app=Router(musickit_routes(self.world, self.apple))),
        ])  # fmt: skip
        return SimMiddleware(app, faults=self.faults, log=self.request_log, spotify=self.spotify, apple=self.apple,
                             latency_ms=self.config.latency_ms, timeout_seconds=self.config.timeout_fault_seconds,
                             sim_now=lambda: self.world.now)  # fmt: skip

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        sock.listen(2048)
        host, port = sock.getsockname()[:2]
        self._socket = sock
        self.base_url = f"http://{host}:{port}"
        config = uvicorn.Config(self.build_app(), lifespan="off", log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1, backlog=2048)  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"blendify-simulator-{port}", daemon=True)  # fmt: skip
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator's server thread died while starting")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def serve_forever(self) -> None:
        """Block until the server stops (used by the CLI)."""
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(0.5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    @contextmanager
    def running(cls, config: SimulatorConfig | None = None) -> Iterator[Simulator]:
        """Start on a free port in a background thread; stop on exit."""
        sim = cls(config)
        sim.start()
        try:
            yield sim
        finally:
            sim.stop()
