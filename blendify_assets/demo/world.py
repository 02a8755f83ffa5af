"""A simulated world wired into Blendify: the providers' settings pointed at the simulator, demo
users and their connections.

Shared by `blendify demo`, `blendify dev --demo`, the tests and the benchmark, so all of them put
users in through the same rows the web app writes (and the connection sensor reads). What the
simulator knows about each provider it serves is here, by provider name; a provider it does not
serve is reported as not simulated.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from blendify_assets.analytics.blends import create_blend
from blendify_assets.core.errors import BlendifyError
from blendify_assets.core.settings import EnvField, WarehouseSettings
from blendify_assets.db import connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user, user_id_for
from blendify_assets.providers.spec import ProviderSpec
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import Simulator
from blendify_assets.simulator.spotify_accounts import PUBLISH_SCOPE
from blendify_assets.simulator.world import SimUser

DEMO_CLIENT_ID = "blendify-demo"
BLEND_ALGORITHMS = ("balanced", "weighted", "discovery")


@dataclass(frozen=True)
class DemoUser:
    email: str
    user_id: str
    providers: tuple[str, ...]


def _spotify_connection(sim: Simulator, user: SimUser) -> TokenPayload | None:
    """Demo members consent as `blendify connect spotify --publish` asks: their blends can be
    published to their simulated Spotify accounts."""
    if not user.on_spotify:
        return None
    return TokenPayload.parse(json.dumps(sim.spotify.issue_tokens(user.uid, scope=PUBLISH_SCOPE)))


def _apple_connection(sim: Simulator, user: SimUser) -> TokenPayload | None:
    if not user.on_apple:
        return None
    return TokenPayload(sim.apple.issue_user_token(user.uid), None, None, None)


def _apple_key(sim: Simulator, home: Path) -> str:
    """The simulator's signing key, written 0600 under home (its path is a setting, the key is not)."""
    key_dir = home / "simulator"
    key_dir.mkdir(parents=True, exist_ok=True)
    key_path = key_dir / "apple_private_key.p8"
    pem = sim.apple.private_key_pem
    if pem is None:
        raise BlendifyError("this simulator was configured with a public Apple key only: it cannot sign")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
    key_path.chmod(0o600)
    return str(key_path)


SIMULATED: dict[str, Callable[[Simulator, SimUser], TokenPayload | None]] = {
    "spotify": _spotify_connection,
    "apple": _apple_connection,
}
"""How the simulator issues one user's connection to each provider it serves (None: not a user there)."""

_VALUES: dict[str, Callable[[Simulator, Path], dict[str, str]]] = {
    "spotify": lambda sim, home: {
        "api_url": sim.spotify_api_url,
        "accounts_url": sim.spotify_accounts_url,
        "client_id": os.environ.get("SPOTIFY_CLIENT_ID") or DEMO_CLIENT_ID,
    },
    "apple": lambda sim, home: {
        "api_url": sim.apple_music_api_url,
        "team_id": sim.apple.team_id,
        "key_id": sim.apple.key_id,
        "private_key_path": _apple_key(sim, home),
        "musickit_js_url": sim.musickit_js_url,  # the stand-in MusicKit the web app's connect page loads
    },
}


def simulated(specs: Sequence[ProviderSpec[Any]]) -> list[ProviderSpec[Any]]:
    return [spec for spec in specs if spec.name in SIMULATED]


def simulator_values(
    sim: Simulator, home: Path, specs: Sequence[ProviderSpec[Any]]
) -> dict[str, dict[str, str]]:
    """Each simulated provider's settings (field -> value) pointed at `sim`. None is a secret: URLs,
    the demo client id and the path of the simulator's own signing key."""
    return {spec.name: _VALUES[spec.name](sim, home) for spec in simulated(specs)}


def simulator_env(
    values: Mapping[str, Mapping[str, str]], specs: Sequence[ProviderSpec[Any]]
) -> dict[str, str]:
    """The same settings as environment variables (for `dagster dev`'s processes and other terminals)."""
    env: dict[str, str] = {}
    for spec in specs:
        fields: tuple[EnvField, ...] = spec.settings.ENV
        names = {f.field: f.env for f in fields}
        env |= {names[field]: value for field, value in values.get(spec.name, {}).items()}
    return env


def write_simulator_env_file(settings: WarehouseSettings, env: Mapping[str, str]) -> Path:
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


def _ensure_user(engine: Engine, email: str, name: str) -> str:
    try:
        return str(add_user(engine, email, name))
    except BlendifyError:  # already there from an earlier demo on this home
        with engine.connect() as conn:
            return str(user_id_for(conn, email))


def connect_users(
    engine: Engine,
    vault: Vault,
    sim: Simulator,
    specs: Sequence[ProviderSpec[Any]],
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
        for spec in simulated(specs):
            payload = SIMULATED[spec.name](sim, sim_user)
            if payload is not None:
                connections.upsert(engine, vault, sim_user.email, spec.name, payload)
                connected.append(spec.name)
        users.append(DemoUser(sim_user.email, user_id, tuple(connected)))
    return users


def request_blends(engine: Engine, users: Sequence[DemoUser], stamp: str) -> list[str]:
    """One blend of each algorithm among the first connected users, created without tracks: the
    new-blends sensor registers them, and their automation generates each one as soon as the first
    syncs have landed (`blendify dev --demo`: the whole graph fills within minutes)."""
    members = [u.email for u in users if u.providers][:4]
    if len(members) < 2:
        return []
    return [
        str(
            create_blend(
                engine, f"Demo {algorithm} blend ({stamp})", members, algorithm,
                weights=[float(len(members) - i) for i in range(len(members))] if algorithm == "weighted" else None,
                size=30, description="Built by `blendify dev --demo`", creator_email=members[0],
            )
        )
        for algorithm in BLEND_ALGORITHMS
    ]  # fmt: skip
