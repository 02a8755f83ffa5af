"""Connections: status, freshness per endpoint, reconnect, disconnect, re-sync now, and Apple's
MusicKit sign-in page."""

from __future__ import annotations

import asyncio
import calendar
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens
from blendify_assets.db import connections as db_connections
from blendify_assets.db import sync_log as db_sync_log
from blendify_assets.db.connections import TokenPayload
from blendify_assets.providers.apple_music.client import AppleClient
from blendify_assets.providers.apple_music.developer_token import developer_token
from blendify_assets.providers.apple_music.settings import AppleMusicSettings
from blendify_assets.providers.errors import ProviderError
from blendify_assets.providers.registry import names
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.web import reads
from blendify_assets.web.pages import flash, redirect, render
from blendify_assets.web.security import NotFound, now_utc, require_user

router = APIRouter(include_in_schema=False)
PROVIDERS = names()  # the warehouse's provider names, in the registry's order

SPOTIFY_GRANT_MONTHS = 6  # Spotify refresh tokens die six months after the user's consent
WARN_DAYS = (30, 7)  # a month and a week before
MAX_USER_TOKEN = 4096
BROWSER_TOKEN_SECONDS = 3600


def add_months(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + year, month + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def expiry_warning(provider: str, status: str, authorized_at: datetime | None, now: datetime) -> dict | None:
    """Spotify's grant dies six months after consent: warn 30 and 7 days before (and after)."""
    if provider != "spotify" or status != "active" or authorized_at is None:
        return None
    ends = add_months(authorized_at, SPOTIFY_GRANT_MONTHS)
    left = ends - now
    if left > timedelta(days=WARN_DAYS[0]):
        return None
    days = max(0, left.days)
    level = "danger" if left <= timedelta(days=WARN_DAYS[1]) else "warning"
    text = (
        f"Spotify ends Blendify's access on {ends:%-d %b %Y} ({days} day{'s' if days != 1 else ''} left): "
        "reconnect to keep syncing for another six months."
        if left > timedelta(0)
        else "Spotify's six months are over: reconnect to sync again."
    )
    return {"level": level, "text": text, "ends": ends}


def connection_cards(conn: Any, user_id: Any) -> list[dict[str, Any]]:
    """One card per provider: the connection (or none), warnings, and the last check per endpoint."""
    now = now_utc()
    rows = {r["provider"]: r for r in reads.listener_connections(conn, user_id)}
    checks: dict[str, list[dict]] = defaultdict(list)
    for check in db_sync_log.latest_per_endpoint(conn, user_id):
        checks[check["provider"]].append(check)
    cards = []
    for provider in PROVIDERS:
        row = rows.get(provider)
        card: dict[str, Any] = {"provider": provider, "connection": row, "checks": checks.get(provider, [])}
        if row:
            card["warning"] = expiry_warning(provider, row["status"], row["authorized_at"], now)
            requested = row["resync_requested_at"]
            started = row["last_sync_started"]
            card["resync_waiting"] = bool(requested and (started is None or started < requested))
            card["last_sync"] = max((c["finished_at"] for c in card["checks"]), default=None)
            card["failing"] = [c for c in card["checks"] if c["status"] != "success"]
        cards.append(card)
    return cards


@router.get("/connections")
def connections_page(request: Request, user: dict = Depends(require_user)) -> Response:
    with request.app.state.engine.connect() as conn:
        cards = connection_cards(conn, user["id"])
    return render(request, "connections.html", cards=cards, nav="connections")


def _provider(name: str) -> str:
    if name not in PROVIDERS:
        raise NotFound
    return name


@router.post("/connections/{provider}/disconnect")
def disconnect_provider(request: Request, provider: str, user: dict = Depends(require_user)) -> Response:
    provider = _provider(provider)
    if db_connections.disconnect(request.app.state.engine, request.app.state.vault, user["id"], provider):
        flash(
            request,
            f"{_name(provider)} is disconnected: Blendify stopped syncing it and keeps the "
            "music already collected. Connect again whenever you like.",
            "success",
        )
    return redirect("/connections")


@router.post("/connections/{provider}/resync")
def resync_provider(request: Request, provider: str, user: dict = Depends(require_user)) -> Response:
    provider = _provider(provider)
    try:
        at = db_connections.request_resync(request.app.state.engine, user["id"], provider)
    except BlendifyError as exc:
        flash(request, str(exc)[:1].upper() + str(exc)[1:] + ".", "warning")
        return redirect("/connections")
    if at is None:
        flash(request, f"{_name(provider)} is not connected and active: connect it first.", "warning")
    else:
        flash(request, f"Re-sync of {_name(provider)} requested: it starts within a minute.", "success")
    return redirect("/connections")


def _name(provider: str) -> str:
    return {"spotify": "Spotify", "apple": "Apple Music"}[provider]


# --- Apple Music: MusicKit on the Web -------------------------------------------------------------------


def browser_developer_token(settings: AppleMusicSettings, origin: str) -> str:
    """A developer token for MusicKit JS in this page: short-lived and bound to our origin (Apple's
    `origin` claim), unlike the long-lived one the server uses for syncing."""
    key = settings.signing_key()
    now = int(time.time())
    return jwt.encode(
        {"iss": key.team_id, "iat": now, "exp": now + BROWSER_TOKEN_SECONDS, "origin": [origin]},
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.key_id},
    )


@router.get("/connections/apple")
def apple_page(request: Request, user: dict = Depends(require_user)) -> Response:
    config = request.app.state.config
    apple = config.settings.provider("apple")
    token = browser_developer_token(apple, config.origin)
    return render(
        request,
        "apple_connect.html",
        developer_token=token,
        musickit_url=apple.musickit_js_url,
        nav="connections",
    )


@router.post("/connections/apple")
def apple_connect(
    request: Request, music_user_token: Annotated[str, Form()] = "", user: dict = Depends(require_user)
) -> Response:
    """MusicKit's Music-User-Token, checked with Apple before it is stored (encrypted)."""
    token = music_user_token.strip()
    if not token or len(token) > MAX_USER_TOKEN or not token.isprintable():
        flash(request, "Apple Music did not hand over a sign-in. Try again.", "danger")
        return redirect("/connections/apple")
    settings = request.app.state.config.settings.provider("apple")
    try:
        asyncio.run(_check_with_apple(settings, token))
    except ProviderError:
        flash(request, "Apple Music did not accept that sign-in. Try connecting again.", "danger")
        return redirect("/connections/apple")
    payload = TokenPayload(access_token=token, refresh_token=None, expires_in=None, provider_user_id=None)
    _, created = db_connections.upsert(
        request.app.state.engine, request.app.state.vault, user["email"], "apple", payload
    )
    flash(
        request,
        "Apple Music is connected. Your music is on its way: the first sync starts within a minute."
        if created
        else "Apple Music is reconnected; a fresh sync starts within a minute.",
        "success",
    )
    return redirect("/connections")


async def _check_with_apple(settings: AppleMusicSettings, token: str) -> None:
    tokens = InMemoryTokenSource(Tokens(access_token=token, refresh_token=None, expires_at=None))
    async with AppleClient(tokens, developer_token(settings), api_url=settings.api_url) as client:
        await client.get("/v1/me/storefront", FetchStats())
