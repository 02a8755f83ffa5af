"""What the web app needs beyond Settings: its public address, the session secret, cookie flags."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from blendify_assets.core.errors import SettingsError
from blendify_assets.core.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
SESSION_MAX_AGE = timedelta(days=14)
LOCAL_SECRET_WARNING = (
    "BLENDIFY_SESSION_SECRET is not set: session cookies are signed with the local secret in {path}. "
    "Fine on this machine; a deployment must set BLENDIFY_SESSION_SECRET."
)


@dataclass(frozen=True)
class WebConfig:
    settings: Settings
    base_url: str  # scheme://host[:port], no trailing slash
    session_secret: str
    secure_cookies: bool
    demo_signin_token: str | None = None  # `blendify dev --demo`: a sign-in link for the demo users

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"WebConfig(base_url={self.base_url!r}, secure_cookies={self.secure_cookies})"

    @property
    def spotify_redirect_uri(self) -> str:
        return f"{self.base_url}/auth/spotify/callback"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK_HOSTS or (host or "").startswith("127.")


def web_config(settings: Settings, host: str, port: int, demo_signin_token: str | None = None) -> WebConfig:
    """The public address is BLENDIFY_WEB_URL, else the address served. Cookies are Secure unless
    that address is this machine; a secret must be set unless both addresses are loopback."""
    base_url = (settings.web.url or f"http://{'[' + host + ']' if ':' in host else host}:{port}").rstrip("/")
    local = is_loopback(host) and is_loopback(urlsplit(base_url).hostname)
    secret = settings.web.session_secret
    if secret is None:
        if not local:
            raise SettingsError(
                "BLENDIFY_SESSION_SECRET must be set to serve the web app beyond this machine "
                '(make one with `python -c "import secrets; print(secrets.token_urlsafe(48))"`)'
            )
        secret = local_session_secret(settings)
    return WebConfig(
        settings=settings,
        base_url=base_url,
        session_secret=secret,
        secure_cookies=not is_loopback(urlsplit(base_url).hostname),
        demo_signin_token=demo_signin_token,
    )


def local_session_secret(settings: Settings) -> str:
    """The secret in $BLENDIFY_HOME/session.key (0600), created once; concurrent starters agree
    on one (the file is linked into place, never written in place)."""
    path = settings.warehouse.local_session_secret_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".session.key.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
                os.link(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    log.warning(LOCAL_SECRET_WARNING.format(path=path))
    return path.read_text().strip()
