"""Who sees what, CSRF, invites, sessions, OAuth state and sign-in throttling, over real HTTP (and a
real browser where the browser is the point) against the running web app and a real PostgreSQL."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute

from blendify_assets.analytics.blends import create_and_generate
from blendify_assets.db import connections as db_connections
from blendify_assets.db.connections import TokenPayload
from blendify_assets.db.users import add_user
from blendify_assets.security.vault import Vault
from blendify_assets.web.routes import api, auth, blends, connections, demo, friends, music
from blendify_assets.web.security import MAX_FAILED_SIGNINS, WRONG_CREDENTIALS
from blendify_assets.web.server import running
from tests.conftest import TEST_KEY
from tests.web.conftest import PASSWORD, sensor_tick, sign_up, sync_now, user_id, web_settings

VAULT = Vault([TEST_KEY])


def connect_sim(engine, email: str, simulator, index: int) -> None:
    """A Spotify connection with real simulator tokens (what the OAuth callback stores)."""
    sim_user = simulator.world.users[index]
    tokens = simulator.spotify.issue_tokens(sim_user.uid) | {"provider_user_id": sim_user.account_id}
    db_connections.upsert(engine, VAULT, email, "spotify", TokenPayload.parse(json.dumps(tokens)))


def wait_for_match(client, other_id: str, seconds: float = 60) -> dict:
    """The taste match once worked out (202 while it is being computed in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(f"/api/v1/friends/{other_id}/match")
        if response.status_code != 202:
            assert response.status_code == 200, response.text
            return response.json()
        assert time.monotonic() < deadline, "the taste match was not worked out in time"
        time.sleep(float(response.headers["retry-after"]) / 4)


def make_blend(client, name: str = "Road trip") -> str:
    response = client.post("/blends", {"name": name, "algorithm": "balanced", "size": "30"})
    assert response.status_code == 303
    return response.headers["location"].rsplit("/", 1)[1]


def make_invite(client, blend_id: str, uses: int = 1) -> str:
    assert client.post(f"/blends/{blend_id}/invites", {"uses": str(uses), "days": "7"}).status_code == 303
    page = client.get(f"/blends/{blend_id}").text
    return re.search(r'id="invite-url">([^<]+)<', page).group(1).strip()


def join(client, link: str) -> httpx.Response:
    return client.post(urlsplit(link).path, {})


# --- who sees what --------------------------------------------------------------------------------------


def test_another_users_profile_and_a_blend_you_are_not_in_answer_404(client) -> None:
    alice, bob, cleo = client(), client(), client()
    alice.sign_up("alice@example.com", "Alice")
    bob.sign_up("bob@example.com", "Bob")
    cleo.sign_up("cleo@example.com", "Cleo")
    theirs = make_blend(bob, "Bob and Cleo")
    assert join(cleo, make_invite(bob, theirs)).status_code == 303
    bob_id = bob.get("/api/v1/me").json()["id"]
    missing = str(uuid.uuid4())

    not_found = alice.get(f"/blends/{missing}")
    assert not_found.status_code == 404
    for path in (
        f"/blends/{theirs}",
        f"/friends/{bob_id}",
        f"/blends/{theirs}?generation=x",
        "/blends/not-an-id",
    ):
        response = alice.get(path)
        assert response.status_code == 404, path
        assert "Bob and Cleo" not in response.text and "Bob" not in response.text.split("<main")[1]
    for path in (f"/api/v1/blends/{theirs}", f"/api/v1/friends/{bob_id}/match"):
        assert alice.get(path).status_code == 404, path
    for path in (f"/blends/{theirs}/leave", f"/blends/{theirs}/invites", f"/blends/{theirs}/weight"):
        assert alice.post(path, {"uses": "1", "days": "7", "weight": "2"}).status_code == 404, path
    assert len(bob.get(f"/api/v1/blends/{theirs}").json()["members"]) == 2  # still both, untouched

    # Sharing a blend opens exactly that: Alice may now see Bob as a fellow member.
    assert join(alice, make_invite(bob, theirs)).status_code == 303
    assert alice.get(f"/friends/{bob_id}").status_code == 200
    assert alice.get(f"/blends/{theirs}").status_code == 200


def test_no_token_hash_or_other_persons_email_in_any_page_or_response(
    client, simulator, app_engine, engine
) -> None:
    alice = client()
    alice.sign_up("alice@example.com", "Alice")
    bob = client()
    bob.sign_up("bob@example.com", "Bob")
    connect_sim(app_engine, "alice@example.com", simulator, 0)
    connect_sim(app_engine, "bob@example.com", simulator, 1)
    add_user(app_engine, "nameless@example.com")  # a command-line user with no display name
    connect_sim(app_engine, "nameless@example.com", simulator, 2)
    for email in ("alice@example.com", "bob@example.com", "nameless@example.com"):
        sync_now(app_engine, user_id(app_engine, email))
    # A blend made on the command line labels a nameless member by email in its stored reasons.
    result = create_and_generate(
        app_engine, "CLI blend", ["alice@example.com", "nameless@example.com"], "balanced", size=30
    )
    with app_engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT string_agg(blend_metadata::text, ' ') FROM blend_tracks")
        ).scalar()
    assert "nameless@example.com" in stored  # so the pages must not repeat it
    ours = make_blend(alice, "Ours")
    join(bob, make_invite(alice, ours))

    secrets = ["bob@example.com", "nameless@example.com"]
    with engine.connect() as conn:
        for row in conn.execute(sa.text("SELECT password_hash FROM users WHERE password_hash IS NOT NULL")):
            secrets.append(row.password_hash)
        for row in conn.execute(
            sa.text("SELECT access_token_encrypted, refresh_token_encrypted FROM provider_connections")
        ):
            secrets += [row.access_token_encrypted, VAULT.decrypt(row.access_token_encrypted)]
            if row.refresh_token_encrypted:
                secrets += [row.refresh_token_encrypted, VAULT.decrypt(row.refresh_token_encrypted)]
    bob_id = bob.get("/api/v1/me").json()["id"]
    nameless = user_id(app_engine, "nameless@example.com")
    pages = [
        "/music", "/music/top", "/music/top?kind=artists&range=long_term", "/music/recent", "/music/playlists",
        "/music/library/tracks", "/music/library/albums", "/music/library/artists", "/music/changes",
        "/connections", "/connections/apple", "/blends", f"/blends/{ours}", f"/blends/{result.blend_id}",
        "/friends", f"/friends/{bob_id}", f"/friends/{nameless}", "/api/v1/me", "/api/v1/connections",
        "/api/v1/me/top/tracks", "/api/v1/me/recently-played", "/api/v1/blends", f"/api/v1/blends/{ours}",
        f"/api/v1/blends/{result.blend_id}", f"/api/v1/friends/{bob_id}/match", "/api/openapi.json",
    ]  # fmt: skip
    wait_for_match(alice, bob_id)  # so the pages below show the match itself, not "working it out"
    wait_for_match(alice, nameless)
    playlists = alice.get("/music/playlists").text
    pages += sorted(set(re.findall(r'href="(/music/playlists/spotify/[^"]+)"', playlists)))[:3]
    seen = 0
    for path in pages:
        response = alice.get(path)
        assert response.status_code == 200, path
        body = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in secrets:
            assert secret not in body, f"{path} shows a token, a hash or another person's email"
        seen += 1
    assert seen > 25
    assert "A Blendify listener" in alice.get(f"/blends/{result.blend_id}").text  # the nameless member


