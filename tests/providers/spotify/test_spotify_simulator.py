"""The Spotify provider layer against the simulator over real HTTP: ground truth and incremental fetches."""

from __future__ import annotations

import math
from typing import Any

import pytest

from blendify_assets.core.fetch import EndpointFetch, SyncState
from blendify_assets.providers.spotify.parse import parse_time
from blendify_assets.providers.spotify.provider import PROVIDER

ENDPOINTS = {e.name: e for e in PROVIDER.endpoints}

pytestmark = pytest.mark.anyio


def states_after(results: dict[str, EndpointFetch]) -> dict[str, SyncState]:
    """What the ingest engine would hand back after storing `results`."""
    states = {}
    for name, fetch in results.items():
        state = SyncState(scope_versions={s.scope: s.version for s in fetch.scopes if s.version})
        if fetch.events:
            state.last_played_at = max(row["played_at"] for row in fetch.events)
        states[name] = state
    return states


def by_scope(fetch: EndpointFetch) -> dict[str, list[dict[str, Any]]]:
    return {s.scope: s.rows for s in fetch.scopes}


def entry_id(item: dict[str, Any]) -> str:
    return item["id"] or item["uri"]


def assert_playlist_tracks_match(fetch: EndpointFetch, truth: dict, only: set[str] | None = None) -> None:
    got = by_scope(fetch)
    for playlist in truth["playlists"]:
        if not playlist["readable"] or (only is not None and playlist["id"] not in only):
            assert playlist["id"] not in got
            continue
        rows = got[playlist["id"]]
        expected = [i for i in playlist["items"] if i["kind"] != "null"]
        assert [r["track_position"] for r in rows] == [i["position"] for i in expected]
        assert [r["track_id"] for r in rows] == [entry_id(i) for i in expected]
        assert [r["item_type"] for r in rows] == [i["kind"] for i in expected]
        assert [r["isrc"] for r in rows] == [i["isrc"] for i in expected]
        assert [r["added_by"] for r in rows] == [i["added_by"] for i in expected]
        assert [r["added_at"] for r in rows] == [parse_time(i["added_at"]) for i in expected]
        scope = next(s for s in fetch.scopes if s.scope == playlist["id"])
        assert scope.version == playlist["snapshot_id"] and scope.expected_count == playlist["total"]


async def test_full_fetch_equals_ground_truth(sim, uid, spotify_connect, fetch_all) -> None:
    truth = sim.world.spotify_truth(uid)
    client, _ = spotify_connect(sim, uid)
    async with client:
        results = await fetch_all(client)
    assert set(results) == set(ENDPOINTS)

    for kind in ("tracks", "artists"):
        scopes = by_scope(results[f"top_{kind}"])
        key = "track_id" if kind == "tracks" else "artist_id"
        for time_range, ids in truth[f"top_{kind}"].items():
            assert [r[key] for r in scopes[time_range]] == ids
            assert [r["rank"] for r in scopes[time_range]] == list(range(1, len(ids) + 1))

    plays = results["recently_played"].events
    expected_plays = list(reversed(truth["recently_played"]))  # truth is newest first
    assert [(r["track_id"], r["played_at"]) for r in plays] == [
        (p["track_id"], parse_time(p["played_at"])) for p in expected_plays
    ]
    assert [r["isrc"] for r in plays] == [p["isrc"] for p in expected_plays]

    playlists = results["playlists"]
    assert playlists.provider_user_id == truth["user"]["account_id"]
    rows = playlists.scopes[0].rows
    assert [r["playlist_id"] for r in rows] == [p["id"] for p in truth["playlists"]]
    assert [r["snapshot_id"] for r in rows] == [p["snapshot_id"] for p in truth["playlists"]]
    assert [r["is_owner"] for r in rows] == [p["is_owner"] for p in truth["playlists"]]
    assert [r["track_count"] for r in rows] == [p["total"] for p in truth["playlists"]]

    tracks = results["playlist_tracks"]
    assert_playlist_tracks_match(tracks, truth)
    nulls = sum(1 for p in truth["playlists"] if p["readable"] for i in p["items"] if i["kind"] == "null")
    assert tracks.stats.skipped_null == nulls and tracks.stats.skipped_malformed == 0
    forbidden = [p for p in truth["playlists"] if not p["readable"] and (p["is_owner"] or p["collaborative"])]
    assert tracks.stats.skipped_forbidden == len(forbidden)

    saved = results["saved_tracks"].scopes[0].rows
    assert [(r["track_id"], r["isrc"], r["saved_at"]) for r in saved] == [
        (t["track_id"], t["isrc"], parse_time(t["added_at"])) for t in truth["saved_tracks"]
    ]
    albums = results["saved_albums"].scopes[0].rows
    assert [(r["album_id"], r["saved_at"]) for r in albums] == [
        (a["album_id"], parse_time(a["added_at"])) for a in truth["saved_albums"]
    ]
    followed = results["followed_artists"].scopes[0].rows
    assert sorted(r["artist_id"] for r in followed) == sorted(truth["followed_artists"])
    assert len(followed) == len(truth["followed_artists"])  # no duplicates across cursor pages


