"""Paging and cursors return exactly the ground truth, and limits behave like the real services."""

from __future__ import annotations

from blendify_assets.simulator import Simulator
from tests.simulator.conftest import apple_client, follow_spotify, spotify_client


def _first_spotify(sim: Simulator) -> str:
    return sim.world.spotify_users[0].uid


def test_saved_lists_page_to_the_truth(world_sim: Simulator) -> None:
    uid = _first_spotify(world_sim)
    truth = world_sim.world.spotify_truth(uid)
    with spotify_client(world_sim, uid) as client:
        tracks = follow_spotify(client, "/me/tracks?limit=50")
        albums = follow_spotify(client, "/me/albums?limit=50")
        first = client.get("/me/tracks?limit=50&offset=50").json()
    assert [(i["track"]["id"], i["added_at"]) for i in tracks] == [
        (t["track_id"], t["added_at"]) for t in truth["saved_tracks"]
    ]
    assert [i["album"]["id"] for i in albums] == [a["album_id"] for a in truth["saved_albums"]]
    assert len(tracks) == 800
    assert first["offset"] == 50 and first["previous"].endswith("offset=0&limit=50")
    assert first["next"].startswith(world_sim.spotify_api_url)


def test_playlists_and_items_match_truth(world_sim: Simulator) -> None:
    uid = _first_spotify(world_sim)
    truth = world_sim.world.spotify_truth(uid)
    with spotify_client(world_sim, uid) as client:
        playlists = follow_spotify(client, "/me/playlists?limit=50")
        assert [p["id"] for p in playlists] == [p["id"] for p in truth["playlists"]]
        assert all(p["items"]["total"] == p["tracks"]["total"] for p in playlists)
        owners = {p["owner"]["id"] for p in playlists}
        assert truth["user"]["spotify_id"] in owners and len(owners) > 1  # owned and followed
        for pl in truth["playlists"]:
            url = f"/playlists/{pl['id']}/items?limit=50&additional_types=track,episode"
            if not pl["readable"]:
                response = client.get(url)
                assert response.status_code == 403
                assert response.json() == {"error": {"status": 403, "message": "Forbidden"}}
                continue
            entries = follow_spotify(client, url)
            got = []
            for e in entries:
                item = e["item"]
                assert item == e["track"]
                kind = "null" if item is None else "local" if e["is_local"] else item["type"]
                got.append(
                    (kind, None if item is None else item["id"], None if item is None else item["uri"])
                )
            assert got == [(i["kind"], i["id"], i["uri"]) for i in pl["items"]]
        assert any(not p["readable"] for p in truth["playlists"])
        assert client.get("/playlists/nope/items").status_code == 404
        readable = next(p for p in truth["playlists"] if p["readable"])
        assert client.get(f"/playlists/{readable['id']}/items?limit=51").status_code == 400


def test_local_tracks_have_spotify_local_uris(world_sim: Simulator) -> None:
    locals_ = [i for u in world_sim.world.spotify_users
               for p in world_sim.world.spotify_truth(u.uid)["playlists"] if p["readable"]
               for i in p["items"] if i["kind"] == "local"]  # fmt: skip
    assert locals_
    assert all(i["uri"].startswith("spotify:local:") and i["id"] is None for i in locals_)
    assert all(i["uri"].rsplit(":", 1)[1].isdigit() and " " not in i["uri"] for i in locals_)


def test_followed_artists_cursor(world_sim: Simulator) -> None:
    uid = _first_spotify(world_sim)
    truth = world_sim.world.spotify_truth(uid)
    with spotify_client(world_sim, uid) as client:
        page = client.get("/me/following?type=artist&limit=7").json()["artists"]
        assert page["cursors"]["after"] == page["items"][-1]["id"]
        artists = follow_spotify(client, "/me/following?type=artist&limit=7", key="artists")
        assert client.get("/me/following?type=album").status_code == 400
    assert [a["id"] for a in artists] == truth["followed_artists"]
    assert page["total"] == len(truth["followed_artists"])


