"""`simulator serve` starts, prints the base URLs, serves, and stops on SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
from click.testing import CliRunner

from blendify_assets.simulator.cli import simulator


def test_help_lists_options() -> None:
    result = CliRunner().invoke(simulator, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--users", "--seed", "--extended-quota"):
        assert option in result.output


def test_serve_in_the_foreground() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "blendify_assets.simulator.cli", "serve", "--users", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        urls: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            urls[key] = value
            if key == "APPLE_MUSIC_API_URL":
                break
        api = urls["SPOTIFY_API_URL"]
        assert api.startswith("http://127.0.0.1:") and api.endswith("/spotify/v1")
        assert urls["SPOTIFY_ACCOUNTS_URL"].endswith("/spotify-accounts")
        base = api.removesuffix("/spotify/v1")
        users = httpx.get(f"{base}/_simulator/users").json()
        assert len(users) == 3
        spotify_user = next(u["sim_user_id"] for u in users if u["spotify"])
        tokens = httpx.post(f"{base}/_simulator/spotify/tokens", params={"user": spotify_user}).json()
        me = httpx.get(f"{api}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
