"""Sign up, sign in (password or Spotify), sign out, and the hosted Spotify OAuth callback."""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from blendify_assets.analytics.publish import set_publishing
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.fetch import FetchStats
from blendify_assets.db import blends as db_blends
from blendify_assets.db import connections as db_connections
from blendify_assets.db import users as db_users
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user, normalise_email
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
from blendify_assets.providers.spotify.publish import PUBLISH_SCOPES
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.security.passwords import password_problem
from blendify_assets.web.pages import flash, redirect, render
from blendify_assets.web.security import (
    SignInRefused,
    client_address,
    current_user,
    password_sign_in,
    safe_next,
    sign_in,
    sign_out,
)

router = APIRouter(include_in_schema=False)
OAUTH_MAX_AGE = 600  # seconds between leaving for Spotify and coming back
MAX_NAME = 60
NO_EMAIL_DOMAIN = "users.blendify.invalid"  # Spotify no longer shares emails with most apps


@router.get("/")
def home(request: Request) -> Response:
    if current_user(request):
        return redirect("/music")
    return render(request, "home.html")


# --- password accounts -------------------------------------------------------------------------------


@router.get("/signup")
def signup_page(request: Request, next: str = "") -> Response:
    if current_user(request):
        return redirect(safe_next(next))
    return render(request, "signup.html", next=safe_next(next, ""), form={})


@router.post("/signup")
def signup(
    request: Request,
    email: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email, "display_name": display_name}
    name = display_name.strip()
    try:
        address = normalise_email(email)
        if not name or len(name) > MAX_NAME:
            raise BlendifyError(f"choose a name of 1 to {MAX_NAME} characters: it is what your friends see")
        problem = password_problem(password, address)
        if problem:
            raise BlendifyError(problem)
        user_id = add_user(request.app.state.engine, address, name, password)
    except BlendifyError as exc:
        message = str(exc)
        if "already exists" in message:
            message = "An account with this email already exists. Sign in instead."
        return render(
            request, "signup.html", 400, error=_sentence(message), next=safe_next(next, ""), form=form
        )
    with request.app.state.engine.connect() as conn:
        user = db_users.session_user(conn, user_id)
    assert user is not None
    sign_in(request, user)
    flash(
        request, f"Welcome to Blendify, {name}! Connect Spotify or Apple Music to see your music.", "success"
    )
    return redirect(safe_next(next, "/connections"))


@router.get("/signin")
def signin_page(request: Request, next: str = "") -> Response:
    if current_user(request):
        return redirect(safe_next(next))
    return render(request, "signin.html", next=safe_next(next, ""), form={})


