"""The app factory: sessions, CSRF, security headers, static files, pages, the JSON API."""

from __future__ import annotations

import logging
import os
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import load_settings
from blendify_assets.db.engine import open_engine
from blendify_assets.db.migrations import require_current
from blendify_assets.providers.registry import settings_types
from blendify_assets.security.vault import Vault, vault_from_settings
from blendify_assets.web.config import SESSION_MAX_AGE, WebConfig, web_config
from blendify_assets.web.pages import HERE, render
from blendify_assets.web.routes import api, auth, blends, connections, demo, friends, history, music
from blendify_assets.web.security import CsrfRejected, NotFound, SignInRequired, csrf_protect

log = logging.getLogger(__name__)
SESSION_COOKIE = "blendify_session"


class SecurityHeaders:
    """Headers on every response: a strict Content-Security-Policy (our own scripts and styles
    only, plus MusicKit's script on the Apple page), no framing, no referrer beyond this site (an
    invite link's token never leaks to an artwork host), and no caching of personal pages."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        apple, spotify = config.settings.provider("apple"), config.settings.provider("spotify")
        musickit = _origin(apple.musickit_js_url)
        accounts = _origin(spotify.accounts_url)
        apple_api = _origin(apple.api_url)
        self.headers = [
            (
                b"content-security-policy",
                (
                    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
                    f"script-src 'self' {musickit}; connect-src 'self' {musickit} {apple_api}; "
                    f"form-action 'self' {accounts}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
                ).encode(),
            ),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += self.headers
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class _TooLarge(Exception):
    pass


class UploadLimit:
    """Refuse a request body past `limit` before it is read: by its Content-Length up-front, and by
    counting what arrives (a chunked body has none). Starlette would otherwise spool any size of
    multipart upload to disk before the route (and its 1 GiB check) ever ran."""

    MESSAGE = b"That file is larger than any export Blendify reads (at most 1 GiB). Nothing was imported."

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": self.MESSAGE})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(config: WebConfig, engine: Engine | None = None, vault: Vault | None = None) -> FastAPI:
    """The ASGI app. `engine` and `vault` default to the configured warehouse (migrations checked)
    and token keys; tests and `blendify dev --demo` pass their own."""
    if engine is None:
        engine = open_engine(config.settings.warehouse)
        require_current(engine)
    if vault is None:
        vault = vault_from_settings(config.settings.warehouse)

    app = FastAPI(
        title="Blendify",
        summary="Your Spotify and Apple Music listening, and blends with friends.",
        version="1",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; the JSON document is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_protect)],
    )
    app.state.config = config
    app.state.engine = engine
    app.state.vault = vault

    app.add_middleware(
        SessionMiddleware,
        secret_key=config.session_secret,
        session_cookie=SESSION_COOKIE,
        max_age=int(SESSION_MAX_AGE.total_seconds()),
        same_site="lax",
        https_only=config.secure_cookies,
    )
    app.add_middleware(UploadLimit, limit=history.MAX_UPLOAD_BYTES)
    app.add_middleware(SecurityHeaders, config=config)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, connections, music, history, blends, friends, api, demo):
        app.include_router(module.router)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "missing or wrong CSRF token"}, status_code=403)
        return render(
            request,
            "error.html",
            403,
            title="This form has expired",
            message="It was not sent from this page of Blendify, or the page was open too long. "
            "Go back, reload the page and try again.",
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _not_found(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _not_found(request)
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return render(
            request, "error.html", exc.status_code, title="Something is not right", message=str(exc.detail)
        )

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "invalid request", "errors": _plain(exc)}, status_code=422)
        return render(
            request,
            "error.html",
            400,
            title="That did not look right",
            message="A field was missing or malformed. Go back and try again.",
        )

    @app.exception_handler(BlendifyError)
    async def blendify_error(request: Request, exc: BlendifyError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return render(request, "error.html", 400, title="That did not work", message=str(exc))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def _not_found(request: Request) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": "not found"}, status_code=404)
    return render(
        request,
        "error.html",
        404,
        title="Not found",
        message="There is nothing here, or it is not yours to see.",
    )


def _plain(exc: RequestValidationError) -> list[dict[str, object]]:
    """Which fields were wrong, never the values sent (they may be passwords)."""
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")} for e in exc.errors()
    ]


def app_from_environment() -> FastAPI:
    """`uvicorn --factory` entry point for several worker processes (`blendify web --workers N`)."""
    settings = load_settings(providers=settings_types())
    host = os.environ.get("BLENDIFY_WEB_HOST", "127.0.0.1")
    port = int(os.environ.get("BLENDIFY_WEB_PORT", "8000"))
    return create_app(web_config(settings, host, port))