def test_top_lists_stop_at_50(world_sim: Simulator) -> None:
    uid = _first_spotify(world_sim)
    truth = world_sim.world.spotify_truth(uid)
    with spotify_client(world_sim, uid) as client:
        for tr in ("short_term", "medium_term", "long_term"):
            got = follow_spotify(client, f"/me/top/tracks?time_range={tr}&limit=20")
            assert [t["id"] for t in got] == truth["top_tracks"][tr]
            artists = client.get(f"/me/top/artists?time_range={tr}&limit=50").json()["items"]
            assert [a["id"] for a in artists] == truth["top_artists"][tr]
        beyond = client.get("/me/top/tracks?offset=50&limit=20").json()
        assert beyond["items"] == [] and beyond["limit"] == 0
        assert client.get("/me/top/tracks?limit=51").status_code == 400
        assert client.get("/me/top/tracks?time_range=forever").status_code == 400
    assert len(truth["top_tracks"]["long_term"]) == 50


def test_recently_played_cursors(world_sim: Simulator) -> None:
    uid = _first_spotify(world_sim)
    truth = world_sim.world.spotify_truth(uid)["recently_played"]
    assert len(truth) == 50
    with spotify_client(world_sim, uid) as client:
        everything = client.get("/me/player/recently-played?limit=50").json()
        assert [(i["track"]["id"], i["played_at"]) for i in everything["items"]] == [
            (p["track_id"], p["played_at"]) for p in truth
        ]
        assert everything["next"] is None
        backwards = follow_spotify(client, "/me/player/recently-played?limit=15")
        assert [i["played_at"] for i in backwards] == [p["played_at"] for p in truth]
        page = client.get("/me/player/recently-played?limit=15").json()
        assert page["cursors"] == {
            "after": str(truth[0]["played_at_ms"]),
            "before": str(truth[14]["played_at_ms"]),
        }
        after = client.get(f"/me/player/recently-played?limit=50&after={truth[10]['played_at_ms']}").json()
        assert [i["played_at"] for i in after["items"]] == [p["played_at"] for p in truth[:10]]
        assert any(i["context"] is None for i in everything["items"])
        assert client.get("/me/player/recently-played?limit=51").status_code == 400
        assert client.get("/me/player/recently-played?after=1&before=2").status_code == 400


def test_apple_library_next_links_drop_limit(world_sim: Simulator) -> None:
    uid = world_sim.world.apple_users[0].uid
    truth = world_sim.world.apple_truth(uid)
    with apple_client(world_sim, uid) as client:
        first = client.get("/v1/me/library/songs?limit=100").json()
        assert len(first["data"]) == 100 and first["meta"]["total"] == len(truth["library_songs"])
        assert first["next"] == "/v1/me/library/songs?offset=100"  # no limit: clients re-append it
        assert len(client.get(first["next"]).json()["data"]) == 25  # Apple's default page
        for what in ("songs", "albums", "artists", "playlists"):
            items, url = [], f"/v1/me/library/{what}?limit=100"
            while url:
                body = client.get(url).json()
                items += body["data"]
                url = body["next"] + "&limit=100" if body.get("next") else None
            assert [i["id"] for i in items] == [i["id"] for i in truth[f"library_{what}"]], what
        names = [s["attributes"]["name"].casefold() for s in first["data"]]
        assert names == sorted(names)
        assert client.get("/v1/me/library/songs?limit=101").json()["errors"][0]["code"] == "40005"


