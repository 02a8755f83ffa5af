"""Who is signed in, CSRF, sign-in throttling, and the small checks every route relies on.

Sessions are Starlette's signed cookies (itsdangerous; HttpOnly, SameSite=Lax, Secure outside
localhost). A cookie whose signature does not verify is ignored, which signs the browser out. The
session also carries a fingerprint of the user's password hash, so a session from before a
password change (or of a deleted user) is dropped on its next request.

CSRF uses the synchroniser-token pattern: one random token per session, sent back in every form
(`csrf_token`) or in the `X-CSRF-Token` header of API calls, and compared in constant time on every
request that is not GET, HEAD or OPTIONS; a cross-site `Origin` is refused as well. The check is an
application-wide dependency, so a new route cannot forget it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy.engine import Engine

from blendify_assets.db import login_attempts as db_login_attempts
from blendify_assets.db import users as db_users
from blendify_assets.db import web_sessions as db_web_sessions
from blendify_assets.security.passwords import spend_verify_time, verify_password
from blendify_assets.web.config import SESSION_MAX_AGE

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

SIGNIN_WINDOW = timedelta(minutes=15)
MAX_FAILED_SIGNINS = 10  # per account in the window (since its last success)
MAX_FAILED_FROM_CLIENT = 100  # per client address in the window, whatever the accounts
WRONG_CREDENTIALS = "Email or password is incorrect."


class SignInRequired(Exception):
    """Raised by `require_user`; pages redirect to the sign-in page, the API answers 401."""


class CsrfRejected(Exception):
    """A state-changing request without this session's CSRF token (or from another site)."""


class NotFound(Exception):
    """Anything the signed-in user may not see answers 404, exactly like what does not exist."""


def now_utc() -> datetime:
    """Naive UTC, as the warehouse's `timestamp` columns hold it."""
    return datetime.now(UTC).replace(tzinfo=None)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_uuid(value: str) -> uuid.UUID:
    """A path id; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise NotFound from None


# --- sessions ----------------------------------------------------------------------------------------


def _fingerprint(secret: str, user: dict[str, Any]) -> str:
    material = f"{user['id']}:{user.get('password_hash') or ''}".encode()
    return hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()[:32]


def sign_in(request: Request, user: dict[str, Any]) -> None:
    """A fresh session for `user`, stored server-side (nothing of the anonymous one is kept but where
    to go next; a session this browser already had is revoked, so an id can never be fixed)."""
    keep = {k: request.session[k] for k in ("invite_next",) if k in request.session}
    _revoke(request)
    request.session.clear()
    request.session.update(keep)
    sid = secrets.token_urlsafe(32)
    with request.app.state.engine.begin() as conn:
        db_web_sessions.create(conn, sha256(sid), user["id"], now_utc() + SESSION_MAX_AGE)
    request.session["sid"] = sid
    request.session["uid"] = str(user["id"])
    request.session["auth"] = _fingerprint(request.app.state.config.session_secret, user)
    request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    request.state.user = user


def sign_out(request: Request) -> None:
    """Revoke the session in the database, then forget it: a copy of the cookie no longer signs in."""
    _revoke(request)
    request.session.clear()
    request.state.user = None


def _revoke(request: Request) -> None:
    sid = request.session.get("sid")
    if isinstance(sid, str) and sid:
        with request.app.state.engine.begin() as conn:
            db_web_sessions.revoke(conn, sha256(sid), now_utc())


def current_user(request: Request) -> dict[str, Any] | None:
    """The signed-in user's row, once per request: the cookie's session must be live in the database
    (not signed out, not expired) and made for this user and password; otherwise it is cleared."""
    if hasattr(request.state, "user"):
        return request.state.user
    user = None
    sid = request.session.get("sid")
    if request.session.get("uid"):
        if isinstance(sid, str) and sid:
            with request.app.state.engine.connect() as conn:
                user = db_web_sessions.signed_in_user(conn, sha256(sid), now_utc())
        expected = _fingerprint(request.app.state.config.session_secret, user) if user else None
        if (
            user is None
            or str(user["id"]) != str(request.session.get("uid"))
            or not hmac.compare_digest(str(request.session.get("auth", "")), expected or "x")
        ):
            request.session.clear()
            user = None
    request.state.user = user
    return user


def require_user(request: Request) -> dict[str, Any]:
    user = current_user(request)
    if user is None:
        raise SignInRequired
    return user


# --- CSRF ----------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(token)


async def csrf_protect(request: Request) -> None:
    """Every unsafe request carries the session's token (form field or header) from our own origin."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin not in _own_origins(request):
        raise CsrfRejected
    expected = request.session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached on the request: the route reads the same form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise CsrfRejected


def _own_origins(request: Request) -> set[str]:
    served = f"{request.url.scheme}://{request.url.netloc}"
    return {served, request.app.state.config.origin}


def safe_next(value: str | None, default: str = "/music") -> str:
    """Where to go after signing in: a path on this site only (never //host or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- password sign-in, throttled in Postgres -----------------------------------------------------------


class SignInRefused(Exception):
    """The one message a sign-in shows; `throttled` answers 429 instead of 401."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.throttled = throttled


def account_key(email: str) -> str:
    """How an attempt names its account: a hash, since an attempt may name an address nobody has."""
    return sha256("signin:" + email.strip().lower())


def password_sign_in(engine: Engine, email: str, password: str, client: str | None) -> uuid.UUID:
    """The user id for a right email and password, else SignInRefused with one message for an
    unknown email, a wrong password and a password-less account alike.

    Attempts on one account are serialised by an advisory lock and counted in `login_attempts`,
    so the limit holds across every web worker process: after MAX_FAILED_SIGNINS failures in
    SIGNIN_WINDOW (since the last success) the account answers "try again later" without checking
    the password, until the oldest of those failures leaves the window.
    """
    normalised = email.strip().lower()
    key = account_key(normalised)
    now = now_utc()
    since = now - SIGNIN_WINDOW
    with engine.begin() as conn:
        db_login_attempts.lock_account_key(conn, key)
        if db_login_attempts.failed_signins_since(conn, key, since) >= MAX_FAILED_SIGNINS:
            oldest = db_login_attempts.oldest_counted_failure(conn, key, since, MAX_FAILED_SIGNINS) or now
            minutes = max(1, round((oldest + SIGNIN_WINDOW - now).total_seconds() / 60))
            raise SignInRefused(
                f"Too many wrong passwords for this account. Try again in {minutes} minute(s).", True
            )
        if (
            client
            and db_login_attempts.failed_signins_from_client(conn, client, since) >= MAX_FAILED_FROM_CLIENT
        ):
            raise SignInRefused("Too many failed sign-ins from your address. Try again later.", True)
        user = db_users.user_for_signin(conn, normalised)
        if user and user["password_hash"]:
            ok = verify_password(user["password_hash"], password)
        else:
            spend_verify_time(password)
            ok = False
        db_login_attempts.record_signin(conn, key, client, ok)
    if not ok or user is None:
        raise SignInRefused(WRONG_CREDENTIALS)
    return user["id"]