def test_the_friend_page_does_not_wait_for_a_taste_match_being_worked_out(
    client, simulator, app_engine
) -> None:
    """A pair outside both stored top-10 lists: the page answers at once (saying the match is being
    worked out, and refreshing itself) instead of holding the request for the computation, which
    takes most of a second for heavy listeners; then the match appears, the same on the page and
    in the API."""
    alice, bob = client(), client()
    alice.sign_up("alice@example.com", "Alice")
    bob.sign_up("bob@example.com", "Bob")
    connect_sim(app_engine, "alice@example.com", simulator, 0)
    connect_sim(app_engine, "bob@example.com", simulator, 1)
    for email in ("alice@example.com", "bob@example.com"):
        sync_now(app_engine, user_id(app_engine, email))
    join(bob, make_invite(alice, make_blend(alice)))
    bob_id = bob.get("/api/v1/me").json()["id"]

    first = alice.get(f"/friends/{bob_id}")
    assert first.status_code == 200
    assert "Working out your taste match" in first.text and 'http-equiv="refresh"' in first.text
    assert 'id="match-score"' not in first.text
    match = wait_for_match(alice, bob_id)
    page = alice.get(f"/friends/{bob_id}").text
    assert 'id="match-score"' in page and "Working out" not in page
    assert f"{match['score']:.0f}%" in page


