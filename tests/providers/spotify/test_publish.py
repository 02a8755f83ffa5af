"""Spotify publish calls against the simulator over HTTP: lookups, create, replace in chunks, errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from blendify_assets.core.fetch import FetchStats
from blendify_assets.providers.errors import NeedsReauth, TransientError
from blendify_assets.providers.publishing import MissingScope
from blendify_assets.providers.spotify import publish
from blendify_assets.providers.spotify.auth import SpotifyApp, tokens_from_response
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator.spotify_accounts import DEFAULT_SCOPE, PUBLISH_SCOPE
from tests.providers.spotify.conftest import FAST


def client_for(sim: Any, uid: str, scope: str = PUBLISH_SCOPE) -> tuple[SpotifyClient, InMemoryTokenSource]:
    issued = sim.spotify.issue_tokens(uid, scope=scope)
    source = InMemoryTokenSource(tokens_from_response(issued, previous_refresh=None, now=datetime.now(UTC)))
    app = SpotifyApp(client_id="blendify-test", accounts_url=sim.spotify_accounts_url)
    return SpotifyClient(source, app, api_url=sim.spotify_api_url, policy=FAST, timeout=5.0), source


def run(sim: Any, uid: str, work, scope: str = PUBLISH_SCOPE):
    """(result, stats) of `work(client, stats)` on a fresh client."""

    async def go():
        client, _ = client_for(sim, uid, scope)
        stats = FetchStats()
        async with client:
            return await work(client, stats), stats

    return asyncio.run(go())


def uris(sim: Any, n: int) -> list[str]:
    return [f"spotify:track:{t.sid}" for t in sim.world.catalog.tracks[:n]]


def test_isrc_lookup_returns_every_release_and_search_finds_by_title(sim, uid) -> None:
    world = sim.world
    twin = next(r for r in world.cross.releases if r.service == "spotify" and r.role == "release_twin")
    track = world.catalog.tracks[world.catalog.tracks_by_isrc[twin.isrc.upper()][0]]
    artist = world.catalog.artists[track.artist_idxs[0]].name

    async def work(client, stats):
        by_isrc = await publish.search_isrc(client, f" {track.isrc.lower()} ", stats)
        by_title = await publish.search_tracks(client, track.name, artist, stats)
        return by_isrc, by_title

    (by_isrc, by_title), stats = run(sim, uid, work)
    assert {t.track_id for t in by_isrc} >= {track.sid, twin.id} and stats.requests == 2
    first = next(t for t in by_isrc if t.track_id == track.sid)
    assert first.isrc == track.isrc and first.uri == f"spotify:track:{track.sid}"
    assert (
        first.duration_ms == track.duration_ms
        and first.album_name == world.catalog.albums[track.album_idx].name
    )
    assert by_title[0].track_id == track.sid
    requests = sim.request_log.filter("/search")
    assert all("limit=10" in r.query for r in requests)  # the development-mode maximum, never more


def test_replace_puts_the_first_100_then_posts_the_rest_in_order(sim, uid) -> None:
    wanted = uris(sim, 250)

    async def work(client, stats):
        playlist = await publish.create_playlist(client, "Blend", stats, description="Sam and Kim")
        await publish.replace_items(client, playlist.playlist_id, wanted, stats)
        first = await publish.playlist_uris(client, playlist.playlist_id, stats)
        await publish.replace_items(client, playlist.playlist_id, wanted[:30], stats)  # a smaller generation
        second = await publish.playlist_uris(client, playlist.playlist_id, stats)
        await publish.update_details(client, playlist.playlist_id, stats, name="Blend (week 2)")
        return playlist, first, second

    (playlist, first, second), _ = run(sim, uid, work)
    assert first == wanted and second == wanted[:30]
    writes = [(r.method, r.path) for r in sim.request_log.filter("/playlists/") if r.method != "GET"]
    items = f"/playlists/{playlist.playlist_id}/items"
    assert writes == [("PUT", items), ("POST", items), ("POST", items), ("PUT", items),
                      ("PUT", f"/playlists/{playlist.playlist_id}")]  # fmt: skip
    assert (
        playlist.url == f"https://open.spotify.com/playlist/{playlist.playlist_id}" and playlist.snapshot_id
    )
    truth = next(p for p in sim.world.spotify_truth(uid)["playlists"] if p["id"] == playlist.playlist_id)
    assert truth["name"] == "Blend (week 2)" and truth["public"] is False and len(truth["items"]) == 30


def test_an_empty_generation_clears_the_playlist_in_one_request(sim, uid) -> None:
    async def work(client, stats):
        playlist = await publish.create_playlist(client, "Empty", stats)
        await publish.add_items(client, playlist.playlist_id, uris(sim, 3), stats)
        before = stats.requests
        await publish.replace_items(client, playlist.playlist_id, [], stats)
        return stats.requests - before, await publish.playlist_uris(client, playlist.playlist_id, stats)

    (requests, left), _ = run(sim, uid, work)
    assert requests == 1 and left == []


def test_a_member_without_the_write_scopes_gets_missing_scope(sim, uid) -> None:
    assert publish.missing_scopes(DEFAULT_SCOPE) == ["playlist-modify-private"]
    assert publish.missing_scopes(PUBLISH_SCOPE) == [] and publish.missing_scopes(None) == []

    async def work(client, stats):
        return await publish.create_playlist(client, "No", stats)

    with pytest.raises(MissingScope, match="write scopes"):
        run(sim, uid, work, scope=DEFAULT_SCOPE)
    assert sim.request_log.count("/me/playlists", status=403) == 1  # not retried


def test_a_revoked_member_needs_reauth_and_nothing_is_written(sim, uid) -> None:
    async def work(client, stats):
        sim.spotify.revoke(uid)
        return await publish.create_playlist(client, "Revoked", stats)

    client, source = client_for(sim, uid)

    async def go():
        async with client:
            return await work(client, FetchStats())

    with pytest.raises(NeedsReauth):
        asyncio.run(go())
    assert source.needs_reauth
    assert not [p for p in sim.world.playlists.values() if p.name == "Revoked"]


def test_429_and_5xx_are_retried_through_the_shared_layer(sim, uid) -> None:
    sim.faults.add("/playlists/*/items", "rate_limit", method="POST", count=1, retry_after=1)
    sim.faults.add("/playlists/*/items", "http_503", method="PUT", count=2)

    async def work(client, stats):
        playlist = await publish.create_playlist(client, "Flaky", stats)
        await publish.replace_items(client, playlist.playlist_id, uris(sim, 150), stats)
        return await publish.playlist_uris(client, playlist.playlist_id, stats)

    result, stats = run(sim, uid, work)
    assert result == uris(sim, 150)
    assert stats.retries == 2 and stats.rate_limit_waits == 1
    sim.faults.add("/playlists/*/items", "http_500", method="PUT")  # for good

    async def stuck(client, stats):
        playlist = await publish.create_playlist(client, "Down", stats)
        await publish.replace_items(client, playlist.playlist_id, uris(sim, 5), stats)

    with pytest.raises(TransientError, match="gave up after 4 tries"):
        run(sim, uid, stuck)


def test_find_playlist_recovers_a_create_whose_answer_was_lost(sim, uid) -> None:
    sim.faults.add("/me/playlists", "http_502", method="POST", count=1, after=True)

    async def work(client, stats):
        with pytest.raises(TransientError):  # the create happened, its answer and every retry's got lost
            await publish.create_playlist(client, "Blend", stats, description="blendify:abc123")
        return await publish.find_playlist(client, stats, name="Blend", marker="blendify:abc123")

    sim.faults.add("/me/playlists", "http_502", method="POST")  # every retry is lost too

    found, _ = run(sim, uid, work)
    created = [p for p in sim.world.playlists.values() if p.name == "Blend"]
    assert found is not None and found.playlist_id in {p.id for p in created}
