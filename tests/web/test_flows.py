"""The listeners' flows in a real browser (Debian's Chromium through Playwright), against the web
app and the provider simulator on free 127.0.0.1 ports and a real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blendify_assets.analytics.blends import generate_blend_tracks
from tests.web.conftest import (
    connect_spotify,
    off_loop,
    sensor_tick,
    sign_up,
    sync_now,
    user_id,
)

pytestmark = [pytest.mark.browser]


def scalar(engine: sa.engine.Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_sign_up_connect_spotify_and_the_synced_music_appears(
    web, page, simulator, app_engine, dagster_instance, dagster_resources
) -> None:
    sign_up(page, web, "ada@example.com", "Ada Lovelace")
    page.goto(web.url + "/music")
    assert page.locator("#no-music").is_visible()  # nothing yet

    sim_user = simulator.world.users[0]
    connect_spotify(page, web, sim_user.uid)
    assert "Spotify is connected" in page.inner_text("body")
    assert page.locator("#connection-spotify .status").inner_text() == "active"
    uid = user_id(app_engine, "ada@example.com")
    assert scalar(
        app_engine, "SELECT provider_user_id FROM provider_connections WHERE user_id = :u", u=uid
    ) == (sim_user.account_id)

    # The connection sensor sees the new connection and asks for one sync of this user.
    result = off_loop(sensor_tick, dagster_resources, dagster_instance)
    assert [r.partition_key for r in result.run_requests] == [uid]
    sync_now(app_engine, uid)  # what that run does

    page.goto(web.url + "/music")
    first = scalar(
        app_engine,
        "SELECT track_name FROM latest_user_top_tracks WHERE user_id = :u AND time_range = 'short_term' AND rank = 1",
        u=uid,
    )
    assert page.locator("#top-tracks li").first.inner_text().count(str(first)) == 1
    assert page.locator("#profile").is_visible()
    page.goto(web.url + "/music/top?kind=artists&range=long_term")
    assert page.locator(".tracks li").count() > 5
    page.goto(web.url + "/connections")
    assert page.locator("#connection-spotify .last-sync").inner_text() != "never"


def test_continue_with_spotify_creates_an_account_then_signs_back_into_it(
    web, page, simulator, app_engine
) -> None:
    sim_user = simulator.world.users[1]
    page.goto(web.url + "/")
    page.click("text=Continue with Spotify")
    page.select_option("#user", sim_user.uid)
    page.click("#agree")
    page.wait_for_url(web.url + "/music")
    assert page.locator("#signed-in-as").inner_text() == sim_user.display_name
    page.click("text=Sign out")
    page.click("text=Continue with Spotify")
    page.select_option("#user", sim_user.uid)
    page.click("#agree")
    page.wait_for_url(web.url + "/music")
    assert page.locator("#signed-in-as").inner_text() == sim_user.display_name
    assert scalar(app_engine, "SELECT count(*) FROM users") == 1  # the same account, not a second one
    assert scalar(app_engine, "SELECT count(*) FROM provider_connections WHERE status = 'active'") == 1


def test_connect_apple_music_through_the_musickit_stand_in(web, page, simulator, app_engine) -> None:
    apple_user = next(u for u in simulator.world.users if u.on_apple)
    sign_up(page, web, "grace@example.com", "Grace Hopper")
    page.goto(web.url + "/connections")
    page.click("#apple-connect-link")
    page.wait_for_selector("#apple-connect:enabled")
    with page.expect_popup() as popup_info:
        page.click("#apple-connect")
    popup = popup_info.value
    popup.select_option("#user", apple_user.uid)
    popup.click("#allow")
    page.wait_for_url(web.url + "/connections")
    assert "Apple Music is connected" in page.inner_text("body")
    assert page.locator("#connection-apple .status").inner_text() == "active"

    uid = user_id(app_engine, "grace@example.com")
    sync_now(app_engine, uid, "apple")
    simulator.clock.advance(hours=3)  # Apple shows plays only as a list: new ones appear between polls
    sync_now(app_engine, uid, "apple")
    page.goto(web.url + "/music/recent")
    assert page.locator("#plays li").count() > 0
    assert page.locator("#plays .badge.estimate").count() > 0  # Apple's play times are estimates


def test_a_blend_with_a_friend_who_signs_up_through_the_invite_link(
    web, new_page, simulator, app_engine
) -> None:
    alice_page, bob_page = new_page(), new_page()
    alice_sim, bob_sim = simulator.world.users[0], simulator.world.users[1]
    sign_up(alice_page, web, "alice@example.com", "Alice Liddell")
    connect_spotify(alice_page, web, alice_sim.uid)
    alice = user_id(app_engine, "alice@example.com")
    sync_now(app_engine, alice)

    alice_page.goto(web.url + "/blends")
    alice_page.fill("#name", "Road trip")
    alice_page.click("#create-blend")
    alice_page.wait_for_selector("#blend-name")
    assert "Waiting for friends" in alice_page.inner_text("#blend-empty")
    alice_page.click("#make-invite")
    link = alice_page.inner_text("#invite-url").strip()
    blend_url = alice_page.url.split("#")[0]

    bob_page.goto(link)
    assert bob_page.inner_text("#invite-blend") == "Road trip"
    bob_page.click("#invite-signup")
    sign_up(bob_page, web, "bob@example.com", "Bob Builder", start=bob_page.url.removeprefix(web.url))
    bob_page.wait_for_selector("#join-blend")  # back on the invite, signed in
    bob_page.click("#join-blend")
    bob_page.wait_for_selector("#blend-tracks")
    assert bob_page.url.split("#")[0] == blend_url
    assert "Bob Builder has no synced music yet" in bob_page.inner_text("body")

    connect_spotify(bob_page, web, bob_sim.uid)
    sync_now(app_engine, user_id(app_engine, "bob@example.com"))
    off_loop(generate_blend_tracks, app_engine, blend_url.rsplit("/", 1)[1])  # the daily refresh

    for page in (alice_page, bob_page):
        page.goto(blend_url)
        tracks = page.locator("#blend-tracks li")
        assert tracks.count() == 50
        text = page.inner_text("#blend-tracks")
        assert "Alice Liddell's pick" in text and "Bob Builder's pick" in text  # whose taste, in words
        avatars = {page.locator("#blend-tracks .avatar").nth(i).get_attribute("title") for i in range(20)}
        assert {"Alice Liddell", "Bob Builder"} <= avatars
        assert "Past generations" in page.inner_text("#tracks")
    alice_page.click("text=taste match →")  # worked out in the background; the page refreshes itself
    alice_page.wait_for_selector("#match-score", timeout=60_000)
    assert "alice@example.com" not in bob_page.content() and "bob@example.com" not in alice_page.content()


def test_resync_now_makes_the_sensor_sync_the_connection_again(
    web, page, simulator, app_engine, dagster_instance, dagster_resources
) -> None:
    sign_up(page, web, "ada@example.com", "Ada Lovelace")
    connect_spotify(page, web, simulator.world.users[0].uid)
    uid = user_id(app_engine, "ada@example.com")
    first = off_loop(sensor_tick, dagster_resources, dagster_instance)
    sync_now(app_engine, uid)
    assert not off_loop(sensor_tick, dagster_resources, dagster_instance, first.cursor).run_requests

    page.goto(web.url + "/connections")
    page.click("#spotify-resync")
    assert "Re-sync of Spotify requested" in page.inner_text("body")
    assert page.locator("#connection-spotify .resync-waiting").is_visible()
    again = off_loop(sensor_tick, dagster_resources, dagster_instance, first.cursor)
    assert [r.partition_key for r in again.run_requests] == [uid]
    assert again.run_requests[0].run_key != first.run_requests[0].run_key

    page.click("#spotify-resync")  # a second click at once is refused, politely
    assert "you can ask again" in page.inner_text("body")
    sync_now(app_engine, uid)  # the run the sensor asked for
    page.goto(web.url + "/connections")
    assert page.locator("#connection-spotify .resync-waiting").count() == 0
