"""Overlap and taste match: numbers a user can check against what they see they share."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from blendify_assets.blend import (
    MemberTaste,
    build_member_taste,
    pair_overlap,
    top_k_similar,
    top_k_taste_matches,
)
from blendify_assets.blend.model import with_user_id
from tests.blend.rows import artist, catalogue, library, top, track


def test_identical_tastes_match_100_and_disjoint_tastes_0() -> None:
    alice = library("alice", catalogue("a", 10))
    assert pair_overlap(alice, with_user_id(alice, "twin")).score == 100.0
    assert pair_overlap(alice, library("bob", catalogue("b", 10))).score == 0.0


def test_cross_provider_overlap_explains_itself() -> None:
    hit = track("s1", "Blinding Lights", "The Weeknd", isrc="USUG11904206")
    hit_apple = track("a1", "Blinding Lights", "The Weeknd", provider="apple", isrc="usug11904206")
    minor = track("s2", "Save Your Tears", "The Weeknd", isrc="USUG12004749")
    minor_apple = {**track("a2", "Save Your Tears", "The Weeknd", provider="apple"), "isrc": "USUG12004749"}
    alice = build_member_taste(
        "alice",
        {
            "top_tracks": [top(hit, 1), top(minor, 40), top(track("s3", "Solo", "Frank Ocean"), 2)],
            "top_artists": [artist("The Weeknd", 1, ["pop"]), artist("Frank Ocean", 2, ["r&b"])],
        },
    )
    bob = build_member_taste(
        "bob",
        {
            "top_tracks": [top(hit_apple, 2), top(minor_apple, 1)],
            "followed_artists": [{"artist_name": "The Weeknd", "genres": ["pop"]}],
        },
    )
    result = pair_overlap(alice, bob)
    assert [t["track_name"] for t in result.shared_tracks] == ["Blinding Lights", "Save Your Tears"]
    assert result.song_that_brings_you_together["track_name"] == "Blinding Lights"  # type: ignore[index]
    assert result.shared_tracks[0]["match"] == {"method": "isrc", "confidence": 1.0}
    assert set(result.shared_tracks[0]["members"]) == {"alice", "bob"}  # type: ignore[arg-type]
    assert [a["artist"] for a in result.shared_artists] == ["The Weeknd"]
    assert [g["genre"] for g in result.shared_genres] == ["pop"]
    parts = sum(c["points"] for c in result.components.values())
    assert parts == pytest.approx(result.score, abs=0.1), "the components add up to the score"
    assert 0 < result.score < 100
    json.dumps(result.to_dict())


def test_pair_overlap_needs_two_users() -> None:
    alice = library("alice", catalogue("a", 3))
    with pytest.raises(ValueError):
        pair_overlap(alice, alice)


def test_top_k_similar_on_sets() -> None:
    sets = {"u1": {"a", "b", "c"}, "u2": {"a", "b", "c"}, "u3": {"a"}, "u4": {"z"}}
    top = top_k_similar(sets, k=2)
    assert top["u1"] == [("u2", 1.0), ("u3", pytest.approx(1 / 3, abs=1e-6))]
    assert top["u4"] == []


def _brute(vectors: dict[str, dict[str, float]], k: int) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {u: [] for u in vectors}
    for u, v in itertools.permutations(sorted(vectors), 2):
        s = sum(min(w, vectors[v][x]) for x, w in vectors[u].items() if x in vectors[v])
        if s > 1e-12:
            out[u].append((v, s))
    return {u: sorted(xs, key=lambda t: (-t[1], t[0]))[:k] for u, xs in out.items()}


@pytest.mark.parametrize("budget", [50, 4_000_000])
def test_top_k_similar_equals_brute_force(budget: int) -> None:
    rng = random.Random(3)
    vectors = {
        f"u{i:03d}": {
            f"i{rng.randrange(40)}": rng.choice([0.1, 0.2, 0.5]) for _ in range(rng.randrange(0, 8))
        }
        for i in range(120)
    }
    got = top_k_similar(vectors, k=5, max_expansion=budget)
    want = _brute(vectors, 5)
    assert {u: [(v, round(s, 6)) for v, s in xs] for u, xs in want.items()} == got


def test_top_k_taste_matches_agree_with_pair_overlap() -> None:
    pool = catalogue("p", 30, artists=6)
    rng = random.Random(5)
    members = [library(f"m{i}", rng.sample(pool, 12)) for i in range(6)]
    top = top_k_taste_matches(members, k=2)
    for m in members:
        for other, score in top[m.user_id]:
            partner = next(x for x in members if x.user_id == other)
            assert score == pytest.approx(pair_overlap(m, partner).score, abs=0.11)


def _same_music(user: str, provider: str, *, genres: bool) -> MemberTaste:
    """A library of five songs and two followed artists; Apple library artists carry no genres."""
    songs = [
        {**track(f"{provider}-{i}", f"Song {i}", "The Weeknd" if i < 3 else "Queen",
                 provider=provider, isrc=f"USUG1190420{i}"), "saved_at": None}
        for i in range(5)
    ]  # fmt: skip
    follows = [
        {"artist_name": "The Weeknd", "genres": ["pop"] if genres else None},
        {"artist_name": "Queen", "genres": ["rock"] if genres else None},
    ]
    return build_member_taste(user, {"saved_tracks": songs, "followed_artists": follows})


def test_a_member_without_genres_is_not_penalised_in_a_pair() -> None:
    """Issue 10 (6): a Spotify and an Apple Music member with the same songs and artists match 100."""
    spotify = _same_music("sam", "spotify", genres=True)
    apple = _same_music("ann", "apple", genres=False)
    assert not apple.genres and spotify.genres
    result = pair_overlap(spotify, apple)
    assert result.score == 100.0
    assert result.components["genres"]["max_points"] == 0, "the pair has no genre component"
    parts = sum(c["points"] for c in result.components.values())
    assert parts == pytest.approx(100.0, abs=0.1)
    top = top_k_taste_matches([spotify, apple], k=1)
    assert top == {"ann": [("sam", 100.0)], "sam": [("ann", 100.0)]}


def test_top_k_agrees_with_pair_overlap_when_some_members_lack_a_component() -> None:
    pool = catalogue("p", 30, artists=6)
    rng = random.Random(9)
    members = []
    for i in range(8):
        rows = {"top_tracks": [top(t, j + 1) for j, t in enumerate(rng.sample(pool, 12))]}
        if i % 2:  # half of them with genre data
            rows["top_artists"] = [artist(f"p Artist {j}", j + 1, [f"g{j % 3}"]) for j in range(4)]
        members.append(build_member_taste(f"m{i}", rows))
    best = top_k_taste_matches(members, k=3)
    for m in members:
        for other, score in best[m.user_id]:
            partner = next(x for x in members if x.user_id == other)
            assert score == pytest.approx(pair_overlap(m, partner).score, abs=0.11)
