"""Spotify's write paths and search on the simulator: shapes, limits, scopes, 2026 403s, faults."""

from __future__ import annotations

import pytest

from blendify_assets.simulator import Simulator, SimulatorConfig
from blendify_assets.simulator.spotify_accounts import DEFAULT_SCOPE, PUBLISH_SCOPE
from tests.simulator.conftest import follow_spotify, spotify_client
from tests.simulator.spec import require_reference, validate


def uris(sim: Simulator, start: int, n: int) -> list[str]:
    return [f"spotify:track:{t.sid}" for t in sim.world.catalog.tracks[start : start + n]]


def item_uris(client, playlist_id: str) -> list[str]:
    return [e["item"]["uri"] for e in follow_spotify(client, f"/playlists/{playlist_id}/items?limit=50")]


def test_create_add_replace_rename_and_read_back(simulator: Simulator) -> None:
    require_reference()
    user = simulator.world.spotify_users[0]
    with spotify_client(simulator, user.uid, scope=PUBLISH_SCOPE) as client:
        sent = {"name": "Our blend", "description": "Sam & Kim's blend", "public": False}
        created = client.post("/me/playlists", json=sent)
        assert created.status_code == 201
        validate("/me/playlists", 201, created.content, dev_mode=True, method="post", sent=sent)
        playlist = created.json()
        pid, first_snapshot = playlist["id"], playlist["snapshot_id"]
        assert playlist["owner"]["id"] == user.spotify_id and playlist["public"] is False
        assert playlist["description"] == "Sam &amp; Kim's blend"  # Spotify returns it HTML-escaped
        assert playlist["items"]["total"] == 0

        added = client.post(f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 3)})
        assert added.status_code == 201 and added.json()["snapshot_id"] != first_snapshot
        validate(f"/playlists/{pid}/items", 201, added.content, dev_mode=True, method="post")
        front = client.post(f"/playlists/{pid}/items", json={"uris": uris(simulator, 10, 1), "position": 0})
        assert front.status_code == 201
        assert item_uris(client, pid) == uris(simulator, 10, 1) + uris(simulator, 0, 3)

        mine = client.get("/me/playlists?limit=5").json()["items"]
        assert mine[0]["id"] == pid and mine[0]["items"]["total"] == 4  # newest first
        truth = next(p for p in simulator.world.spotify_truth(user.uid)["playlists"] if p["id"] == pid)
        assert [i["uri"] for i in truth["items"]] == item_uris(client, pid) and truth["is_owner"]

        replaced = client.put(f"/playlists/{pid}/items", json={"uris": uris(simulator, 20, 100)})
        assert replaced.status_code == 200
        validate(f"/playlists/{pid}/items", 200, replaced.content, dev_mode=True, method="put")
        assert item_uris(client, pid) == uris(simulator, 20, 100)
        cleared = client.put(f"/playlists/{pid}/items", json={"uris": []})
        assert cleared.status_code == 200 and item_uris(client, pid) == []

        before = client.get(f"/playlists/{pid}").json()["snapshot_id"]
        renamed = client.put(f"/playlists/{pid}", json={"name": "Our blend, week 2", "description": "new"})
        assert renamed.status_code == 200 and renamed.content == b""
        validate(f"/playlists/{pid}", 200, b"", dev_mode=True, method="put")
        after = client.get(f"/playlists/{pid}")
        validate(f"/playlists/{pid}", 200, after.content, dev_mode=True)
        assert after.json()["name"] == "Our blend, week 2" and after.json()["snapshot_id"] != before


def test_a_write_of_more_than_100_items_or_of_unknown_ids_is_refused(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    with spotify_client(simulator, uid, scope=PUBLISH_SCOPE) as client:
        pid = client.post("/me/playlists", json={"name": "Limits", "public": False}).json()["id"]
        for method in ("post", "put"):
            too_many = client.request(
                method, f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 101)}
            )
            assert too_many.status_code == 400
            assert too_many.json()["error"]["message"] == "You can add a maximum of 100 tracks per request."
        unknown = client.post(
            f"/playlists/{pid}/items", json={"uris": ["spotify:track:0000000000000000000000"]}
        )
        assert unknown.json()["error"] == {"status": 400, "message": "Payload contains a non-existing ID"}
        local = client.post(f"/playlists/{pid}/items", json={"uris": ["spotify:local:A:B:C:200"]})
        assert local.status_code == 400
        assert (
            client.post(
                f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 1), "position": 5}
            ).status_code
            == 400
        )
        assert item_uris(client, pid) == []  # nothing of a refused request lands
        # the query string wins over the body
        query = client.post(
            f"/playlists/{pid}/items?uris={uris(simulator, 5, 1)[0]}", json={"uris": uris(simulator, 0, 2)}
        )
        assert query.status_code == 201 and item_uris(client, pid) == uris(simulator, 5, 1)
        assert client.post("/me/playlists", json={"public": False}).status_code == 400  # no name


