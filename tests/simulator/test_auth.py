"""Spotify OAuth (authorization code + PKCE, refresh, revocation) and Apple token checks."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest

from blendify_assets.simulator import Simulator, SimulatorConfig
from blendify_assets.simulator.apple_keys import generate_test_key, sign_developer_token
from tests.simulator.conftest import bearer

REDIRECT = "http://127.0.0.1:8765/callback"


def _authorize(sim: Simulator, verifier: str, login_hint: str | None = None) -> dict[str, list[str]]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"client_id": "cid", "response_type": "code", "redirect_uri": REDIRECT, "state": "xyz",
              "code_challenge_method": "S256", "code_challenge": challenge, "scope": "user-top-read"}  # fmt: skip
    if login_hint:
        params["login_hint"] = login_hint
    response = httpx.get(f"{sim.spotify_accounts_url}/authorize", params=params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlparse(location).query)


def _token(sim: Simulator, **form: str) -> httpx.Response:
    return httpx.post(f"{sim.spotify_accounts_url}/api/token", data={"client_id": "cid", **form})


def test_pkce_flow_picks_the_hinted_user(simulator: Simulator) -> None:
    user = simulator.world.spotify_users[-1]
    verifier = secrets.token_urlsafe(48)
    query = _authorize(simulator, verifier, login_hint=user.email)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    wrong = _token(
        simulator, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier="x" * 43
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = _authorize(simulator, verifier, login_hint=user.uid)["code"][0]
    bad_redirect = _token(simulator, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "x",
                          code_verifier=verifier)  # fmt: skip
    assert bad_redirect.status_code == 400
    code = _authorize(simulator, verifier, login_hint=user.uid)["code"][0]
    ok = _token(
        simulator, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "user-top-read"
    assert body["refresh_token"]
    me = httpx.get(f"{simulator.spotify_api_url}/me", headers=bearer(body["access_token"])).json()
    assert me["id"] == user.spotify_id
    reused = _token(
        simulator, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert reused.json() == {"error": "invalid_grant", "error_description": "Invalid authorization code"}


def test_authorize_defaults_and_errors(simulator: Simulator) -> None:
    query = _authorize(simulator, "v" * 43)
    assert "code" in query
    query = _authorize(simulator, "v" * 43, login_hint="nobody@example.com")
    assert query["error"] == ["access_denied"]


def test_refresh_without_rotation_keeps_the_refresh_token(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    tokens = simulator.spotify.issue_tokens(uid)
    for _ in range(2):
        response = _token(simulator, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert response.status_code == 200 and "refresh_token" not in response.json()
    simulator.spotify.revoke(uid)
    revoked = _token(simulator, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert revoked.status_code == 400
    assert revoked.json() == {"error": "invalid_grant", "error_description": "Refresh token revoked"}
    assert (
        httpx.get(f"{simulator.spotify_api_url}/me", headers=bearer(tokens["access_token"])).status_code
        == 401
    )


def test_rotating_refresh_tokens_invalidate_the_old_one() -> None:
    with Simulator.running(SimulatorConfig(users=2, profile_mix="tiny", catalog_tracks=3000,
                                           rotate_refresh_tokens=True)) as sim:  # fmt: skip
        uid = sim.world.spotify_users[0].uid
        old = sim.spotify.issue_tokens(uid)["refresh_token"]
        first = _token(sim, grant_type="refresh_token", refresh_token=old).json()
        assert first["refresh_token"] != old
        assert _token(sim, grant_type="refresh_token", refresh_token=old).json()["error"] == "invalid_grant"
        assert (
            _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"]).status_code == 200
        )


def test_access_token_expiry(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    url = f"{simulator.spotify_api_url}/me"
    tokens = simulator.spotify.issue_tokens(uid)
    assert httpx.get(url, headers=bearer(tokens["access_token"])).status_code == 200
    simulator.spotify.expire_access_tokens(uid)
    expired = httpx.get(url, headers=bearer(tokens["access_token"]))
    assert expired.json() == {"error": {"status": 401, "message": "The access token expired"}}
    by_clock = simulator.spotify.issue_tokens(uid)["access_token"]
    simulator.clock.advance(hours=1)
    assert httpx.get(url, headers=bearer(by_clock)).status_code == 401
    short = simulator.spotify.issue_tokens(uid, expires_in=1)["access_token"]
    assert httpx.get(url, headers=bearer(short)).status_code == 200
    time.sleep(1.05)
    assert httpx.get(url, headers=bearer(short)).status_code == 401
    assert httpx.get(url, headers=bearer("unknown")).status_code == 401
    assert httpx.get(url).status_code == 401
    # refresh tokens die 6 months after the authorisation
    refresh = simulator.spotify.issue_tokens(uid)["refresh_token"]
    simulator.clock.advance(days=183)
    assert (
        _token(simulator, grant_type="refresh_token", refresh_token=refresh).json()["error"]
        == "invalid_grant"
    )


def _apple_get(
    sim: Simulator, developer: str | None, user_token: str | None, path: str = "/v1/me/storefront"
) -> httpx.Response:
    headers = {}
    if developer:
        headers["Authorization"] = f"Bearer {developer}"
    if user_token:
        headers["Music-User-Token"] = user_token
    return httpx.get(f"{sim.apple_music_api_url}{path}", headers=headers)


def test_apple_developer_token_checks(simulator: Simulator) -> None:
    apple = simulator.apple
    uid = simulator.world.apple_users[0].uid
    mut = apple.issue_user_token(uid)
    assert apple.private_key_pem and apple.team_id and apple.key_id
    good = sign_developer_token(apple.private_key_pem, apple.team_id, apple.key_id)
    assert _apple_get(simulator, good, mut).status_code == 200
    other_key, _ = generate_test_key()
    now = int(time.time())
    bad_tokens = {
        "missing": None,
        "other key": sign_developer_token(other_key, apple.team_id, apple.key_id),
        "wrong kid": sign_developer_token(apple.private_key_pem, apple.team_id, "OTHERKEY00"),
        "wrong team": sign_developer_token(apple.private_key_pem, "OTHERTEAM0", apple.key_id),
        "expired": jwt.encode({"iss": apple.team_id, "iat": now - 7200, "exp": now - 3600}, apple.private_key_pem,
                              algorithm="ES256", headers={"kid": apple.key_id}),
        "too far ahead": jwt.encode({"iss": apple.team_id, "iat": now, "exp": now + 200 * 86400},
                                    apple.private_key_pem, algorithm="ES256", headers={"kid": apple.key_id}),
        "HS256": jwt.encode({"iss": apple.team_id, "iat": now, "exp": now + 60}, "s" * 32, algorithm="HS256",
                            headers={"kid": apple.key_id}),
    }  # fmt: skip
    for name, token in bad_tokens.items():
        response = _apple_get(simulator, token, mut)
        assert response.status_code == 401, name
        assert response.json()["errors"][0]["status"] == "401"
    # catalog needs no user token, /v1/me does
    assert _apple_get(simulator, good, None, "/v1/catalog/us/songs?ids=1").status_code == 200


def test_apple_user_token_checks(simulator: Simulator) -> None:
    uid = simulator.world.apple_users[0].uid
    developer = simulator.apple.developer_token()
    mut = simulator.apple.issue_user_token(uid)
    for token in (None, "not-a-token"):
        body = _apple_get(simulator, developer, token).json()
        assert body["errors"][0]["code"] == "40300"
    assert _apple_get(simulator, developer, mut).status_code == 200
    simulator.apple.revoke(uid)
    forbidden = _apple_get(simulator, developer, mut)
    assert forbidden.status_code == 403
    error = forbidden.json()["errors"][0]
    assert {k: error[k] for k in ("title", "detail", "status", "code")} == {
        "title": "Forbidden",
        "detail": "Invalid authentication",
        "status": "403",
        "code": "40300",
    }


def test_configured_public_key() -> None:
    private_pem, public_pem = generate_test_key()
    config = SimulatorConfig(users=2, profile_mix="tiny", catalog_tracks=3000, apple_public_key_pem=public_pem,
                             profiles=("tiny", "tiny"))  # fmt: skip
    with Simulator.running(config) as sim:
        assert sim.apple.private_key_pem is None
        with pytest.raises(RuntimeError):
            sim.apple.developer_token()
        token = sign_developer_token(private_pem, sim.apple.team_id, sim.apple.key_id)
        response = _apple_get(sim, token, None, "/v1/catalog/us/songs?ids=1")
        assert response.status_code == 200
