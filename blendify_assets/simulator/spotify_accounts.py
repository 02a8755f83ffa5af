"""Spotify accounts service: /authorize, /api/token, and the token store the Web API checks.

Consent is granted automatically. Pick the simulated user with `login_hint=<sim user id, email or
Spotify id>` on /authorize (default: the first Spotify user); with `show_dialog=true` and no hint, a
stand-in consent page asks which simulated user signs in (the web app's tests click through it). Access tokens expire after
`access_token_lifetime` seconds of wall time or of simulated time, whichever passes first, so tests
can either sleep or advance the clock. Refresh tokens live 6 months from the authorisation (on the
simulated clock), rotate when `rotate_refresh_tokens` is set (the old one then fails), and fail with
400 invalid_grant once revoked or expired. Without rotation a refresh answer carries no
refresh_token, as Spotify documents ("continue using the existing token").
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import python_multipart  # noqa: F401 - Starlette parses the token endpoint's form with it; missing, fail on import
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from blendify_assets.simulator.world import DAY_MS, World

DEFAULT_SCOPE = ("user-read-private user-top-read user-read-recently-played playlist-read-private "
                 "playlist-read-collaborative user-library-read user-follow-read")  # fmt: skip
PUBLISH_SCOPE = DEFAULT_SCOPE + " playlist-modify-public playlist-modify-private"


@dataclass
class _Access:
    uid: str
    issued_wall: float
    issued_sim_ms: int
    lifetime: int
    scope: str
    revoked: bool = False


@dataclass
class _Refresh:
    uid: str
    authorized_sim_ms: int
    scope: str
    valid: bool = True


@dataclass
class _Code:
    uid: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str | None
    scope: str
    created: float


class SpotifyAuth:
    """Issues, checks and revokes simulated Spotify tokens (`sim.spotify`)."""

    def __init__(self, world: World, lifetime: int, rotate: bool, refresh_lifetime_days: int) -> None:
        self.world = world
        self.lifetime = lifetime
        self.rotate = rotate
        self.refresh_lifetime_ms = refresh_lifetime_days * DAY_MS
        self._lock = threading.Lock()
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, _Code] = {}

    # --- public helpers for tests -------------------------------------------------------------------

    def issue_tokens(
        self, sim_user_id: str, expires_in: int | None = None, scope: str = DEFAULT_SCOPE
    ) -> dict:
        """Tokens for a user as if they had just authorised (skips the browser dance)."""
        user = self.world.user(sim_user_id)
        if not user.on_spotify:
            raise ValueError(f"{sim_user_id} has no Spotify account in this world")
        refresh = "AQ" + secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[refresh] = _Refresh(sim_user_id, self.world.now_ms, scope)
        out = self._new_access(sim_user_id, scope, expires_in)
        out["refresh_token"] = refresh
        return out

    def revoke(self, sim_user_id: str) -> None:
        """The user revoked access: refresh gives invalid_grant, access tokens give 401."""
        with self._lock:
            for rec in self._refresh.values():
                if rec.uid == sim_user_id:
                    rec.valid = False
            for acc in self._access.values():
                if acc.uid == sim_user_id:
                    acc.revoked = True

    def expire_access_tokens(self, sim_user_id: str) -> None:
        """Every current access token of the user now answers 401 'The access token expired'."""
        with self._lock:
            for acc in self._access.values():
                if acc.uid == sim_user_id:
                    acc.lifetime = 0

    def check(self, token: str) -> tuple[str | None, str | None]:
        """(sim user id, None) for a valid access token, else (None, the 401 message)."""
        acc = self._access.get(token)
        if acc is None or acc.revoked:
            return None, "Invalid access token"
        if (time.time() - acc.issued_wall >= acc.lifetime
                or self.world.now_ms - acc.issued_sim_ms >= acc.lifetime * 1000):  # fmt: skip
            return None, "The access token expired"
        return acc.uid, None

    def user_of(self, token: str) -> str | None:
        acc = self._access.get(token)
        return acc.uid if acc else None

    def scopes_of(self, token: str) -> frozenset[str]:
        """The scopes the user granted with this access token (write routes check them)."""
        acc = self._access.get(token)
        return frozenset(acc.scope.split()) if acc else frozenset()

    # --- internals ----------------------------------------------------------------------------------

    def _new_access(self, uid: str, scope: str, expires_in: int | None = None) -> dict:
        lifetime = self.lifetime if expires_in is None else expires_in
        token = "BQ" + secrets.token_urlsafe(64)
        with self._lock:
            self._access[token] = _Access(uid, time.time(), self.world.now_ms, lifetime, scope)
        return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": scope}

    def authorize(self, request: Request) -> Response:
        """Consent is automatic for `login_hint` (or the first Spotify user); with
        `show_dialog=true` and no hint, a stand-in consent page lets the person pick who signs in."""
        params = dict(request.query_params)
        problem = _bad_authorize_request(params)
        if problem is not None:
            return problem
        if params.get("show_dialog") == "true" and not params.get("login_hint"):
            return HTMLResponse(self._consent_page(params))
        return self._grant(params, params.get("login_hint"))

    async def consent(self, request: Request) -> Response:
        """The consent page's answer: the authorize parameters, the chosen user, agree or cancel."""
        form = await request.form()
        params = {k: str(v) for k, v in form.items() if k in _AUTHORIZE_PARAMS}
        problem = _bad_authorize_request(params)
        if problem is not None:
            return problem
        if form.get("action") != "agree":
            return _back(params, error="access_denied")
        return self._grant(params, str(form.get("user") or "") or None)

    def _grant(self, params: dict[str, str], hint: str | None) -> Response:
        user = self.world.find_user(hint)
        if user is None or not user.on_spotify:
            return _back(params, error="access_denied")
        code = "AQ" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(user.uid, params["client_id"], params["redirect_uri"],
                                      params.get("code_challenge"), params.get("code_challenge_method"),
                                      params.get("scope") or DEFAULT_SCOPE, time.time())  # fmt: skip
        return _back(params, code=code)

    def _consent_page(self, params: dict[str, str]) -> str:
        esc = html.escape
        hidden = "".join(
            f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
            for k, v in params.items()
            if k in _AUTHORIZE_PARAMS
        )
        options = "".join(
            f'<option value="{esc(u.uid)}">{esc(u.display_name)} ({esc(u.email)})</option>'
            for u in self.world.users
            if u.on_spotify
        )
        scopes = "".join(f"<li>{esc(s)}</li>" for s in (params.get("scope") or DEFAULT_SCOPE).split())
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Spotify (simulator): authorise {esc(params["client_id"])}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>Spotify simulator</h1>
<p><strong>{esc(params["client_id"])}</strong> asks to:</p><ul>{scopes}</ul>
<form method="post" action="authorize">{hidden}
<label>Sign in as <select name="user" id="user">{options}</select></label>
<p><button name="action" value="agree" id="agree">Agree</button>
<button name="action" value="cancel" id="cancel">Cancel</button></p></form></body></html>"""

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = form.get("grant_type")
        client_id = form.get("client_id") or _basic_client(request)
        if not client_id:
            return _oauth_error("invalid_client", "Invalid client")
        if grant == "authorization_code":
            return self._exchange_code(form, str(client_id))
        if grant == "refresh_token":
            return self._refresh_grant(str(form.get("refresh_token") or ""))
        return _oauth_error(
            "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
        )

    def _exchange_code(self, form: object, client_id: str) -> Response:
        get = form.get  # type: ignore[attr-defined]
        with self._lock:
            code = self._codes.pop(str(get("code") or ""), None)
        if code is None:
            return _oauth_error("invalid_grant", "Invalid authorization code")
        if time.time() - code.created > 600:
            return _oauth_error("invalid_grant", "Authorization code expired")
        if code.client_id != client_id:
            return _oauth_error("invalid_client", "Invalid client")
        if get("redirect_uri") != code.redirect_uri:
            return _oauth_error("invalid_grant", "Invalid redirect URI")
        if code.challenge:
            verifier = str(get("code_verifier") or "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if not verifier or not secrets.compare_digest(digest, code.challenge):
                return _oauth_error("invalid_grant", "code_verifier was incorrect")
        elif get("code_verifier"):
            return _oauth_error("invalid_grant", "code_verifier was incorrect")
        return JSONResponse(self.issue_tokens(code.uid, scope=code.scope))

    def _refresh_grant(self, refresh_token: str) -> Response:
        with self._lock:
            rec = self._refresh.get(refresh_token)
            expired = rec is not None and self.world.now_ms - rec.authorized_sim_ms > self.refresh_lifetime_ms
            if rec is None or not rec.valid or expired:
                return _oauth_error("invalid_grant", "Refresh token revoked")
            new_refresh = None
            if self.rotate:
                rec.valid = False
                new_refresh = "AQ" + secrets.token_urlsafe(48)
                self._refresh[new_refresh] = _Refresh(rec.uid, rec.authorized_sim_ms, rec.scope)
        out = self._new_access(rec.uid, rec.scope)
        if new_refresh:
            out["refresh_token"] = new_refresh
        return JSONResponse(out)

    def routes(self) -> list[Route]:
        return [Route("/authorize", self.authorize, methods=["GET"]),
                Route("/authorize", self.consent, methods=["POST"]),
                Route("/api/token", self.token, methods=["POST"])]  # fmt: skip


_AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                     "code_challenge_method", "show_dialog")  # fmt: skip


def _back(params: dict[str, str], **answer: str) -> Response:
    """Redirect to the client's redirect_uri with the answer (and the state it sent)."""
    redirect_uri = params["redirect_uri"]
    if params.get("state") is not None:
        answer["state"] = params["state"]
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{sep}{urlencode(answer)}", status_code=302)


def _bad_authorize_request(params: dict[str, str]) -> Response | None:
    """What Spotify answers to a malformed authorize request, or None when it is well formed."""
    if not params.get("client_id"):
        return JSONResponse({"error": "invalid_client", "error_description": "Invalid client"}, 400)
    if not params.get("redirect_uri"):
        return JSONResponse({"error": "invalid_request", "error_description": "Invalid redirect URI"}, 400)
    if params.get("response_type") != "code":
        return _back(params, error="unsupported_response_type")
    if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
        return _back(params, error="invalid_request")
    return None


def _basic_client(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:]).decode().split(":", 1)[0] or None
    except ValueError:
        return None


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