def test_apple_catalog_links_and_orphans(world_sim: Simulator) -> None:
    uid = world_sim.world.apple_users[0].uid
    truth = world_sim.world.apple_truth(uid)
    with apple_client(world_sim, uid) as client:
        songs = []
        url = "/v1/me/library/songs?limit=100"
        while url:
            body = client.get(url).json()
            songs += body["data"]
            url = body["next"] + "&limit=100" if body.get("next") else None
        linked = [s for s in songs if "catalogId" in s["attributes"]["playParams"]]
        orphans = [s for s in songs if "catalogId" not in s["attributes"]["playParams"]]
        assert linked and orphans
        ids = [s["attributes"]["playParams"]["catalogId"] for s in linked[:300]]
        catalog = client.get(f"/v1/catalog/us/songs?ids={','.join(ids)}").json()["data"]
        assert [c["id"] for c in catalog] == ids
        expected = {s["catalog_id"]: s["isrc"] for s in truth["library_songs"] if s["catalog_id"]}
        assert all(c["attributes"]["isrc"] == expected[c["id"]] for c in catalog)
        too_many = client.get(f"/v1/catalog/us/songs?ids={','.join(['1'] * 301)}")
        assert too_many.status_code == 400 and too_many.json()["errors"][0]["status"] == "400"
        isrcs = [c["attributes"]["isrc"] for c in catalog[:24]] + ["ZZZZZ0000000"]
        by_isrc = client.get(f"/v1/catalog/us/songs?filter[isrc]={','.join(isrcs)}").json()
        assert by_isrc["meta"]["filters"]["isrc"]["ZZZZZ0000000"] == []
        assert by_isrc["meta"]["filters"]["isrc"][isrcs[0]][0]["id"] == catalog[0]["id"]
        assert client.get(f"/v1/catalog/us/songs?filter[isrc]={','.join([*isrcs, 'X'])}").status_code == 400


def test_apple_recent_and_playlists(world_sim: Simulator) -> None:
    uid = world_sim.world.apple_users[0].uid
    truth = world_sim.world.apple_truth(uid)
    with apple_client(world_sim, uid) as client:
        over = client.get("/v1/me/recent/played/tracks?types=songs&limit=31").json()["errors"][0]
        assert over["code"] == "40005" and over["source"] == {"parameter": "limit"}
        assert client.get("/v1/me/recent/played/tracks").status_code == 400
        items, url = [], "/v1/me/recent/played/tracks?types=songs,library-songs&limit=30"
        while url:
            body = client.get(url).json()
            assert len(body["data"]) <= 30
            items += body["data"]
            url = body.get("next")  # limit falls back to the default 30 anyway
        assert [(i["type"], i["id"]) for i in items] == [
            (r["type"], r["id"]) for r in truth["recently_played"]
        ]
        assert len({i["id"] for i in items}) == len(items)
        assert all("isrc" in i["attributes"] for i in items if i["type"] == "songs")
        assert all("isrc" not in i["attributes"] for i in items if i["type"] == "library-songs")
        assert not any("playedAt" in i["attributes"] or "lastPlayedDate" in i["attributes"] for i in items)
        for pl in truth["library_playlists"]:
            response = client.get(f"/v1/me/library/playlists/{pl['id']}/tracks")
            if not pl["track_ids"]:
                assert response.status_code == 404
                continue
            got, url = [], f"/v1/me/library/playlists/{pl['id']}/tracks?limit=100"
            while url:
                body = client.get(url).json()
                got += [d["id"] for d in body["data"]]
                url = body["next"] + "&limit=100" if body.get("next") else None
            assert got == pl["track_ids"]
        summary = client.get("/v1/me/music-summaries?filter[year]=latest&views=top-songs,top-artists").json()
        songs = summary["data"][0]["views"]["top-songs"]["data"]
        assert [s["relationships"]["song"]["data"][0]["id"] for s in songs] == truth["music_summary"][
            "top_songs"
        ]
        assert client.get("/v1/me/music-summaries").status_code == 400
        assert client.get("/v1/me/storefront").json()["data"][0]["id"] == truth["user"]["storefront"]
        heavy = client.get("/v1/me/history/heavy-rotation").json()["data"]
        assert [h["id"] for h in heavy] == [h["id"] for h in truth["heavy_rotation"]]
