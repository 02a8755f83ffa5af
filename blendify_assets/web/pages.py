"""Rendering: the Jinja2 environment, the helpers templates use, and flash messages."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from blendify_assets.web.security import csrf_token, current_user

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

NO_NAME = "A Blendify listener"
PROVIDER_NAMES = {"spotify": "Spotify", "apple": "Apple Music"}
RANGE_NAMES = {"short_term": "This month", "medium_term": "Last 6 months", "long_term": "All time"}
_EMAIL = re.compile(r"[^\s@<>()\"',;:]+@[^\s@<>()\"',;:]+\.[A-Za-z]{2,}")


def label(name: str | None) -> str:
    """What other people are called on every page: their display name, never their email."""
    return name.strip() if name and name.strip() else NO_NAME


def initials(name: str | None) -> str:
    words = [w for w in re.split(r"[\s._-]+", label(name)) if w]
    letters = "".join(w[0] for w in words[:2]).upper()
    return letters or "?"


def tone(key: object) -> int:
    """A stable avatar colour per user: one of the stylesheet's 12 (h0 .. h11)."""
    return int(hashlib.sha256(str(key).encode()).hexdigest()[:4], 16) % 12


def width_class(percent: float | None) -> str:
    """A bar's width as one of the stylesheet's classes (w0 .. w100; no inline styles under CSP)."""
    value = max(0.0, min(100.0, float(percent or 0)))
    return f"w{int(round(value / 5) * 5)}"


def scrub_emails(text: str, replacements: Mapping[str, str] | None = None) -> str:
    """Stored reasons name members by label, which for an account without a display name was its
    email: known addresses become the member's label, any other address is removed."""
    for email, name in (replacements or {}).items():
        text = text.replace(email, name)
    return _EMAIL.sub("someone", text)


def when(moment: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    return moment.strftime(fmt) + " UTC" if moment else "never"


def day(moment: datetime | None) -> str:
    return moment.strftime("%-d %b %Y") if moment else ""


def duration(ms: int | None) -> str:
    if not ms:
        return ""
    seconds = int(ms) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


templates.env.globals.update(
    label=label,
    initials=initials,
    tone=tone,
    width_class=width_class,
    provider_name=lambda p: PROVIDER_NAMES.get(str(p), str(p)),
    range_name=lambda r: RANGE_NAMES.get(str(r), str(r)),
    when=when,
    day=day,
    duration=duration,
)


def flash(request: Request, text: str, kind: str = "info") -> None:
    """A message for the next page this browser renders (kept in the signed session)."""
    request.session.setdefault("flash", []).append([kind, text])
    request.session["flash"] = request.session["flash"][-5:]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    messages = request.session.pop("flash", []) if "flash" in request.session else []
    context.update(
        request=request,
        user=current_user(request),
        csrf=csrf_token(request),
        messages=messages,
        config=request.app.state.config,
    )
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    """After a form: see-other, so a reload does not post again."""
    return RedirectResponse(path, status_code=303)


def escape(text: str) -> str:
    return html.escape(text)
