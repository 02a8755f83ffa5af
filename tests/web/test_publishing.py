"""Publishing from the web app (issue 14 on issue 13's blend page): "Open in …" with the member's
own playlist, why a playlist is not there yet, and opting in (through Spotify's consent for the
write scopes, only then) or out — over real HTTP, and in a real browser where the page is the point."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from blendify_assets.analytics.publish import publish_blend
from blendify_assets.providers.spotify.auth import SCOPES
from blendify_assets.providers.spotify.publish import PUBLISH_SCOPES
from blendify_assets.simulator import SimulatorConfig, UserProfile
from blendify_assets.web.server import running
from tests.fixtures.publish import build
from tests.web.conftest import off_loop, web_settings
from tests.web.test_security import VAULT, join, make_blend, make_invite

DEMO_TOKEN = "publish-demo-token"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A Spotify listener and an Apple Music listener (Apple lists a new playlist quickly here)."""
    profiles = (UserProfile.tiny(spotify=True, apple=False), UserProfile.tiny(spotify=False, apple=True))
    return SimulatorConfig(
        users=2, seed=7, catalog_tracks=3_000, profiles=profiles, apple_listing_delay_seconds=0.2
    )


def preferences(engine: sa.engine.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT blend_id::text, publish, provider::text FROM publish_preferences ORDER BY id")
            )
        ]


def scope_of(location: str) -> list[str]:
    return parse_qs(urlsplit(location).query)["scope"][0].split()


def test_a_published_blend_shows_each_member_their_own_playlist_link(
    web_env, engine, app_engine, simulator, new_page, tmp_path: Path
) -> None:
    world = off_loop(partial(build, size=20), engine, simulator, tmp_path)
    report = off_loop(publish_blend, engine, world.vault, world.settings, world.blend_id)
    urls = {m.user_id: m.url for m in report.members if m.status == "published"}
    first = {}  # the first member published to each service
    for m in report.members:
        if m.status == "published" and m.url:
            first.setdefault(m.provider, m.user_id)
    assert set(first) == {"spotify", "apple"}
    assert urls[first["spotify"]] != urls[first["apple"]]
    with running(web_settings(), engine=app_engine, vault=VAULT, demo_signin_token=DEMO_TOKEN) as web:
        for provider, service in (("spotify", "Spotify"), ("apple", "Apple Music")):
            member = first[provider]
            page = new_page()
            page.goto(f"{web.url}/demo/{DEMO_TOKEN}")
            page.click(f"form:has(input[value='{member}']) button")
            page.wait_for_selector("#signed-in-as")
            page.goto(f"{web.url}/blends/{world.blend_id}")
            link = page.locator("#open-in")
            assert link.inner_text() == f"Open in {service}"
            assert link.get_attribute("href") == urls[member]
            others = page.locator("#others-on").inner_text()
            assert urls[member] not in page.content().replace(link.evaluate("a => a.outerHTML"), "")
            assert (
                "Also published to:" in others
                and ("Apple Music" if service == "Spotify" else "Spotify") in others
            )


def test_before_a_first_publish_the_page_says_why_and_opting_in_asks_spotify_for_the_write_scopes(
    client, simulator, app_engine
) -> None:
    ada, bob = client(), client()
    ada.sign_up("ada@example.com", "Ada")
    bob.sign_up("bob@example.com", "Bob")
    blend = make_blend(ada)
    assert join(bob, make_invite(ada, blend)).status_code == 303
    page = ada.get(f"/blends/{blend}").text
    assert "Connect Spotify or Apple Music to get this blend as a playlist" in page

    connect = ada.post("/auth/spotify/start", {})
    assert scope_of(connect.headers["location"]) == list(SCOPES)  # the normal connect: reading only
    opt_in = ada.post(f"/blends/{blend}/publishing", {"publish": "on", "service": "spotify"})
    assert opt_in.status_code == 303
    authorize = opt_in.headers["location"]
    assert scope_of(authorize) == [*SCOPES, *PUBLISH_SCOPES]
    assert preferences(app_engine) == []  # recorded only once Spotify granted it

    sim_user = simulator.world.users[0].uid
    answer = httpx.get(authorize + f"&login_hint={sim_user}", follow_redirects=False).headers["location"]
    back = ada.get(urlsplit(answer).path + "?" + urlsplit(answer).query)
    assert back.status_code == 303 and back.headers["location"] == f"/blends/{blend}#publishing"
    assert preferences(app_engine) == [(blend, True, "spotify")]
    page = ada.get(f"/blends/{blend}").text
    assert "Your Spotify playlist is on its way" in page
    assert "needs your leave" not in page  # she opted in: no hint to do so again

    off = ada.post(f"/blends/{blend}/publishing", {"publish": "off"})
    assert off.status_code == 303
    assert preferences(app_engine)[-1] == (blend, False, None)
    assert "You opted out" in ada.get(f"/blends/{blend}").text


def test_the_publish_form_is_for_members_only_and_needs_its_csrf_token(web, client, app_engine) -> None:
    alice, mallory = client(), client()
    alice.sign_up("alice@example.com", "Alice")
    mallory.sign_up("mallory@example.com", "Mallory")
    blend = make_blend(alice)
    for data in (
        {"publish": "off"},
        {"publish": "on", "service": "apple"},
        {"publish": "on", "service": "spotify"},
    ):
        refused = mallory.post(f"/blends/{blend}/publishing", data)
        assert refused.status_code == 404, data
        assert "location" not in refused.headers  # not sent to Spotify on another's blend
    forged = alice.http.post(
        f"/blends/{blend}/publishing", data={"publish": "off"}, headers={"origin": web.url}
    )
    assert forged.status_code == 403
    assert preferences(app_engine) == []
    assert alice.post(f"/blends/{blend}/publishing", {"publish": "off"}).status_code == 303
    assert preferences(app_engine) == [(blend, False, None)]
