"""Every Spotify endpoint's responses validate against the reference OpenAPI definition."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blendify_assets.simulator import Simulator, SimulatorConfig
from tests.simulator.conftest import spotify_client
from tests.simulator.spec import require_reference, validate


@pytest.fixture(scope="module", params=[False, True], ids=["dev-mode", "extended-quota"])
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    require_reference()
    config = SimulatorConfig(users=6, seed=3, catalog_tracks=3_000, profiles=("medium",), profile_mix="tiny",
                             extended_quota=request.param)  # fmt: skip
    with Simulator.running(config) as running:
        yield running


def _paths(sim: Simulator) -> Iterator[tuple[str, str]]:
    """(user, api path) pairs covering every endpoint, variant and playlist entry kind."""
    covered: set[str] = set()
    for n, user in enumerate(sim.world.spotify_users[:3]):
        truth = sim.world.spotify_truth(user.uid)
        yield user.uid, "/me"
        lim = 50 if n == 0 else 5  # full pages once; shapes are the same for everyone
        for kind in ("tracks", "artists"):
            for tr in ("short_term", "medium_term", "long_term"):
                yield user.uid, f"/me/top/{kind}?time_range={tr}&limit={lim}"
            yield user.uid, f"/me/top/{kind}?offset=50"
        plays = truth["recently_played"]
        yield user.uid, f"/me/player/recently-played?limit={lim}"
        yield user.uid, f"/me/player/recently-played?limit=10&before={plays[20]['played_at_ms']}"
        yield user.uid, f"/me/player/recently-played?limit=10&after={plays[20]['played_at_ms']}"
        yield user.uid, f"/me/player/recently-played?after={plays[0]['played_at_ms']}"  # empty page
        yield user.uid, f"/me/playlists?limit={lim}"
        yield user.uid, f"/me/tracks?limit={lim}"
        yield user.uid, f"/me/albums?limit={lim}"
        yield user.uid, f"/me/following?type=artist&limit={lim}"
        for k, pl in enumerate(p for p in truth["playlists"] if p["readable"]):
            # validation is slow: one first page, then a page for each entry kind not yet seen
            kinds = [e["kind"] for e in pl["items"]]
            for offset in range(0, max(len(kinds), 1), 50):
                page_kinds = set(kinds[offset : offset + 50])
                if (n == 0 and k == 0 and offset == 0) or page_kinds - covered:
                    covered |= page_kinds
                    yield user.uid, f"/playlists/{pl['id']}/items?limit=50&offset={offset}"
                    yield (
                        user.uid,
                        f"/playlists/{pl['id']}/items?limit=50&offset={offset}&additional_types=track,episode",
                    )


def test_every_endpoint_validates(sim: Simulator) -> None:
    seen_kinds: set[str] = set()
    checked = 0
    clients: dict = {}
    for uid, path in _paths(sim):
        client = clients.setdefault(uid, spotify_client(sim, uid))
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:200])
        validate(path, 200, response.content, dev_mode=not sim.config.extended_quota)
        if "/items" in path:
            for entry in response.json()["items"]:
                item = entry["item"]
                seen_kinds.add("null" if item is None else "local" if entry["is_local"] else item["type"])
        checked += 1
    assert checked > 50
    assert {"null", "local", "episode", "track"} <= seen_kinds, seen_kinds


def test_mode_decides_optional_fields(sim: Simulator) -> None:
    uid = sim.world.spotify_users[0].uid
    with spotify_client(sim, uid) as client:
        track = client.get("/me/tracks?limit=1").json()["items"][0]["track"]
        artist = client.get("/me/top/artists?limit=1").json()["items"][0]
        me = client.get("/me").json()
    assert me["account_id"] and "isrc" in track["external_ids"]
    if sim.config.extended_quota:
        assert isinstance(track["popularity"], int) and "available_markets" in track
        assert "followers" in artist and "email" in me and "product" in me
    else:
        assert "popularity" not in track and "available_markets" not in track
        assert "followers" not in artist and "popularity" not in artist
        assert not {"email", "country", "product", "followers"} & set(me)


def test_error_bodies_validate_as_error_objects(sim: Simulator) -> None:
    import json

    uid = sim.world.spotify_users[0].uid
    with spotify_client(sim, uid) as client:
        unauthorized = client.get("/me/tracks", headers={"Authorization": "Bearer nope"})
        too_many = client.get("/me/tracks?limit=51")
    assert unauthorized.status_code == 401
    validate("/me/tracks", 401, unauthorized.content, dev_mode=True)
    assert too_many.status_code == 400
    assert json.loads(too_many.content)["error"]["status"] == 400


def test_validator_rejects_a_broken_response(sim: Simulator) -> None:
    """The check can fail: a track whose duration is a string is refused."""
    from openapi_core.exceptions import OpenAPIError

    uid = sim.world.spotify_users[0].uid
    with spotify_client(sim, uid) as client:
        body = client.get("/me/tracks?limit=1").content
    broken = body.replace(b'"duration_ms":', b'"duration_ms":"x', 1).replace(
        b',"explicit"', b'","explicit"', 1
    )
    with pytest.raises(OpenAPIError):
        validate("/me/tracks", 200, broken, dev_mode=True)