# --- CSRF ----------------------------------------------------------------------------------------------


def test_every_form_and_endpoint_that_changes_something_needs_the_csrf_token(web, client, app_engine) -> None:
    alice, mallory = client(), client()
    alice.sign_up("alice@example.com", "Alice")
    blend = make_blend(alice)
    routers = [m.router for m in (api, auth, blends, connections, demo, friends, music)]
    unsafe = sorted(
        (route.path, method)
        for route in [*web.app.routes, *(r for router in routers for r in router.routes)]
        if isinstance(route, APIRoute)
        for method in route.methods
        if method not in ("GET", "HEAD")
    )
    assert len(unsafe) >= 15
    fill = {"{blend_id}": blend, "{invite_id}": str(uuid.uuid4()), "{provider}": "spotify",
            "{token}": "x" * 20, "{user_id}": str(uuid.uuid4())}  # fmt: skip
    for path, method in unsafe:
        for key, value in fill.items():
            path = path.replace(key, value)
        missing = alice.http.request(method, path, data={"name": "Hijacked"}, headers={"origin": web.url})
        assert missing.status_code == 403, (method, path)
        stolen = alice.http.request(method, path, data={"csrf_token": mallory.csrf(), "name": "Hijacked"})
        assert stolen.status_code == 403, (method, path)
    cross_site = alice.http.post(
        "/blends",
        data={"csrf_token": alice.csrf("/blends"), "name": "Hijacked"},
        headers={"origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert "This form has expired" in cross_site.text
    assert alice.get("/music").status_code == 200  # sign-out without a token did not sign out
    with app_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM blends WHERE name = 'Hijacked'")).scalar() == 0
    refused = alice.http.post("/api/v1/connections/spotify/resync")
    assert refused.status_code == 403 and refused.json() == {"detail": "missing or wrong CSRF token"}


# --- invites --------------------------------------------------------------------------------------------


def test_an_expired_or_reused_invite_fails(client, engine) -> None:
    alice, bob, cleo, dan = client(), client(), client(), client()
    for who, email in ((alice, "alice"), (bob, "bob"), (cleo, "cleo"), (dan, "dan")):
        who.sign_up(f"{email}@example.com", email.title())
    blend = make_blend(alice)
    once = make_invite(alice, blend, uses=1)
    assert join(bob, once).status_code == 303
    reused = cleo.get(urlsplit(once).path)
    assert reused.status_code == 410 and "already been used" in reused.text
    assert join(cleo, once).status_code == 410
    assert "already been used" in join(cleo, once).text

    later = make_invite(alice, blend, uses=2)
    with engine.begin() as conn:  # a week passes (as the owner: the app never rewinds an invite)
        conn.execute(sa.text("UPDATE blend_invites SET expires_at = expires_at - interval '8 days'"))
    expired = cleo.get(urlsplit(later).path)
    assert expired.status_code == 410 and "expired" in expired.text
    assert join(cleo, later).status_code == 410
    assert dan.get("/invite/" + "A" * 43).status_code == 404  # a made-up token
    assert [m["display_name"] for m in alice.get(f"/api/v1/blends/{blend}").json()["members"]] == [
        "Alice",
        "Bob",
    ]


def test_a_blend_never_passes_ten_members(client) -> None:
    owner = client()
    owner.sign_up("owner@example.com", "Owner")
    blend = make_blend(owner)
    link = make_invite(owner, blend, uses=9)
    for i in range(9):
        guest = client()
        guest.sign_up(f"guest{i}@example.com", f"Guest {i}")
        assert join(guest, link).status_code == 303
    late = client()
    late.sign_up("late@example.com", "Late")
    assert join(late, link).status_code == 410
    assert len(owner.get(f"/api/v1/blends/{blend}").json()["members"]) == 10
    assert "This blend is full" in owner.get(f"/blends/{blend}").text


# --- sessions --------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_a_tampered_session_cookie_signs_you_out(web, page) -> None:
    sign_up(page, web, "ada@example.com", "Ada Lovelace")
    context = page.context
    [cookie] = [c for c in context.cookies() if c["name"] == "blendify_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # 127.0.0.1
    payload, stamp, signature = cookie["value"].rsplit(".", 2)
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    context.add_cookies([{**cookie, "value": f"{tampered}.{stamp}.{signature}"}])
    page.goto(web.url + "/music")
    assert urlsplit(page.url).path == "/signin"
    assert page.locator("#signed-in-as").count() == 0
    context.add_cookies([{**cookie, "value": "not-even-signed"}])
    page.goto(web.url + "/blends")
    assert urlsplit(page.url).path == "/signin"


def test_after_sign_out_a_copied_session_cookie_no_longer_works(client) -> None:
    """Sign-out is revoked in the database: someone who copied the cookie (a shared computer, a
    stolen cookie jar) is signed out too, even though the copy still carries a valid signature."""
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    copied = dict(ada.http.cookies)
    thief = client()
    thief.http.cookies.update(copied)
    assert thief.get("/music").status_code == 200  # the copy works while Ada is signed in
    assert ada.post("/signout", {}).status_code == 303
    assert ada.get("/music").status_code == 303  # Ada's browser forgot the session
    again = client()
    again.http.cookies.update(copied)
    assert again.get("/music").headers["location"].startswith("/signin")
    assert again.get("/api/v1/me").status_code == 401
    ada.sign_in("ada@example.com")  # a new sign-in is a new session; the old copy stays dead
    assert ada.get("/music").status_code == 200
    assert again.get("/music").status_code == 303


# --- OAuth state ------------------------------------------------------------------------------------------


def test_an_oauth_answer_with_another_state_is_refused(client, simulator, app_engine) -> None:
    ada, mallory = client(), client()
    ada.sign_up("ada@example.com", "Ada")
    start = ada.post("/auth/spotify/start", {})
    authorize = start.headers["location"]
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    sim_user = simulator.world.users[0].uid
    answer = httpx.get(authorize + f"&login_hint={sim_user}", follow_redirects=False).headers["location"]
    assert parse_qs(urlsplit(answer).query)["state"] == [state]
    code = parse_qs(urlsplit(answer).query)["code"][0]

    forged = ada.get(f"/auth/spotify/callback?state={state}x&code={code}")
    assert forged.status_code == 400 and "does not belong to a sign-in started in this browser" in forged.text
    replayed = ada.get(f"/auth/spotify/callback?state={state}&code={code}")  # the pending sign-in is spent
    assert replayed.status_code == 400
    mallory.post("/auth/spotify/start", {})  # another browser with its own pending sign-in
    assert mallory.get(f"/auth/spotify/callback?state={state}&code={code}").status_code == 400
    with app_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM provider_connections")).scalar() == 0


# --- sign-in throttling ------------------------------------------------------------------------------------


def test_ten_wrong_passwords_are_throttled_across_web_workers(web, web_env, client, app_engine) -> None:
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    ada.post("/signout", {})
    unknown = ada.sign_in("nobody@example.com", "whatever it is")
    wrong = ada.sign_in("ada@example.com", "not her password")
    assert unknown.status_code == wrong.status_code == 401
    assert WRONG_CREDENTIALS in unknown.text and WRONG_CREDENTIALS in wrong.text
    assert re.sub(r"nobody@example.com", "", unknown.text).count("incorrect") == wrong.text.count("incorrect")

    # A second web process on the same database: the count is in Postgres, not in a worker.
    with running(web_settings(), engine=app_engine, vault=VAULT) as other:
        second = httpx.Client(base_url=other.url, follow_redirects=False)
        try:
            for attempt in range(2, MAX_FAILED_SIGNINS + 1):
                target = second if attempt % 2 else ada.http
                base = other.url if attempt % 2 else web.url
                token = re.search(r'name="csrf_token" value="([^"]+)"', target.get("/signin").text).group(1)
                response = target.post("/signin", data={"email": "ada@example.com", "password": f"wrong {attempt}",
                                                        "csrf_token": token}, headers={"origin": base})  # fmt: skip
                assert response.status_code == 401, attempt
            token = re.search(r'name="csrf_token" value="([^"]+)"', second.get("/signin").text).group(1)
            right = second.post("/signin", data={"email": "ada@example.com", "password": PASSWORD,
                                                 "csrf_token": token}, headers={"origin": other.url})  # fmt: skip
        finally:
            second.close()
    assert right.status_code == 429 and "Too many wrong passwords" in right.text
    assert ada.sign_in("ada@example.com", PASSWORD).status_code == 429
    other_account = client()
    other_account.sign_up("grace@example.com", "Grace")
    other_account.post("/signout", {})
    assert other_account.sign_in("grace@example.com", PASSWORD).status_code == 303  # only Ada is throttled
    with app_engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT string_agg(account_key, ' ') FROM login_attempts")).scalar()
    assert "ada@example.com" not in stored and "nobody" not in stored


def test_a_sign_in_resets_the_count_and_sessions_follow_password_hash(client) -> None:
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    ada.post("/signout", {})
    for _ in range(MAX_FAILED_SIGNINS - 1):
        assert ada.sign_in("ada@example.com", "wrong").status_code == 401
    assert ada.sign_in("ada@example.com", PASSWORD).status_code == 303
    ada.post("/signout", {})
    for _ in range(MAX_FAILED_SIGNINS - 1):
        assert ada.sign_in("ada@example.com", "wrong").status_code == 401
    assert ada.sign_in("ada@example.com", PASSWORD).status_code == 303


# --- connections ---------------------------------------------------------------------------------------------


def test_spotify_expiry_is_warned_a_month_and_a_week_ahead(client, simulator, app_engine, engine) -> None:
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    connect_sim(app_engine, "ada@example.com", simulator, 0)
    assert "ends Blendify's access" not in ada.get("/connections").text
    for days, level in ((160, "warning"), (178, "danger"), (200, "danger")):
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE provider_connections SET authorized_at = now() - make_interval(days => :d)"),
                {"d": days},
            )
        page = ada.get("/connections").text
        assert f"notice {level} expiry" in page, days
    assert "Spotify&#39;s six months are over" in page or "six months are over" in page


def test_disconnect_stops_syncing_and_keeps_history(
    client, simulator, app_engine, dagster_instance, dagster_resources
) -> None:
    ada = client()
    ada.sign_up("ada@example.com", "Ada")
    connect_sim(app_engine, "ada@example.com", simulator, 0)
    uid = user_id(app_engine, "ada@example.com")
    sync_now(app_engine, uid)
    first = sensor_tick(dagster_resources, dagster_instance)
    count = "SELECT count(*) FROM user_saved_tracks WHERE user_id = :u"
    with app_engine.connect() as conn:
        before = conn.execute(sa.text(count), {"u": uid}).scalar()
    assert ada.post("/connections/spotify/disconnect", {}).status_code == 303
    page = ada.get("/connections").text
    assert "disconnected" in page and "Re-sync now" not in page
    with app_engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM provider_connections WHERE user_id = :u"), {"u": uid}).one()
        assert conn.execute(sa.text(count), {"u": uid}).scalar() == before > 0
    assert row.status == "revoked" and VAULT.decrypt(row.access_token_encrypted) == ""
    assert row.refresh_token_encrypted is None
    assert not sensor_tick(dagster_resources, dagster_instance, first.cursor).run_requests
    assert ada.post("/connections/spotify/resync", {}).status_code == 303
    assert "not connected and active" in ada.get("/connections").text
    assert "Your complete music profile" in ada.get("/music").text  # the history stays visible