@router.post("/signin")
def signin(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    engine = request.app.state.engine
    try:
        user_id = password_sign_in(engine, email, password, client_address(request))
    except SignInRefused as exc:
        status = 429 if exc.throttled else 401
        return render(
            request, "signin.html", status, error=exc.message, next=safe_next(next, ""), form={"email": email}
        )
    with engine.connect() as conn:
        user = db_users.session_user(conn, user_id)
    assert user is not None
    sign_in(request, user)
    return redirect(safe_next(next))


@router.post("/signout")
def signout(request: Request) -> Response:
    sign_out(request)
    flash(request, "You are signed out.")
    return redirect("/")


# --- Spotify: sign in, sign up or link --------------------------------------------------------------


@router.post("/auth/spotify/start")
def spotify_start(request: Request, next: Annotated[str, Form()] = "") -> Response:
    """Leave for Spotify with a fresh state and PKCE verifier kept in this browser's session."""
    app = _spotify_app(request)
    state, verifier = secrets.token_urlsafe(24), make_code_verifier()
    request.session["spotify_oauth"] = {
        "state": state,
        "verifier": verifier,
        "at": int(time.time()),
        "link": current_user(request) is not None,
        "next": safe_next(next, ""),
    }
    url = authorize_url(app, state=state, challenge=code_challenge(verifier), show_dialog=True)
    return RedirectResponse(url, status_code=303)


def spotify_publish_consent(request: Request, back: str, blend_id: uuid.UUID) -> Response:
    """A signed-in member opting in to publishing a blend: Spotify's consent for the read scopes
    plus the playlist write scopes; the callback links the grant and records the opt-in."""
    app = _spotify_app(request)
    state, verifier = secrets.token_urlsafe(24), make_code_verifier()
    request.session["spotify_oauth"] = {
        "state": state,
        "verifier": verifier,
        "at": int(time.time()),
        "link": True,
        "next": back,
        "publish": str(blend_id),
    }
    url = authorize_url(
        app, state=state, challenge=code_challenge(verifier), scopes=SCOPES + PUBLISH_SCOPES, show_dialog=True
    )
    return RedirectResponse(url, status_code=303)


@router.get("/auth/spotify/callback")
def spotify_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    """Spotify sends the browser back here. The state must be the one this session sent (once)."""
    pending = request.session.pop("spotify_oauth", None)
    if (
        not isinstance(pending, dict)
        or not state
        or not hmac.compare_digest(str(pending.get("state")), state)
    ):
        return _oauth_error(
            request,
            "This answer from Spotify does not belong to a sign-in started in this "
            "browser, so it was refused. Start again from Blendify.",
        )
    if time.time() - int(pending.get("at", 0)) > OAUTH_MAX_AGE:
        return _oauth_error(request, "The Spotify sign-in took too long. Start again.")
    if error or not code:
        return _oauth_error(request, f"Spotify did not authorise Blendify ({error or 'no code'}).")
    app = _spotify_app(request)
    try:
        grant = asyncio.run(_exchange(request, app, code, str(pending["verifier"])))
    except ProviderError as exc:
        return _oauth_error(request, f"Spotify refused the sign-in: {exc}")
    user = current_user(request)
    if pending.get("link") and user is not None:
        publish = pending.get("publish")
        if isinstance(publish, str):
            return _link_for_publishing(request, user, grant, publish, str(pending.get("next") or ""))
        return _link(request, user, grant)
    return _sign_in_with_spotify(request, grant, str(pending.get("next") or ""))


@dataclass(frozen=True)
class _Grant:
    payload: TokenPayload
    account_id: str
    display_name: str | None
    email: str | None
    scope: str | None  # what the user granted (None: Spotify did not say)


async def _exchange(request: Request, app: SpotifyApp, code: str, verifier: str) -> _Grant:
    settings = request.app.state.config.settings.provider("spotify")
    http = spotify_http()
    try:
        tokens = await exchange_code(http, app, code=code, verifier=verifier)
        async with SpotifyClient(
            InMemoryTokenSource(tokens), app, api_url=settings.api_url, http=http
        ) as client:
            me = await client.me(FetchStats())
    finally:
        await http.aclose()
    account = str(me.get("account_id") or me.get("id") or "")
    if not account:
        raise ProviderError("Spotify did not say which account signed in")
    expires_in = None
    if tokens.expires_at:
        expires_in = max(1, int((tokens.expires_at - datetime.now(UTC)).total_seconds()))
    payload = TokenPayload(tokens.access_token, tokens.refresh_token, expires_in, account)
    name = me.get("display_name") if isinstance(me.get("display_name"), str) else None
    email = me.get("email") if isinstance(me.get("email"), str) else None
    return _Grant(payload, account, name, email, tokens.scope)


def _link(request: Request, user: dict[str, Any], grant: _Grant) -> Response:
    engine, vault = request.app.state.engine, request.app.state.vault
    with engine.connect() as conn:
        owner = db_connections.spotify_account_owner(conn, grant.account_id)
    if owner is not None and owner != user["id"]:
        return _oauth_error(request, "This Spotify account is already connected to another Blendify account.")
    _, created = db_connections.upsert(engine, vault, user["email"], "spotify", grant.payload)
    flash(
        request,
        "Spotify is connected. Your music is on its way: the first sync starts within a minute."
        if created
        else "Spotify is reconnected; a fresh sync starts within a minute.",
        "success",
    )
    return redirect("/connections")


def _link_for_publishing(
    request: Request, user: dict[str, Any], grant: _Grant, blend_id: str, back: str
) -> Response:
    """The opt-in's way back: the grant replaces the member's Spotify connection, and the opt-in is
    recorded only when Spotify granted the write scopes (otherwise nothing could be published)."""
    engine, vault = request.app.state.engine, request.app.state.vault
    with engine.connect() as conn:
        owner = db_connections.spotify_account_owner(conn, grant.account_id)
        member = db_blends.blend_for_member(conn, uuid.UUID(blend_id), user["id"])
    if owner is not None and owner != user["id"]:
        return _oauth_error(request, "This Spotify account is already connected to another Blendify account.")
    db_connections.upsert(engine, vault, user["email"], "spotify", grant.payload)
    if member is None:  # left the blend while at Spotify
        return redirect("/blends")
    if grant.scope is not None and not set(grant.scope.split()) >= set(PUBLISH_SCOPES):
        flash(
            request,
            "Spotify did not allow Blendify to write playlists, so the blend cannot be put there. "
            "Opt in again and allow it to publish.",
            "warning",
        )
        return redirect(safe_next(back + "#publishing"))
    set_publishing(engine, user["id"], uuid.UUID(blend_id), True, "spotify")
    flash(request, "This blend goes to your Spotify after its next generation.", "success")
    return redirect(safe_next(back + "#publishing"))


def _sign_in_with_spotify(request: Request, grant: _Grant, next: str) -> Response:
    engine, vault = request.app.state.engine, request.app.state.vault
    with engine.connect() as conn:
        owner = db_connections.spotify_account_owner(conn, grant.account_id)
        if owner is None:
            user, status = None, None
        else:
            user, status = (
                db_users.session_user(conn, owner),
                db_connections.connection_status(conn, owner, "spotify"),
            )
    if user is None:
        return _sign_up_with_spotify(request, grant, next)
    if status == "revoked":  # the listener disconnected Spotify: signing in does not reconnect it
        flash(request, "Spotify is disconnected from your account; reconnect it here to sync again.")
    else:
        db_connections.upsert(engine, vault, user["email"], "spotify", grant.payload)  # fresh 6 months
    sign_in(request, user)
    return redirect(safe_next(next))


def _sign_up_with_spotify(request: Request, grant: _Grant, next: str) -> Response:
    engine, vault = request.app.state.engine, request.app.state.vault
    email = None
    if grant.email:
        try:
            email = normalise_email(grant.email)
        except BlendifyError:
            email = None
    if email is not None:
        with engine.connect() as conn:
            if db_users.user_id_by_email(conn, email) is not None:
                return _oauth_error(
                    request,
                    "A Blendify account already uses the email of this Spotify "
                    "account. Sign in with your password, then connect Spotify from "
                    "Connections.",
                )
    else:
        local = re.sub(r"[^a-z0-9._-]", "", grant.account_id.lower())[:48] or "listener"
        email = f"spotify-{local}@{NO_EMAIL_DOMAIN}"
    name = (grant.display_name or "").strip()[:MAX_NAME] or None
    user_id = add_user(engine, email, name, None)
    db_connections.upsert(engine, vault, email, "spotify", grant.payload)
    with engine.connect() as conn:
        user = db_users.session_user(conn, user_id)
    assert user is not None
    sign_in(request, user)
    flash(
        request,
        "Welcome to Blendify! Your Spotify music is on its way: the first sync starts within a minute.",
        "success",
    )
    return redirect(safe_next(next, "/music"))


def _spotify_app(request: Request) -> SpotifyApp:
    """The OAuth client, its redirect the hosted callback (`SPOTIFY_REDIRECT_URI` is the command line's)."""
    config = request.app.state.config
    app = SpotifyApp.from_settings(config.settings.provider("spotify"), "connect Spotify")
    return replace(app, redirect_uri=config.spotify_redirect_uri)


def _oauth_error(request: Request, message: str) -> Response:
    return render(
        request,
        "error.html",
        400,
        title="Spotify sign-in refused",
        message=message,
        retry="/connections" if current_user(request) else "/signin",
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