def test_writes_need_the_playlists_scope_and_ownership(simulator: Simulator) -> None:
    owner, other = (u.uid for u in simulator.world.spotify_users[:2])
    with spotify_client(simulator, owner) as reader:  # the read scopes only
        refused = reader.post("/me/playlists", json={"name": "No", "public": False})
        assert (
            refused.status_code == 403 and refused.json()["error"]["message"] == "Insufficient client scope"
        )
    with spotify_client(simulator, owner, scope=DEFAULT_SCOPE + " playlist-modify-public") as public_only:
        assert (
            public_only.post("/me/playlists", json={"name": "Public"}).status_code == 201
        )  # public by default
        assert public_only.post("/me/playlists", json={"name": "P", "public": False}).status_code == 403
    with spotify_client(simulator, owner, scope=PUBLISH_SCOPE) as client:
        pid = client.post("/me/playlists", json={"name": "Mine", "public": False}).json()["id"]
        collab = client.post("/me/playlists", json={"name": "C", "public": True, "collaborative": True})
        assert collab.status_code == 400
    with spotify_client(simulator, other, scope=PUBLISH_SCOPE) as stranger:
        assert (
            stranger.post(f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 1)}).status_code == 403
        )
        assert stranger.put(f"/playlists/{pid}", json={"name": "Hijacked"}).status_code == 403
    with spotify_client(simulator, owner, scope=DEFAULT_SCOPE + " playlist-modify-public") as public_only:
        assert (
            public_only.post(f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 1)}).status_code
            == 403
        )


def test_the_paths_development_mode_lost_answer_403(simulator: Simulator) -> None:
    user = simulator.world.spotify_users[0]
    with spotify_client(simulator, user.uid, scope=PUBLISH_SCOPE) as client:
        pid = client.post("/me/playlists", json={"name": "Old paths", "public": False}).json()["id"]
        assert client.post(f"/users/{user.spotify_id}/playlists", json={"name": "x"}).status_code == 403
        assert client.get(f"/users/{user.spotify_id}/playlists").status_code == 403
        for method in ("post", "put", "delete"):
            answer = client.request(method, f"/playlists/{pid}/tracks", json={"uris": uris(simulator, 0, 1)})
            assert answer.status_code == 403, method
        assert item_uris(client, pid) == []


def test_extended_quota_keeps_the_old_paths() -> None:
    require_reference()
    config = SimulatorConfig(users=2, seed=7, profile_mix="tiny", catalog_tracks=3_000, extended_quota=True)
    with Simulator.running(config) as sim:
        user = sim.world.spotify_users[0]
        release = next(r for r in sim.world.cross.releases if r.service == "spotify")
        with spotify_client(sim, user.uid, scope=PUBLISH_SCOPE) as client:
            created = client.post(
                f"/users/{user.spotify_id}/playlists", json={"name": "Old", "public": False}
            )
            assert created.status_code == 201
            validate(
                "/me/playlists", 201, created.content, dev_mode=False, method="post", sent={"name": "Old"}
            )
            path = f"/search?q=isrc:{release.isrc}&type=track&limit=10"
            found = client.get(path)
            validate(path, 200, found.content, dev_mode=False)  # popularity and markets back in place
            assert all(t["popularity"] >= 0 for t in found.json()["tracks"]["items"])
            pid = created.json()["id"]
            assert client.post(f"/playlists/{pid}/tracks", json={"uris": uris(sim, 0, 2)}).status_code == 201
            assert item_uris(client, pid) == uris(sim, 0, 2)


def test_search_by_isrc_is_case_blind_and_answers_every_release(simulator: Simulator) -> None:
    require_reference()
    world = simulator.world
    twin = next(r for r in world.cross.releases if r.service == "spotify" and r.role == "release_twin")
    track = world.catalog.tracks[world.catalog.tracks_by_isrc[twin.isrc.upper()][0]]
    with spotify_client(simulator, world.spotify_users[0].uid) as client:
        for code in (track.isrc.lower(), track.isrc):
            path = f"/search?q=isrc:{code}&type=track&limit=10"
            found = client.get(path)
            validate(path, 200, found.content, dev_mode=True)
            assert {t["id"] for t in found.json()["tracks"]["items"]} >= {track.sid, twin.id}
        lower = next(t for t in world.catalog.tracks if t.spotify_isrc != t.isrc)
        hit = client.get(f"/search?q=isrc:{lower.isrc}&type=track").json()["tracks"]["items"]
        assert hit[0]["id"] == lower.sid and hit[0]["external_ids"]["isrc"] == lower.isrc.lower()

        artist = world.catalog.artists[track.artist_idxs[0]].name
        q = f'track:"{track.name}" artist:"{artist}"'
        page = client.get("/search", params={"q": q, "type": "track"}).json()["tracks"]
        assert page["limit"] == 5 and track.sid in [t["id"] for t in page["items"]]  # default limit 5
        for bad in ("limit=11", "limit=0", "offset=1001"):
            refused = client.get(f"/search?q=isrc:{track.isrc}&type=track&{bad}")
            assert refused.status_code == 400
        assert (
            client.get(f"/search?q=isrc:{track.isrc}&type=track&limit=11").json()["error"]["message"]
            == "Invalid limit"
        )
        assert client.get("/search?type=track").status_code == 400  # no q


