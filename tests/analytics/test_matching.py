"""Matching a whole catalogue to the other service over HTTP, against the simulator's truth."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization

from blendify_assets.analytics.matching import match_on_apple, match_on_spotify
from blendify_assets.blend.matching import SourceTrack
from blendify_assets.core.fetch import FetchStats
from blendify_assets.core.tokens import Tokens
from blendify_assets.providers.apple_music.client import AppleClient, apple_http
from blendify_assets.providers.apple_music.developer_token import DeveloperToken, SigningKey
from blendify_assets.providers.spotify.auth import SpotifyApp, tokens_from_response
from blendify_assets.providers.spotify.client import SpotifyClient
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator import Simulator, SimulatorConfig, UserProfile


@pytest.mark.slow
def test_the_simulators_world_is_matched_without_a_false_match() -> None:
    """Every catalogue entry of each service, matched to the other over HTTP with the real lookups:
    at least 95 % of the tracks that have a twin find it, and no track is matched to another
    recording (decoys included)."""

    config = SimulatorConfig(
        users=1, seed=7, catalog_tracks=3_000, profiles=(UserProfile.tiny(spotify=True, apple=True),)
    )
    with Simulator.running(config) as sim:
        cross, uid = sim.world.cross, sim.world.users[0].uid
        issued = sim.spotify.issue_tokens(uid)
        tokens = InMemoryTokenSource(
            tokens_from_response(issued, previous_refresh=None, now=datetime.now(UTC))
        )
        key = serialization.load_pem_private_key(sim.apple.private_key_pem.encode(), None)
        developer = DeveloperToken(SigningKey(sim.apple.team_id, sim.apple.key_id, key))  # type: ignore[arg-type]

        async def match_everything():
            spotify = SpotifyClient(tokens, SpotifyApp("blendify-test", accounts_url=sim.spotify_accounts_url),
                                    api_url=sim.spotify_api_url)  # fmt: skip
            async with apple_http() as http, spotify:
                apple = AppleClient(InMemoryTokenSource(Tokens(sim.apple.issue_user_token(uid))), developer,
                                    api_url=sim.apple_music_api_url, http=http)  # fmt: skip
                out = {}
                for service, match in (("spotify", match_on_apple), ("apple", match_on_spotify)):
                    listings = list(cross.listings(service))
                    sources = [SourceTrack(x.name, x.artist_name, x.album_name, x.duration_ms, x.isrc, x.explicit)
                               for x in listings]  # fmt: skip
                    out[service] = (
                        listings,
                        await match(apple if service == "spotify" else spotify, sources, FetchStats()),
                    )
                return out

        results = asyncio.run(match_everything())

    tally: Counter[str] = Counter()
    wrong = []
    for service, (listings, choices) in results.items():
        target = "apple" if service == "spotify" else "spotify"
        for listing, choice in zip(listings, choices, strict=True):
            has_twin = listing.role != "decoy" and bool(cross.copies(listing.recording, target))
            if choice.matched and cross.recording(target, choice.track_id) != listing.recording:  # type: ignore[arg-type]
                wrong.append((listing, choice))
            tally["twins"] += has_twin
            tally["found"] += has_twin and choice.matched
            tally["look-alikes"] += not has_twin
            tally[choice.method or choice.reason] += 1  # type: ignore[operator]
    assert wrong == []
    assert tally["found"] / tally["twins"] >= 0.95, tally
    assert tally["metadata"] > 50 and tally["rejected"] > 100  # the hard cases were really exercised
