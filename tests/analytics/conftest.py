"""A small warehouse with known answers: a Spotify user and an Apple Music user who share two songs
(one by ISRC, one only by a fuzzy title match), and two Spotify users with nothing in common."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine

from tests.analytics.warehouse import (
    add_user,
    store_followed_artists,
    store_plays,
    store_saved_tracks,
    store_top_artists,
    store_top_tracks,
    track,
)

LIGHTS = track("sp-lights", "Blinding Lights", "The Weeknd", isrc="USUG11904206", duration_ms=200_040)
LIGHTS_APPLE = track("ap-lights", "Blinding Lights", "The Weeknd", isrc="usug11904206", duration_ms=200_000)
RHAPSODY = track("sp-rhapsody", "Bohemian Rhapsody", "Queen", isrc="GBUM71029604", duration_ms=354_000)
RHAPSODY_APPLE = track("ap-rhapsody", "Bohemian Rapsody", "Queen", duration_ms=355_000)  # no ISRC, a typo


@dataclass(frozen=True)
class World:
    alice: str
    bob: str
    carol: str
    dave: str


def own_tracks(prefix: str, n: int, artist: str | None = None, start: int = 0) -> list[dict[str, object]]:
    return [
        track(f"{prefix}-{i}", f"{prefix.title()} Song {i}", artist or f"{prefix.title()} Artist {i}",
              duration_ms=180_000 + 1_000 * i)
        for i in range(start, start + n)
    ]  # fmt: skip


@pytest.fixture
def world(engine: Engine) -> World:
    alice = add_user(engine, "alice@example.com", "Alice")
    bob = add_user(engine, "bob@example.com", "Bob")
    carol = add_user(engine, "carol@example.com", "Carol")
    dave = add_user(engine, "dave@example.com", "Dave")
    # Alice (Spotify): the two shared songs on top, 20 songs of her own, then 8 Queen deep cuts.
    queen_tail = [
        track(f"sp-q{i}", f"Queen Deep Cut {i}", "Queen", duration_ms=240_000 + i) for i in range(8)
    ]
    store_top_tracks(engine, alice, "spotify", [LIGHTS, RHAPSODY, *own_tracks("alice", 20), *queen_tail])
    store_top_artists(engine, alice, "spotify", [("The Weeknd", ["pop"]), ("Queen", ["rock"])])
    store_plays(engine, alice, "spotify", [LIGHTS, RHAPSODY, *own_tracks("alice", 3)])
    # Bob (Apple Music): a library with the same two songs under Apple ids, and ten of his own.
    store_saved_tracks(engine, bob, "apple", [LIGHTS_APPLE, RHAPSODY_APPLE, *own_tracks("bob", 10)])
    store_plays(engine, bob, "apple", [LIGHTS_APPLE, RHAPSODY_APPLE])
    # Carol and Dave (Spotify): nothing in common.
    store_top_tracks(engine, carol, "spotify", own_tracks("carol", 12))
    store_followed_artists(engine, carol, "spotify", [("Carol Artist 0", ["jazz"])])
    store_top_tracks(engine, dave, "spotify", own_tracks("dave", 12))
    return World(alice, bob, carol, dave)
