"""A simulated world wired into Blendify: the simulator, its settings, demo users and their connections.

Shared by `blendify demo`, `blendify dev --demo`, the tests and the benchmark, so all of them put
users in through the same rows the web app writes (and the connection sensor reads).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import Settings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user, user_id_for
from blendify_assets.simulator import Simulator
from blendify_assets.simulator.world import SimUser

DEMO_CLIENT_ID = "blendify-demo"


@dataclass(frozen=True)
class DemoUser:
    email: str
    user_id: str
    providers: tuple[str, ...]


def simulator_env(settings: Settings, sim: Simulator) -> dict[str, str]:
    """Provider settings pointed at the simulator (the Apple signing key is written 0600 under home)."""
    key_dir = settings.home / "simulator"
    key_dir.mkdir(parents=True, exist_ok=True)
    key_path = key_dir / "apple_private_key.p8"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(sim.apple.private_key_pem)
    key_path.chmod(0o600)
    return {
        **sim.env(),
        "SPOTIFY_CLIENT_ID": os.environ.get("SPOTIFY_CLIENT_ID") or DEMO_CLIENT_ID,
        "APPLE_MUSIC_PRIVATE_KEY_PATH": str(key_path),
    }


def write_simulator_env_file(settings: Settings, env: Mapping[str, str]) -> Path:
    """Write `env` (provider settings for the running simulator) where another terminal can load it
    with `set -a; . FILE; set +a`, so its commands reach the same simulator. No secrets: URLs, a demo
    client id and the path of the simulator's own signing key."""
    path = settings.simulator_env_file
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={shlex.quote(value)}\n" for name, value in sorted(env.items())]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(lines)
    return path


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration (in-process runs read settings from the environment)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _ensure_user(engine: Engine, email: str, name: str) -> str:
    try:
        return str(add_user(engine, email, name))
    except BlendifyError:  # already there from an earlier demo on this home
        with engine.connect() as conn:
            return str(user_id_for(conn, email))


def connect_users(
    engine: Engine,
    vault,
    sim: Simulator,
    providers: tuple[str, ...] = ("spotify", "apple"),
    only: Sequence[SimUser] | None = None,
) -> list[DemoUser]:
    """Every simulated user becomes a Blendify user connected to each of their providers.

    Tokens come from this simulator run, so a second demo on the same home re-authorises the
    connections (the sensor sees them again) instead of failing on stale tokens.
    """
    users = []
    for sim_user in sim.world.users if only is None else only:
        user_id = _ensure_user(engine, sim_user.email, sim_user.display_name)
        connected = []
        if "spotify" in providers and sim_user.on_spotify:
            tokens = sim.spotify.issue_tokens(sim_user.uid)
            connections.upsert(
                engine, vault, sim_user.email, "spotify", TokenPayload.parse(json.dumps(tokens))
            )
            connected.append("spotify")
        if "apple" in providers and sim_user.on_apple:
            token = sim.apple.issue_user_token(sim_user.uid)
            payload = TokenPayload(
                access_token=token, refresh_token=None, expires_in=None, provider_user_id=None
            )
            connections.upsert(engine, vault, sim_user.email, "apple", payload)
            connected.append("apple")
        users.append(DemoUser(sim_user.email, user_id, tuple(connected)))
    return users
