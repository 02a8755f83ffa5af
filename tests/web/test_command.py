"""`blendify web` as a real process, and the rules its pieces follow (password policy, blend
membership), against a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from blendify_assets.blends_service import (
    add_member,
    create_open_blend,
    generate_blend_tracks,
    remove_member,
    set_member_weight,
)
from blendify_assets.db.accounts import add_user
from blendify_assets.db.engine import create_engine
from blendify_assets.errors import BlendifyError
from blendify_assets.security.passwords import password_problem

BLENDIFY = str(Path(sys.executable).with_name("blendify"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_blendify_web_serves_and_stops(blendify_env) -> None:
    subprocess.run([BLENDIFY, "db", "upgrade"], check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [BLENDIFY, "web", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "blendify web did not answer within 60 s"
                time.sleep(0.3)
        assert response.status_code == 200 and "Sign in" in response.text
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        assert "default-src 'self'" in response.headers["content-security-policy"]
        spec = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json").json()
        assert "/api/v1/blends/{blend_id}" in spec["paths"]
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/me").status_code == 401
        assert (Path(blendify_env["BLENDIFY_HOME"]) / "session.key").stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert "BLENDIFY_SESSION_SECRET is not set" in stderr  # the local secret is announced, never shown
    secret = (Path(blendify_env["BLENDIFY_HOME"]) / "session.key").read_text().strip()
    assert secret not in stderr


def test_blendify_web_beyond_this_machine_needs_a_session_secret(blendify_env) -> None:
    result = subprocess.run(
        [BLENDIFY, "web", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: BLENDIFY_SESSION_SECRET must be set")
    short = subprocess.run(
        [BLENDIFY, "web"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "BLENDIFY_SESSION_SECRET": "too short"},
    )  # fmt: skip
    assert short.returncode == 1 and "at least 32 characters" in short.stderr
    assert "too short" not in short.stderr


def test_a_deployment_sets_secure_cookies(web_env, monkeypatch) -> None:
    from blendify_assets.settings import load_settings
    from blendify_assets.web.config import web_config

    monkeypatch.setenv("BLENDIFY_WEB_URL", "https://blendify.example")
    monkeypatch.setenv("BLENDIFY_SESSION_SECRET", "s" * 40)
    config = web_config(load_settings(), "0.0.0.0", 8000)
    assert (
        config.secure_cookies
        and config.spotify_redirect_uri == "https://blendify.example/auth/spotify/callback"
    )
    assert "s" * 40 not in repr(config)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8"),
        ("password123", "most common"),
        ("aaaaaaaaaaaa", "most common"),
        ("ada@example.com", "email"),
        ("correct horse battery", None),
        ("ünïcødé pässwörd ✓", None),
    ],
)
def test_password_policy(password: str, problem: str | None) -> None:
    found = password_problem(password, "ada@example.com")
    assert (found is None) if problem is None else (problem in found)


def test_blend_membership_rules(blendify_env) -> None:
    engine = create_engine(blendify_env["BLENDIFY_DATABASE_URL"])  # as the app role: its grants suffice
    ids = [add_user(engine, f"m{i}@example.com", f"Member {i}") for i in range(11)]
    blend = create_open_blend(engine, "Open", ids[0], "weighted", 20)
    waiting = generate_blend_tracks(engine, blend)  # one member: a no-op that says why, not an error
    assert waiting.tracks == 0 and "waiting for members" in (waiting.note or "")
    with engine.begin() as conn:
        assert add_member(conn, blend, ids[1]) is True
        assert add_member(conn, blend, ids[1]) is False  # already in
        for uid in ids[2:10]:
            add_member(conn, blend, uid)
    with pytest.raises(BlendifyError, match="at most 10"), engine.begin() as conn:
        add_member(conn, blend, ids[10])
    set_member_weight(engine, blend, ids[1], 3.0)
    with pytest.raises(BlendifyError, match="weights must be"):
        set_member_weight(engine, blend, ids[1], 0)
    assert remove_member(engine, blend, ids[1]) is True
    assert remove_member(engine, blend, ids[1]) is False
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM blend_participants WHERE blend_id = :b"), {"b": blend}
            ).scalar()
            == 9
        )
    with pytest.raises(BlendifyError, match="a blend needs a name"):
        create_open_blend(engine, " ", ids[0], "balanced")
    with pytest.raises(BlendifyError, match="no such user"):
        create_open_blend(engine, "x", uuid.uuid4(), "balanced")
    engine.dispose()
