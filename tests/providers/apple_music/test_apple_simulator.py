"""The Apple client and fetchers against the simulator over HTTP: auth, errors, backoff, paging, polls."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization

from blendify_assets.core.fetch import FetchStats, SyncState
from blendify_assets.core.tokens import Tokens
from blendify_assets.providers.apple_music import endpoints
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import DeveloperToken
from blendify_assets.providers.apple_music.settings import SigningKey
from blendify_assets.providers.errors import NeedsReauth, RateLimited
from blendify_assets.providers.http import RetryPolicy, Unauthorized
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile

FAST = RetryPolicy(
    transient_attempts=4,
    backoff_initial=0.01,
    backoff_max=0.05,
    rate_limit_attempts=4,
    rate_limit_total_wait=2,
)


@pytest.fixture
def sim() -> Iterator[Any]:
    profiles = (UserProfile.tiny(apple=True), UserProfile.tiny(apple=True))
    with Simulator.running(SimulatorConfig(users=2, seed=3, profiles=profiles)) as running:
        yield running


def developer(sim: Any, key_id: str | None = None) -> DeveloperToken:
    key = serialization.load_pem_private_key(sim.apple.private_key_pem.encode(), None)
    return DeveloperToken(SigningKey(sim.apple.team_id, key_id or sim.apple.key_id, key))  # type: ignore[arg-type]


def run(sim: Any, uid: str, fetch, state: SyncState | None = None, dev: DeveloperToken | None = None):
    """(EndpointFetch, token source) for one fetcher call with a fresh client."""
    source = InMemoryTokenSource(Tokens(sim.apple.issue_user_token(uid)))

    async def go():
        async with apple_http(policy=FAST) as http:
            client = AppleClient(source, dev or developer(sim), api_url=sim.apple_music_api_url, http=http)
            return await fetch(client, state or SyncState())

    return asyncio.run(go()), source


def test_429_without_retry_after_backs_off_then_gives_up_with_apples_error(sim) -> None:
    sim.faults.add("/v1/me/library/artists", "rate_limit", count=2, provider="apple")
    fetch, _ = run(sim, "user0001", endpoints.library_artists)
    assert fetch.stats.rate_limit_waits == 2 and fetch.stats.rate_limit_wait_seconds > 0
    assert len(fetch.scopes[0].rows) == len(sim.world.apple_truth("user0001")["library_artists"])
    sim.faults.add("/v1/me/library/artists", "rate_limit", provider="apple")
    with pytest.raises(RateLimited, match="42900: Too Many Requests"):
        run(sim, "user0001", endpoints.library_artists)


def test_403_marks_the_connection_and_is_not_retried(sim) -> None:
    mut = sim.apple.issue_user_token("user0001")
    source = InMemoryTokenSource(Tokens(mut))
    sim.apple.revoke("user0001")

    async def go():
        async with apple_http(policy=FAST) as http:
            client = AppleClient(source, developer(sim), api_url=sim.apple_music_api_url, http=http)
            return await asyncio.gather(
                endpoints.library_songs(client, SyncState()),
                endpoints.library_albums(client, SyncState()),
                return_exceptions=True,
            )

    outcomes = asyncio.run(go())
    assert all(isinstance(o, NeedsReauth) for o in outcomes), outcomes
    message = str(outcomes[0])
    assert "40300" in message and "connect Apple Music again" in message and mut not in message
    assert source.needs_reauth and "Invalid authentication" in source.needs_reauth
    assert sim.request_log.count("/v1/me/library/songs") == 1  # no retries
    assert sim.request_log.count("/v1/me/library/albums") == 1


def test_401_resigns_the_developer_token_once_then_explains(sim) -> None:
    dev = developer(sim)
    dev.get()
    dev._token, dev._expires_at = "not-a-jwt", time.time() + 100 * 86400  # as if Apple stopped accepting it
    fetch, _ = run(sim, "user0001", endpoints.replay_top_songs, dev=dev)
    assert fetch.stats.token_refreshes == 1 and dev.signed == 2 and fetch.scopes[0].rows
    with pytest.raises(Unauthorized, match="APPLE_MUSIC_KEY_ID") as raised:
        run(sim, "user0001", endpoints.replay_top_songs, dev=developer(sim, key_id="WRONGKEY00"))
    assert "Bearer" not in str(raised.value)


def test_limit_on_every_page_and_empty_playlists_are_empty(sim, playlist_refs) -> None:
    playlists, _ = run(sim, "user0001", endpoints.library_playlists)
    refs = playlist_refs(playlists.scopes[0].rows)
    tracks, _ = run(sim, "user0001", endpoints.playlist_tracks, SyncState(playlists=refs))
    truth = {p["id"]: p for p in sim.world.apple_truth("user0001")["library_playlists"]}
    assert {s.scope: len(s.rows) for s in tracks.scopes} == {k: len(p["track_ids"]) for k, p in truth.items()}
    assert any(s.rows == [] and s.expected_count == 0 for s in tracks.scopes)  # the 404 one
    songs, _ = run(sim, "user0001", endpoints.library_songs)
    assert songs.stats.pages == 3  # two pages of songs, and the recently added head
    assert len(songs.scopes[0].rows) == songs.scopes[0].expected_count
    again, _ = run(sim, "user0001", endpoints.playlist_tracks,
                   SyncState(playlists=refs, scope_versions={r.playlist_id: r.version for r in refs},
                             poll_state=tracks.next_state))  # fmt: skip
    assert again.stats.requests == 0 and len(again.unchanged_scopes) == len(refs)
    for record in sim.request_log.filter("/v1/me/library/"):
        assert "limit" in parse_qs(record.query), record


def test_recently_played_polls_store_each_play_once(sim) -> None:
    first, _ = run(sim, "user0001", endpoints.recently_played)
    truth = sim.world.apple_truth("user0001")["recently_played"]
    assert [e["track_metadata"]["id"] for e in first.events] == [i["id"] for i in truth]
    assert first.stats.requests == -(-len(truth) // 30)  # every page, 30 at a time
    assert first.events[0]["track_metadata"]["_blendify"]["method"] == "first_poll_durations_back_from_poll"
    assert [e["played_at"] for e in first.events] == sorted(
        (e["played_at"] for e in first.events), reverse=True
    )

    previous = first.next_state
    same, _ = run(sim, "user0001", endpoints.recently_played, SyncState(poll_state=previous))
    assert same.events == [] and same.stats.requests == 1  # the first page proves nothing changed

    sim.clock.advance(hours=6)
    later, _ = run(sim, "user0001", endpoints.recently_played, SyncState(poll_state=previous))
    now_truth = sim.world.apple_truth("user0001")["recently_played"]
    new_ids = [e["track_metadata"]["id"] for e in later.events]
    assert new_ids and new_ids == [i["id"] for i in now_truth[: len(new_ids)]]
    polled = datetime.fromisoformat(previous["polled_at"])
    assert all(polled < e["played_at"] for e in later.events)  # between the two polls
    assert later.next_state["recent"][: len(now_truth)] == [i["id"] for i in now_truth]

    lost, _ = run(sim, "user0001", endpoints.recently_played,
                  SyncState(last_played_at=first.events[0]["played_at"]))  # fmt: skip
    assert lost.events == [] and lost.notes["baseline_reset"] is True


def get_json(sim: Any, uid: str, path: str, params: dict[str, str]) -> Any:
    """One raw GET with the real client (developer token + the user's Music-User-Token)."""
    source = InMemoryTokenSource(Tokens(sim.apple.issue_user_token(uid)))

    async def go():
        async with apple_http(policy=FAST) as http:
            client = AppleClient(source, developer(sim), api_url=sim.apple_music_api_url, http=http)
            return await client.get(path, FetchStats(), params)

    return asyncio.run(go())


def test_replay_names_songs_and_artists_by_identifier_unless_included(sim) -> None:
    """Apple's music-summaries relate bare {id, type} unless `include` asks; both spellings work."""
    base = {"filter[year]": "latest", "views": "top-songs,top-artists"}

    def first(body: Any, view: str, kind: str) -> dict:
        return body["data"][0]["views"][view]["data"][0]["relationships"][kind]["data"][0]

    bare = get_json(sim, "user0001", "/v1/me/music-summaries", base)
    assert set(first(bare, "top-songs", "song")) == {"id", "type", "href"}
    assert set(first(bare, "top-artists", "artist")) == {"id", "type", "href"}
    truth = sim.world.apple_truth("user0001")["music_summary"]
    assert first(bare, "top-songs", "song") | {"type": "songs"} == first(bare, "top-songs", "song")
    assert first(bare, "top-songs", "song")["id"] == truth["top_songs"][0]
    for include in (
        {"include": "song,artist"},
        {"include[song-period-summaries]": "song", "include[artist-period-summaries]": "artist"},
    ):
        full = get_json(sim, "user0001", "/v1/me/music-summaries", base | include)
        assert first(full, "top-songs", "song")["attributes"]["isrc"]
        assert first(full, "top-artists", "artist")["attributes"]["name"]


def test_replay_top_lists_are_stored_in_full(sim) -> None:
    songs, _ = run(sim, "user0001", endpoints.replay_top_songs)
    artists, _ = run(sim, "user0001", endpoints.replay_top_artists)
    truth = sim.world.apple_truth("user0001")["music_summary"]
    assert [r["track_id"] for r in songs.scopes[0].rows] == truth["top_songs"]
    assert all(r["isrc"] and r["track_name"] for r in songs.scopes[0].rows)
    assert [r["artist_id"] for r in artists.scopes[0].rows] == truth["top_artists"]
    assert songs.stats.requests == 1 and artists.stats.requests == 1


def test_a_list_of_bare_identifiers_is_a_failure_not_an_empty_library(sim) -> None:
    from blendify_assets.providers.errors import UnreadableResponse

    sim.faults.add("/v1/me/library/artists", "malformed_items", provider="apple")
    with pytest.raises(UnreadableResponse, match="none of the 3 items of a list could be read"):
        run(sim, "user0001", endpoints.library_artists)


def recheck(fetch, **extra) -> SyncState:
    """The SyncState the ingest engine reads back after storing `fetch`."""
    versions = {s.scope: s.version for s in fetch.scopes if s.version is not None}
    return SyncState(scope_versions=versions, poll_state=fetch.next_state or {}, **extra)


def test_library_playlists_carry_last_modified_and_few_a_version_hash() -> None:
    """As on Apple: `lastModifiedDate` on every library playlist, moving on edits; versionHash rare."""
    profile = UserProfile.medium(apple=True, apple_playlists=20)
    with Simulator.running(SimulatorConfig(users=1, seed=3, profiles=(profile,))) as big:
        body = get_json(big, "user0001", "/v1/me/library/playlists", {"limit": "100"})
        attrs = {p["id"]: p["attributes"] for p in body["data"]}
        assert len(attrs) == 20 and all(a["lastModifiedDate"] for a in attrs.values())
        hashed = [pid for pid, a in attrs.items() if "versionHash" in a["playParams"]]
        assert 0 < len(hashed) < 10  # most have none
        plain = next(pid for pid in attrs if pid not in hashed)
        big.clock.advance(hours=1)
        big.world.rename_playlist("user0001", plain, "Late night")
        after = get_json(big, "user0001", "/v1/me/library/playlists", {"limit": "100"})
        moved = {p["id"]: p["attributes"]["lastModifiedDate"] for p in after["data"]}
        assert moved[plain] > attrs[plain]["lastModifiedDate"]
        assert all(moved[pid] == a["lastModifiedDate"] for pid, a in attrs.items() if pid != plain)


def test_playlists_are_reread_only_when_their_version_moves(sim, playlist_refs) -> None:
    """Without a versionHash, lastModifiedDate decides: nothing is re-read until an edit."""
    playlists, _ = run(sim, "user0001", endpoints.library_playlists)
    refs = playlist_refs(playlists.scopes[0].rows)
    assert all(r.version for r in refs) and any(r.version.startswith("modified:") for r in refs)
    full, _ = run(sim, "user0001", endpoints.playlist_tracks, SyncState(playlists=refs))
    again, _ = run(sim, "user0001", endpoints.playlist_tracks, recheck(full, playlists=refs))
    assert again.stats.requests == 0 and sorted(again.unchanged_scopes) == sorted(r.playlist_id for r in refs)

    edited = next(r.playlist_id for r in refs if r.version.startswith("modified:"))
    sim.clock.advance(minutes=5)
    sim.world.rename_playlist("user0001", edited, "Renamed")
    playlists, _ = run(sim, "user0001", endpoints.library_playlists)
    moved = playlist_refs(playlists.scopes[0].rows)
    later, _ = run(sim, "user0001", endpoints.playlist_tracks, recheck(full, playlists=moved))
    assert [s.scope for s in later.scopes] == [edited]


def test_library_lists_are_probed_and_read_in_full_when_they_move_or_weekly(sim) -> None:
    full, _ = run(sim, "user0001", endpoints.library_songs)
    sim.request_log.clear()
    same, _ = run(sim, "user0001", endpoints.library_songs, recheck(full))
    assert same.stats.requests == 2 and same.unchanged_scopes == [""] and not same.scopes
    paths = sorted(r.path for r in sim.request_log)
    assert paths == [
        "/v1/me/library/recently-added",
        "/v1/me/library/songs",
    ]  # no second page, no catalog lookup

    before = len(sim.world.apple_truth("user0001")["library_songs"])
    sim.clock.advance(days=2)  # songs are added to the library
    truth = sim.world.apple_truth("user0001")["library_songs"]
    assert len(truth) > before
    added, _ = run(sim, "user0001", endpoints.library_songs, recheck(full))
    assert [r["track_id"] for r in added.scopes[0].rows] == [s["catalog_id"] or s["id"] for s in truth]

    week_later = datetime.fromisoformat(added.next_state["full_read_at"]) + endpoints.FULL_READ_EVERY
    again, _ = run(sim, "user0001", functools.partial(endpoints.library_songs, clock=lambda: week_later),
                   recheck(added))  # fmt: skip
    assert again.scopes and len(again.scopes[0].rows) == len(truth)  # unchanged, but a week has passed
