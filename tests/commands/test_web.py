"""`blendify web` as a real process against a real PostgreSQL: it serves, stops, and refuses to
serve beyond this machine without a session secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fixtures.servers import free_port

BLENDIFY = str(Path(sys.executable).with_name("blendify"))


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