def test_releases_and_episodes_can_be_published_and_read_back(simulator: Simulator) -> None:
    require_reference()
    world = simulator.world
    release = next(r for r in world.cross.releases if r.service == "spotify")
    episode = world.catalog.episodes[0]
    user = world.spotify_users[0]
    with spotify_client(simulator, user.uid, scope=PUBLISH_SCOPE) as client:
        pid = client.post("/me/playlists", json={"name": "Mixed", "public": False}).json()["id"]
        sent = [f"spotify:track:{release.id}", f"spotify:episode:{episode.sid}", *uris(simulator, 0, 1)]
        assert client.post(f"/playlists/{pid}/items", json={"uris": sent}).status_code == 201
        path = f"/playlists/{pid}/items?limit=50&additional_types=track,episode"
        page = client.get(path)
        validate(path, 200, page.content, dev_mode=True)
        assert [e["item"]["uri"] for e in page.json()["items"]] == sent
        removed = client.request("DELETE", f"/playlists/{pid}/items", json={"items": [{"uri": sent[1]}]})
        assert removed.status_code == 200
    truth = next(p for p in world.spotify_truth(user.uid)["playlists"] if p["id"] == pid)
    assert [i["id"] for i in truth["items"]] == [release.id, world.catalog.tracks[0].sid]
    assert truth["items"][0]["isrc"] == release.isrc.upper()


def test_write_faults_by_method_and_after_the_write(simulator: Simulator) -> None:
    uid = simulator.world.spotify_users[0].uid
    with spotify_client(simulator, uid, scope=PUBLISH_SCOPE) as client:
        pid = client.post("/me/playlists", json={"name": "Faults", "public": False}).json()["id"]
        simulator.faults.add("/playlists/*/items", "http_502", method="POST", count=1)
        assert client.get(f"/playlists/{pid}/items").status_code == 200  # reads pass
        assert client.post(f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 2)}).status_code == 502
        assert item_uris(client, pid) == []  # an ordinary fault answers in place of the API
        simulator.faults.add("/playlists/*/items", "http_500", method="POST", count=1, after=True)
        lost = client.post(f"/playlists/{pid}/items", json={"uris": uris(simulator, 0, 2)})
        assert lost.status_code == 500
        assert item_uris(client, pid) == uris(simulator, 0, 2)  # ... but this one was applied
        simulator.faults.add("/me/playlists", "http_503", method="POST", count=1, after=True)
        assert client.post("/me/playlists", json={"name": "Faults", "public": False}).status_code == 503
        names = [p["name"] for p in client.get("/me/playlists?limit=3").json()["items"]]
        assert names[:2] == ["Faults", "Faults"]  # a retried create makes a second playlist
    with pytest.raises(ValueError, match="after=True"):
        simulator.faults.add("*", "rate_limit", after=True)


def test_track_lookups_are_one_at_a_time_in_development_mode(simulator: Simulator) -> None:
    """Feb 2026: `GET /tracks/{id}` stays, the batch `GET /tracks?ids=` is a bare 403 (reference §9)."""
    require_reference()
    user = simulator.world.spotify_users[0]
    first, second = simulator.world.catalog.tracks[:2]
    with spotify_client(simulator, user.uid) as client:
        one = client.get(f"/tracks/{first.sid}")
        assert one.status_code == 200 and one.json()["id"] == first.sid
        validate(f"/tracks/{first.sid}", 200, one.content, dev_mode=True)
        assert one.json()["external_ids"]["isrc"] == first.spotify_isrc
        assert client.get("/tracks/0000000000000000000000").status_code == 404
        assert client.get(f"/tracks?ids={first.sid},{second.sid}").status_code == 403


def test_extended_quota_keeps_the_batch_track_lookup() -> None:
    config = SimulatorConfig(users=2, seed=7, profile_mix="tiny", catalog_tracks=3_000, extended_quota=True)
    with Simulator.running(config) as sim:
        first, second = sim.world.catalog.tracks[:2]
        with spotify_client(sim, sim.world.spotify_users[0].uid) as client:
            both = client.get(f"/tracks?ids={first.sid},nosuchtrack,{second.sid}")
            assert both.status_code == 200
            assert [t and t["id"] for t in both.json()["tracks"]] == [first.sid, None, second.sid]
            many = ",".join(t.sid for t in sim.world.catalog.tracks[:51])
            assert client.get(f"/tracks?ids={many}").status_code == 400
