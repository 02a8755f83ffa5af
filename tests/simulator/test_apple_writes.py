"""Apple Music's write paths and catalogue lookups on the simulator: create, append, what Apple refuses."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from blendify_assets.simulator.apple_publish import add_library_playlist
from tests.simulator.conftest import apple_client

DELAY = 0.4


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config = SimulatorConfig(users=2, seed=7, catalog_tracks=3_000, apple_listing_delay_seconds=DELAY,
                             profiles=(UserProfile.tiny(apple=True), UserProfile.tiny(apple=True)))  # fmt: skip
    with Simulator.running(config) as running:
        yield running


def songs(sim: Simulator, n: int, start: int = 0) -> list[str]:
    return [t.apple_id for t in sim.world.catalog.tracks[start:] if t.apple_id][:n]  # type: ignore[misc]


def playlist_catalog_ids(client, pid: str) -> list[str]:
    body = client.get(f"/v1/me/library/playlists/{pid}/tracks?limit=100").json()
    return [s["attributes"]["playParams"]["catalogId"] for s in body["data"]]


def listed(client) -> set[str]:
    return {p["id"] for p in client.get("/v1/me/library/playlists?limit=100").json()["data"]}


def test_create_with_tracks_is_readable_at_once_and_listed_later(sim: Simulator) -> None:
    uid = sim.world.apple_users[0].uid
    with apple_client(sim, uid) as client:
        body = {"attributes": {"name": "Blend · 1 Sep 2026", "description": "Sam and Kim"},
                "relationships": {"tracks": {"data": [{"id": i, "type": "songs"} for i in songs(sim, 3)]}}}  # fmt: skip
        created = client.post("/v1/me/library/playlists", json=body)
        assert created.status_code == 201
        playlist = created.json()["data"][0]
        pid = playlist["id"]
        assert playlist["type"] == "library-playlists" and playlist["attributes"]["canEdit"] is True
        assert playlist["attributes"]["name"] == "Blend · 1 Sep 2026"
        assert client.get(f"/v1/me/library/playlists/{pid}").status_code == 200  # at once
        assert playlist_catalog_ids(client, pid) == songs(sim, 3)
        assert pid not in listed(client)  # ... but not listed yet
        recently = client.get("/v1/me/library/recently-added?limit=25").json()["data"]
        assert pid not in {r["id"] for r in recently}
        time.sleep(DELAY + 0.1)
        assert pid in listed(client)
        empty = client.post("/v1/me/library/playlists", json={"attributes": {"name": "No tracks yet"}})
        assert empty.status_code == 201  # tracks are optional
        assert client.post("/v1/me/library/playlists", json={"attributes": {}}).status_code == 400


def test_append_goes_to_the_end_and_untyped_tracks_vanish_silently(sim: Simulator) -> None:
    uid = sim.world.apple_users[0].uid
    ids = songs(sim, 6)
    with apple_client(sim, uid) as client:
        pid = client.post("/v1/me/library/playlists", json={"attributes": {"name": "Append"}}).json()["data"][
            0
        ]["id"]
        first = client.post(
            f"/v1/me/library/playlists/{pid}/tracks",
            json={"data": [{"id": i, "type": "songs"} for i in ids[:2]]},
        )
        assert first.status_code == 204 and first.content == b""
        untyped = client.post(f"/v1/me/library/playlists/{pid}/tracks", json={"data": [{"id": ids[2]}]})
        assert untyped.status_code == 204  # Apple says yes ...
        assert playlist_catalog_ids(client, pid) == ids[:2]  # ... and adds nothing
        client.post(
            f"/v1/me/library/playlists/{pid}/tracks",
            json={"data": [{"id": i, "type": "songs"} for i in ids[3:6]]},
        )
        assert playlist_catalog_ids(client, pid) == ids[:2] + ids[3:6]
    library = {s["catalog_id"] for s in sim.world.apple_truth(uid)["library_songs"]}
    assert set(ids[:2] + ids[3:6]) <= library  # published songs enter the member's library


def test_apple_refuses_edits_it_does_not_offer(sim: Simulator) -> None:
    world = sim.world
    user = world.apple_users[0]
    favourites = add_library_playlist(world, user, "Favorite Songs", can_edit=False)
    with apple_client(sim, user.uid) as client:
        refused = client.post(f"/v1/me/library/playlists/{favourites.id}/tracks",
                              json={"data": [{"id": songs(sim, 1)[0], "type": "songs"}]})  # fmt: skip
        assert refused.status_code == 500
        assert refused.json()["errors"][0]["code"] == "50001"
        assert refused.json()["errors"][0]["title"] == "Unable to update tracks"
        pid = client.post("/v1/me/library/playlists", json={"attributes": {"name": "Mine"}}).json()["data"][
            0
        ]["id"]
        for method in ("DELETE", "PUT", "PATCH"):
            for path in (f"/v1/me/library/playlists/{pid}", f"/v1/me/library/playlists/{pid}/tracks"):
                assert client.request(method, path, json={"attributes": {"name": "x"}}).status_code == 401, (
                    method,
                    path,
                )
        assert (
            client.get(f"/v1/me/library/playlists/{favourites.id}").json()["data"][0]["attributes"]["canEdit"]
            is False
        )


def test_catalogue_by_isrc_answers_every_release_of_a_recording(sim: Simulator) -> None:
    world = sim.world
    twin = next(r for r in world.cross.releases if r.service == "apple" and r.role == "release_twin")
    main = world.catalog.tracks[world.catalog.tracks_by_isrc[twin.isrc.upper()][0]]
    with apple_client(sim, world.apple_users[0].uid) as client:
        storefront = client.get("/v1/me/storefront").json()["data"][0]["id"]
        body = client.get(
            f"/v1/catalog/{storefront}/songs", params={"filter[isrc]": main.isrc.lower()}
        ).json()
        found = {s["id"] for s in body["data"]}
        assert {main.apple_id, twin.id} <= found and len(found) >= 2
        assert {s["attributes"]["isrc"] for s in body["data"]} == {main.isrc}
        assert {r["id"] for r in body["meta"]["filters"]["isrc"][main.isrc.lower()]} == found
        codes = [t.isrc for t in world.catalog.tracks[:26]]
        assert (
            client.get(
                f"/v1/catalog/{storefront}/songs", params={"filter[isrc]": ",".join(codes)}
            ).status_code
            == 400
        )
        assert client.get(f"/v1/catalog/{storefront}/songs/{twin.id}").json()["data"][0]["id"] == twin.id


def test_catalogue_search_finds_title_and_artist_and_caps_the_page(sim: Simulator) -> None:
    world = sim.world
    track = next(t for t in world.catalog.tracks if t.apple_id)
    artist = world.catalog.artists[track.artist_idxs[0]].name
    with apple_client(sim, world.apple_users[0].uid) as client:
        page = client.get(
            "/v1/catalog/us/search", params={"term": f"{track.name} {artist}", "types": "songs"}
        ).json()
        data = page["results"]["songs"]["data"]
        assert data[0]["id"] == track.apple_id and len(data) <= 5
        assert (
            client.get(
                "/v1/catalog/us/search", params={"term": "x", "types": "songs", "limit": 26}
            ).status_code
            == 400
        )
        assert client.get("/v1/catalog/us/search", params={"types": "songs"}).status_code == 400


def test_write_faults_hit_apple_writes(sim: Simulator) -> None:
    uid = sim.world.apple_users[0].uid
    sim.faults.add("/v1/me/library/playlists", "http_503", method="POST", count=1, provider="apple")
    with apple_client(sim, uid) as client:
        assert client.get("/v1/me/library/playlists").status_code == 200
        failed = client.post("/v1/me/library/playlists", json={"attributes": {"name": "x"}})
        assert failed.status_code == 503 and failed.json()["errors"][0]["status"] == "503"
        assert client.post("/v1/me/library/playlists", json={"attributes": {"name": "x"}}).status_code == 201
