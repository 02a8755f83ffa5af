"""Take the README's screenshots of every page: `python -m tests.web.screenshots [OUT_DIR]`.

A throwaway embedded PostgreSQL, the simulator and the web app on free 127.0.0.1 ports; two
listeners sign up in Debian's Chromium, connect through the simulator's Spotify consent page and
the MusicKit stand-in, sync, blend through an invite link; each page is saved as a PNG (default
docs/screenshots/). Everything it starts, it stops.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from blendify_assets.analytics.blends import generate_blend_tracks
from blendify_assets.analytics.matches import compute_taste_matches
from blendify_assets.analytics.publish import PUBLISHABLE, publish_blend
from blendify_assets.core.settings import load_settings
from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine
from blendify_assets.db.server import embedded_url, start_embedded
from blendify_assets.demo.world import connect_users
from blendify_assets.ingest.sync import StepSync
from blendify_assets.providers import registry
from blendify_assets.providers.registry import PROVIDERS
from blendify_assets.security.vault import Vault
from blendify_assets.simulator import Simulator, SimulatorConfig
from blendify_assets.simulator.exports import spotify_export
from blendify_assets.web.server import running
from tests.web.conftest import CHROMIUM, FLAGS, connect_spotify, off_loop, sign_up

REPO = Path(__file__).resolve().parents[2]
DEMO_TOKEN = "screenshots"  # `blendify dev --demo` makes a random one


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="blendify-shots-") as tmp:
        server = start_embedded(Path(tmp) / "pg")
        admin_url = embedded_url(server, "postgres")
        admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        name = f"shots_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        try:
            migrations.upgrade(engine)
            config = SimulatorConfig(users=6, seed=7, profile_mix="light")
            with Simulator.running(config) as sim:
                key_path = Path(tmp) / "apple.p8"
                key_path.write_text(sim.apple.private_key_pem)
                env = {**sim.env(), "BLENDIFY_HOME": str(Path(tmp) / "home"), "BLENDIFY_ENCRYPTION_KEY": key,
                       "SPOTIFY_CLIENT_ID": "blendify-demo", "APPLE_MUSIC_PRIVATE_KEY_PATH": str(key_path),
                       "BLENDIFY_SESSION_SECRET": "s" * 48}  # fmt: skip
                os.environ.update(env)
                settings = load_settings(providers=registry.settings_types())
                vault = Vault([key])
                with (
                    running(settings, engine=engine, vault=vault, demo_signin_token=DEMO_TOKEN) as web,
                    sync_playwright() as pw,
                ):
                    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                    try:
                        shoot(browser, web, sim, engine, vault, settings, out)
                    finally:
                        browser.close()
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            server.cleanup()


def sync(settings, engine, vault, email: str, provider: str) -> None:
    with engine.connect() as conn:
        uid = str(conn.execute(sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar_one())
    spec = registry.get(provider)
    step = StepSync(engine, vault, spec, settings.provider(provider), [uid])
    for endpoint in spec.endpoints:
        off_loop(step.run, endpoint, [uid])


def shoot(browser, web, sim, engine, vault, settings, out: Path) -> None:
    def page():
        context = browser.new_context(viewport={"width": 1200, "height": 820}, device_scale_factor=1)
        context.set_default_timeout(20_000)
        return context.new_page()

    def snap(p, name: str, full: bool = True, height: int = 1500) -> None:
        """The page (down to `height` pixels when `full`; the window otherwise)."""
        p.wait_for_load_state("networkidle")
        if full:
            size = p.evaluate("document.documentElement.scrollHeight")
            clip = {"x": 0, "y": 0, "width": 1200, "height": min(size, height)}
            p.screenshot(path=str(out / f"{name}.png"), full_page=True, clip=clip)
        else:
            p.screenshot(path=str(out / f"{name}.png"))
        print(f"saved {out / name}.png")

    both = [u for u in sim.world.users if u.on_spotify and u.on_apple]
    spotify_only = [u for u in sim.world.users if u.on_spotify and u not in both[:1]]
    alice_sim, bob_sim = both[0], spotify_only[0]
    alice = page()
    alice.goto(web.url + "/")
    snap(alice, "01-home", full=False)
    alice.goto(web.url + "/signup")
    snap(alice, "02-sign-up", full=False)
    sign_up(alice, web, "alice@example.com", "Alice Liddell")
    connect_spotify(alice, web, alice_sim.uid)
    alice.goto(web.url + "/connections")
    alice.click("#apple-connect-link")
    alice.wait_for_selector("#apple-connect:enabled")
    snap(alice, "05-connect-apple-music", full=False)
    with alice.expect_popup() as popup:
        alice.click("#apple-connect")
    popup.value.select_option("#user", alice_sim.uid)
    popup.value.click("#allow")
    alice.wait_for_url(web.url + "/connections")
    for provider in ("spotify", "apple"):
        sync(settings, engine, vault, "alice@example.com", provider)
    sim.clock.advance(days=20)
    for provider in ("spotify", "apple"):
        sync(settings, engine, vault, "alice@example.com", provider)
    with engine.begin() as conn:  # show the warning Spotify's six-month limit brings, 25 days ahead
        conn.execute(sa.text("UPDATE provider_connections SET authorized_at = now() - interval '157 days' "
                             "WHERE provider = 'spotify'"))  # fmt: skip
    alice.goto(web.url + "/connections")
    alice.click("#connection-spotify summary")
    snap(alice, "04-connections")
    for path, name in (("/music", "06-your-music"), ("/music/top", "07-top-lists"),
                       ("/music/recent", "08-recently-played"), ("/music/playlists", "09-playlists"),
                       ("/music/library/tracks", "10-library"), ("/music/changes", "11-taste-changes")):  # fmt: skip
        alice.goto(web.url + path)
        snap(alice, name)

    alice.goto(web.url + "/blends")
    alice.fill("#name", "Road trip")
    alice.click("#create-blend")
    alice.click("#make-invite")
    snap(alice, "12-new-blend-with-invite-link")
    link = alice.inner_text("#invite-url").strip()
    blend_url = alice.url.split("#")[0]

    bob = page()
    bob.goto(link)
    snap(bob, "13-invite", full=False)
    bob.click("#invite-signup")
    sign_up(bob, web, "bob@example.com", "Bob Marley", start=bob.url.removeprefix(web.url))
    bob.click("#join-blend")
    bob.wait_for_selector("#blend-name")
    connect_spotify(bob, web, bob_sim.uid)
    sync(settings, engine, vault, "bob@example.com", "spotify")
    compute_taste_matches(engine)
    sim.clock.advance(days=1)
    sync(settings, engine, vault, "bob@example.com", "spotify")
    compute_taste_matches(engine)
    off_loop(generate_blend_tracks, engine, blend_url.rsplit("/", 1)[1])
    alice.goto(blend_url)
    alice.click("#publish-on-spotify")  # opt in: Spotify's consent for the playlist write scopes
    alice.wait_for_selector("#agree")
    alice.select_option("#user", alice_sim.uid)
    alice.click("#agree")
    alice.wait_for_selector("#publish-status")
    services = {name: settings.provider(name) for name in PUBLISHABLE}
    off_loop(publish_blend, engine, vault, services, blend_url.rsplit("/", 1)[1])
    alice.goto(blend_url)
    snap(alice, "14-blend")
    alice.goto(web.url + "/blends")
    snap(alice, "15-blends", full=False)
    alice.goto(web.url + "/friends")
    snap(alice, "16-friends", full=False)
    alice.click("#friend-list a")
    snap(alice, "17-taste-match")
    export = Path(tempfile.mkdtemp(prefix="blendify-shots-export-")) / "my_spotify_data.zip"
    export.write_bytes(spotify_export(sim.world, alice_sim.uid, years=1))
    alice.goto(web.url + "/music/history")
    alice.set_input_files("#spotify-file", str(export))
    alice.click("#spotify-upload")
    alice.wait_for_selector("#import-result")
    snap(alice, "19-your-history")
    export.unlink()
    export.parent.rmdir()
    alice.click("text=Sign out")
    alice.goto(web.url + "/signin")
    for _ in range(10):
        alice.fill("#email", "alice@example.com")
        alice.fill("#password", "not the password")
        alice.click("#signin-submit")
    snap(alice, "03-sign-in-throttled", full=False)

    connect_users(engine, vault, sim, PROVIDERS)  # what `blendify dev --demo` does
    visitor = page()
    visitor.goto(f"{web.url}/demo/{DEMO_TOKEN}")
    snap(visitor, "18-demo-sign-in", full=False)


if __name__ == "__main__":
    if CHROMIUM is None:
        sys.exit("no Chromium: install Debian's `chromium`")
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots")
