"""Serving the web app: `blendify web` (uvicorn, one or several workers) and an in-thread server
for `blendify dev --demo`, the tests, the benchmark and the screenshot script."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from blendify_assets.core.settings import Settings
from blendify_assets.security.vault import Vault
from blendify_assets.web.app import create_app
from blendify_assets.web.config import WebConfig, web_config


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Run until Ctrl-C. The configuration is checked first (one clear line if it is wrong)."""
    config = web_config(settings, host, port)
    if workers == 1:
        app = create_app(config)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)
        return
    create_app(config).state.engine.dispose()  # the database and migrations answer before forking
    os.environ["BLENDIFY_WEB_HOST"], os.environ["BLENDIFY_WEB_PORT"] = host, str(port)
    if settings.web.session_secret is None:  # every worker must sign with the same secret
        os.environ["BLENDIFY_SESSION_SECRET"] = config.session_secret
    uvicorn.run(
        "blendify_assets.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


@dataclass
class RunningWeb:
    url: str
    app: FastAPI
    config: WebConfig


@contextmanager
def running(
    settings: Settings,
    *,
    engine: Engine | None = None,
    vault: Vault | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    demo_signin_token: str | None = None,
) -> Iterator[RunningWeb]:
    """The app on a background thread (a free port when `port` is 0); stopped on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    bound = sock.getsockname()[1]
    config = web_config(settings, host, bound, demo_signin_token)
    app = create_app(config, engine=engine, vault=vault)
    server = uvicorn.Server(
        uvicorn.Config(
            app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"blendify-web-{bound}", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the web server thread died while starting")
            thread.join(0.01)
        yield RunningWeb(f"http://{host}:{bound}", app, config)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
