"""Apple Music publish calls against the simulator over HTTP: ISRC batches, search, create, append."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens
from blendify_assets.providers.apple_music import publish
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import DeveloperToken, SigningKey
from blendify_assets.providers.errors import NeedsReauth, TransientError
from blendify_assets.providers.http import RetryPolicy
from blendify_assets.providers.publishing import PlaylistNotEditable
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile
from blendify_assets.simulator.apple_publish import add_library_playlist

FAST = RetryPolicy(transient_attempts=4, backoff_initial=0.01, backoff_max=0.05, rate_limit_attempts=4,
                   rate_limit_total_wait=2)  # fmt: skip


@pytest.fixture
def sim() -> Iterator[Any]:
    profiles = (UserProfile.tiny(apple=True), UserProfile.tiny(apple=True))
    config = SimulatorConfig(
        users=2, seed=3, catalog_tracks=3_000, profiles=profiles, apple_listing_delay_seconds=0.2
    )
    with Simulator.running(config) as running:
        yield running


def run(sim: Any, work, uid: str = "user0001"):
    """(result, stats, token source) of `work(client, stats)` on a fresh Apple client."""
    key = serialization.load_pem_private_key(sim.apple.private_key_pem.encode(), None)
    developer = DeveloperToken(SigningKey(sim.apple.team_id, sim.apple.key_id, key))  # type: ignore[arg-type]
    source = InMemoryTokenSource(Tokens(sim.apple.issue_user_token(uid)))

    async def go():
        async with apple_http(policy=FAST) as http:
            client = AppleClient(source, developer, api_url=sim.apple_music_api_url, http=http)
            stats = FetchStats()
            return await work(client, stats), stats

    result, stats = asyncio.run(go())
    return result, stats, source


def catalog_ids(sim: Any, n: int) -> list[str]:
    return [t.apple_id for t in sim.world.catalog.tracks if t.apple_id][:n]


def test_isrcs_go_25_a_request_and_every_release_comes_back(sim) -> None:
    world = sim.world
    twin = next(r for r in world.cross.releases if r.service == "apple" and r.role == "release_twin")
    main = world.catalog.tracks[world.catalog.tracks_by_isrc[twin.isrc.upper()][0]]
    codes = [t.isrc for t in world.catalog.tracks[:60]] + [main.isrc.lower(), main.isrc, "XX0000000000"]

    async def work(client, stats):
        return await publish.songs_by_isrc(client, codes, stats)

    found, stats, _ = run(sim, work)
    lookups = sim.request_log.filter("/v1/catalog/")
    assert len(lookups) == 3  # 61 distinct ISRCs: 25 + 25 + 11
    assert stats.requests == 4  # and the storefront, once
    assert {s.track_id for s in found[main.isrc]} >= {main.apple_id, twin.id}
    assert found["XX0000000000"] == []
    spotify_only = next(t for t in world.catalog.tracks[:60] if t.apple_id is None)
    assert found[spotify_only.isrc] == []
    song = next(s for s in found[main.isrc] if s.track_id == main.apple_id)
    assert (song.name, song.duration_ms, song.isrc) == (main.name, main.duration_ms, main.isrc)


def test_search_finds_a_song_by_title_and_artist(sim) -> None:
    track = next(t for t in sim.world.catalog.tracks if t.apple_id)
    artist = sim.world.catalog.artists[track.artist_idxs[0]].name

    async def work(client, stats):
        return await publish.search_songs(client, track.name, artist, stats)

    found, _, _ = run(sim, work)
    assert found[0].track_id == track.apple_id and len(found) <= publish.SEARCH_LIMIT


def test_create_holds_every_song_in_order_past_100(sim) -> None:
    wanted = catalog_ids(sim, 230)

    async def work(client, stats):
        playlist = await publish.create_playlist(
            client, "Blend · 1 Sep 2026", stats, description="Sam, Kim", song_ids=wanted
        )
        return playlist, await publish.playlist_song_ids(client, playlist.playlist_id, stats)

    (playlist, held), _, _ = run(sim, work)
    assert held == wanted
    writes = [(r.method, r.path) for r in sim.request_log if r.method == "POST"]
    tracks = f"/v1/me/library/playlists/{playlist.playlist_id}/tracks"
    assert writes == [("POST", "/v1/me/library/playlists"), ("POST", tracks), ("POST", tracks)]
    assert playlist.url == f"https://music.apple.com/library/playlist/{playlist.playlist_id}"


def test_a_playlist_apple_will_not_change_fails_once_without_retries(sim) -> None:
    user = sim.world.apple_users[0]
    favourites = add_library_playlist(sim.world, user, "Favorite Songs", can_edit=False)

    async def work(client, stats):
        await publish.append_songs(client, favourites.id, catalog_ids(sim, 2), stats)

    with pytest.raises(PlaylistNotEditable, match="50001"):
        run(sim, work, uid=user.uid)
    assert sim.request_log.count(f"/v1/me/library/playlists/{favourites.id}/tracks", status=500) == 1


def test_a_revoked_member_needs_reauth(sim) -> None:
    async def work(client, stats):
        sim.apple.revoke("user0001")  # after the member's token was handed over
        return await publish.create_playlist(client, "Nope", stats, song_ids=catalog_ids(sim, 2))

    with pytest.raises(NeedsReauth):
        run(sim, work)
    assert sim.request_log.count("/v1/me/library/playlists", status=403) == 1  # not retried
    assert not [p for p in sim.world.apple_users[0].apple.playlists if p.name == "Nope"]


def test_429s_are_waited_out_and_a_lost_append_is_not_resent(sim) -> None:
    """A 429 was refused, so it is sent again; an append answered 502 may have been applied (here it
    was), so the HTTP layer does not resend it: the songs are in the playlist once, and the caller
    (analytics/publish.py) reads the playlist back before appending more."""
    sim.faults.add("/v1/me/library/playlists/*/tracks", "http_502", method="POST", count=1, after=True,
                   provider="apple")  # fmt: skip
    sim.faults.add("/v1/catalog/*", "rate_limit", count=1, provider="apple")
    wanted = catalog_ids(sim, 120)

    async def work(client, stats):
        await publish.songs_by_isrc(client, [sim.world.catalog.tracks[0].isrc], stats)
        playlist = await publish.create_playlist(client, "Flaky", stats, song_ids=wanted[:100])
        with pytest.raises(TransientError, match="gave up after 1 tries"):
            await publish.append_songs(client, playlist.playlist_id, wanted[100:], stats)
        return await publish.playlist_song_ids(client, playlist.playlist_id, stats)

    held, stats, _ = run(sim, work)
    assert held == wanted and stats.retries == 0 and stats.rate_limit_waits == 1
