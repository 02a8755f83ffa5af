"""`blendify simulator serve`: run the simulated provider APIs in the foreground."""

from __future__ import annotations

import os
import signal
import tempfile

import click

from blendify_assets.simulator.config import SimulatorConfig
from blendify_assets.simulator.server import Simulator


@click.group("simulator")
def simulator() -> None:
    """Local Spotify and Apple Music APIs over a deterministic simulated world."""


@simulator.command("serve")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port."
)
@click.option("--users", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--extended-quota", is_flag=True, help="Serve extended-quota shapes (popularity, followers...)."
)
def serve(port: int, users: int, seed: int, extended_quota: bool) -> None:
    """Serve until interrupted; print the base URLs and how to get tokens."""
    config = SimulatorConfig(users=users, seed=seed, port=port, extended_quota=extended_quota)
    sim = Simulator(config)
    try:
        sim.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    key_path = ""
    if sim.apple.private_key_pem:
        fd, key_path = tempfile.mkstemp(prefix="blendify-sim-apple-", suffix=".p8")
        with os.fdopen(fd, "w") as fh:
            fh.write(sim.apple.private_key_pem)
    admin = f"{sim.base_url}/_simulator"
    first = next((u.uid for u in sim.world.users if u.on_spotify), "user0001")
    first_apple = next((u.uid for u in sim.world.users if u.on_apple), None)
    click.echo(f"SPOTIFY_API_URL={sim.spotify_api_url}")
    click.echo(f"SPOTIFY_ACCOUNTS_URL={sim.spotify_accounts_url}")
    click.echo(f"APPLE_MUSIC_API_URL={sim.apple_music_api_url}")
    click.echo(f"APPLE_MUSIC_TEAM_ID={sim.apple.team_id}")
    click.echo(f"APPLE_MUSIC_KEY_ID={sim.apple.key_id}")
    if key_path:
        click.echo(f"APPLE_MUSIC_PRIVATE_KEY_PATH={key_path}")
    click.echo("")
    click.echo(f"{users} simulated users (seed {seed}); list them: curl {admin}/users")
    click.echo(f"Spotify tokens:   curl -X POST '{admin}/spotify/tokens?user={first}'")
    click.echo(
        f"  or OAuth+PKCE:  {sim.spotify_accounts_url}/authorize?...&login_hint={first} (consent is automatic)"
    )
    if first_apple:
        click.echo(f"Apple user token: curl -X POST '{admin}/apple/user-token?user={first_apple}'")
    click.echo(f"Apple dev token:  curl {admin}/apple/developer-token   (or sign one with the key above)")
    click.echo(f"Advance time:     curl -X POST '{admin}/clock/advance?hours=6'")
    click.echo("Press Ctrl+C to stop.")

    def on_signal(signum: int, frame: object) -> None:
        if sim._server is not None:
            sim._server.should_exit = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sim.serve_forever()
    finally:
        sim.stop()
        if key_path:
            os.unlink(key_path)


if __name__ == "__main__":
    simulator()