async def test_full_fetch_uses_the_minimum_number_of_requests(sim, uid, spotify_connect, fetch_all) -> None:
    truth = sim.world.spotify_truth(uid)
    client, _ = spotify_connect(sim, uid)
    async with client:
        results = await fetch_all(client)

    def pages(n: int) -> int:
        return max(1, math.ceil(n / 50))

    readable = [p for p in truth["playlists"] if p["readable"]]
    forbidden = [p for p in truth["playlists"] if not p["readable"] and (p["is_owner"] or p["collaborative"])]
    expected = {
        "top_tracks": 3,
        "top_artists": 3,
        "recently_played": 1,
        "playlists": 1 + pages(len(truth["playlists"])),  # + /me
        "playlist_tracks": sum(pages(p["total"]) for p in readable) + len(forbidden),
        "saved_tracks": pages(len(truth["saved_tracks"])),
        "saved_albums": pages(len(truth["saved_albums"])),
        "followed_artists": pages(len(truth["followed_artists"])),
    }
    assert {name: f.stats.requests for name, f in results.items()} == expected


async def test_refetch_with_nothing_changed_is_cheap(sim, uid, spotify_connect, fetch_all) -> None:
    client, _ = spotify_connect(sim, uid)
    async with client:
        first = await fetch_all(client)
        again = await fetch_all(client, states_after(first))

    readable = {s.scope for s in first["playlist_tracks"].scopes}
    assert again["playlist_tracks"].scopes == [] and again["playlist_tracks"].stats.requests == 0
    assert set(again["playlist_tracks"].unchanged_scopes) == readable
    for name in ("saved_tracks", "saved_albums"):
        assert again[name].unchanged_scopes == [""] and again[name].scopes == []
        assert again[name].stats.requests == 1
    assert again["recently_played"].events == [] and again["recently_played"].stats.requests == 1


async def test_refetch_after_time_passes_reads_only_what_changed(
    sim, uid, spotify_connect, fetch_all
) -> None:
    client, _ = spotify_connect(sim, uid)
    async with client:
        first = await fetch_all(client)
        before = sim.world.spotify_truth(uid)
        sim.clock.advance(hours=72)
        after = sim.world.spotify_truth(uid)
        # Tokens were issued before the jump; the client refreshes them as needed.
        again = await fetch_all(client, states_after(first))

    old_snapshots = {p["id"]: p["snapshot_id"] for p in before["playlists"]}
    changed = {
        p["id"]
        for p in after["playlists"]
        if p["readable"] and old_snapshots.get(p["id"]) != p["snapshot_id"]
    }
    assert {s.scope for s in again["playlist_tracks"].scopes} == changed
    assert_playlist_tracks_match(again["playlist_tracks"], after, only=changed)

    last = max(r["played_at"] for r in first["recently_played"].events)
    new_plays = [p for p in reversed(after["recently_played"]) if parse_time(p["played_at"]) > last]
    assert [r["played_at"] for r in again["recently_played"].events] == [
        parse_time(p["played_at"]) for p in new_plays
    ]

    saved_changed = before["saved_tracks"] != after["saved_tracks"]
    assert (again["saved_tracks"].unchanged_scopes == [""]) is not saved_changed
    if saved_changed:
        assert [r["track_id"] for r in again["saved_tracks"].scopes[0].rows] == [
            t["track_id"] for t in after["saved_tracks"]
        ]
