"""`blendify dev --demo`: a sign-in link for the simulated demo users (no passwords to hand out).

Only when the app was started with a demo token (never by `blendify web`): the link printed in the
terminal carries it, and the page lists the simulator's users to sign in as.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from blendify_assets.db import connections as db_connections
from blendify_assets.db import users as db_users
from blendify_assets.web.pages import label, redirect, render
from blendify_assets.web.security import NotFound, parse_uuid, sign_in

router = APIRouter(include_in_schema=False)
DEMO_DOMAIN = "@sim.blendify.test"


def _check(request: Request, token: str) -> None:
    expected = request.app.state.config.demo_signin_token
    if not expected or not hmac.compare_digest(expected, token):
        raise NotFound


@router.get("/demo/{token}")
def demo_page(request: Request, token: str) -> Response:
    _check(request, token)
    with request.app.state.engine.connect() as conn:
        users = db_connections.demo_users(conn, DEMO_DOMAIN)
    return render(
        request, "demo.html", users=[{**u, "label": label(u["display_name"])} for u in users], token=token
    )


@router.post("/demo/{token}")
def demo_sign_in(request: Request, token: str, user_id: Annotated[str, Form()] = "") -> Response:
    _check(request, token)
    with request.app.state.engine.connect() as conn:
        user = db_users.session_user(conn, parse_uuid(user_id))
    if user is None or not user["email"].endswith(DEMO_DOMAIN):
        raise NotFound
    sign_in(request, user)
    return redirect("/music")
