"""Properties every blend keeps, whatever the members' data (hypothesis)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blendify_assets.blend import ALGORITHMS, MemberTaste, build_identity, build_member_taste, generate_blend
from blendify_assets.blend.group import build_group
from blendify_assets.blend.normalize import primary_artist_key
from blendify_assets.blend.order import Flow, flow_order, total_closeness
from blendify_assets.blend.selection import fair_turns, interleave
from tests.blend.rows import RANGES, track

# A small shared pool so members overlap, artists collide and copies exist on both providers.
POOL = [
    {
        "n": i,
        "name": f"Tune {chr(65 + i % 26)}{chr(65 + i // 26)}",
        "artist": f"Band {i % 7}",
        "isrc": f"GBAAA{i:07d}" if i % 3 else None,
    }
    for i in range(40)
]


def _rows(picks: list[tuple[int, str, int]]) -> dict[str, list[dict[str, object]]]:
    rows: dict[str, list[dict[str, object]]] = {"top_tracks": [], "saved_tracks": [], "recently_played": []}
    for i, (n, provider, signal) in enumerate(picks):
        p = POOL[n]
        t = track(f"{provider[0]}{n}", str(p["name"]), str(p["artist"]), provider=provider, isrc=p["isrc"])  # type: ignore[arg-type]
        if signal == 0:
            rows["top_tracks"].append({**t, "time_range": RANGES[i % 3], "rank": i + 1})
        elif signal == 1:
            rows["saved_tracks"].append({**t, "saved_at": "2026-01-01"})
        else:
            rows["recently_played"].append({**t, "played_at": f"2026-01-01T00:00:{i:02d}"})
    return rows


member_rows = st.lists(
    st.tuples(st.integers(0, len(POOL) - 1), st.sampled_from(["spotify", "apple"]), st.integers(0, 2)),
    min_size=0,
    max_size=25,
)
groups = st.lists(member_rows, min_size=2, max_size=6)
config = st.fixed_dictionaries({"size": st.integers(1, 30), "max_per_artist": st.integers(1, 4)})
algorithm = st.sampled_from(ALGORITHMS)
relaxed = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _members(data: list[list[tuple[int, str, int]]]) -> list[MemberTaste]:
    return [build_member_taste(f"user-{i}", _rows(rows)) for i, rows in enumerate(data)]


def _weights(members: list[MemberTaste]) -> dict[str, float]:
    return {m.user_id: float(1 + i % 3) for i, m in enumerate(members)}


@relaxed
@given(groups, config, algorithm)
def test_no_duplicates_artist_cap_and_size_bound(data, cfg, algo) -> None:
    members = _members(data)
    picks = generate_blend(algo, members, weights=_weights(members), config=cfg)
    assert [p.position for p in picks] == list(range(1, len(picks) + 1))
    assert len(picks) <= cfg["size"]
    clusters = [p.cluster_id for p in picks]
    assert len(clusters) == len(set(clusters)), "a recording appears twice"
    names = [(p.track.track_name, primary_artist_key(p.track.artist_name)) for p in picks]
    assert len(names) == len(set(names)), "the same song twice under two ids"
    per_artist = Counter(primary_artist_key(p.track.artist_name) for p in picks)
    assert max(per_artist.values(), default=0) <= cfg["max_per_artist"]
    holders = {m.user_id: m for m in members}
    for p in picks:
        assert p.track.key in holders[p.source_user_id].tracks, "attributed to a member who lacks it"
        assert 0.0 <= p.similarity_score <= 100.0


@relaxed
@given(groups, config, algorithm, st.randoms(use_true_random=False))
def test_deterministic_whatever_the_member_order(data, cfg, algo, rnd) -> None:
    members = _members(data)
    first = [p.to_row() for p in generate_blend(algo, members, weights=_weights(members), config=cfg)]
    shuffled = list(members)
    rnd.shuffle(shuffled)
    again = [p.to_row() for p in generate_blend(algo, shuffled, weights=_weights(members), config=cfg)]
    assert first == again


@relaxed
@given(st.integers(2, 10), st.integers(1, 40), st.sampled_from(["balanced", "weighted"]))
def test_size_is_met_and_weights_held_when_candidates_suffice(n, size, algo) -> None:
    members = [
        build_member_taste(
            f"u{i}",
            {
                "top_tracks": [
                    {
                        **track(f"u{i}t{j}", f"Song {j}", f"Artist {i} {j}"),
                        "time_range": "short_term",
                        "rank": j + 1,
                    }
                    for j in range(size)
                ]
            },
        )
        for i in range(n)
    ]
    weights = {m.user_id: float(1 + i % 4) for i, m in enumerate(members)}
    picks = generate_blend(algo, members, weights=weights, config={"size": size})
    assert len(picks) == size
    counts = Counter(p.source_user_id for p in picks)
    used = weights if algo == "weighted" else dict.fromkeys(weights, 1.0)
    total = sum(used.values())
    for user, w in used.items():
        assert abs(counts[user] - size * w / total) < 1


@relaxed
@given(groups)
def test_discovery_never_offers_a_track_a_member_already_has(data) -> None:
    members = _members(data)
    identity = build_identity(t for m in members for t in m.tracks.values())
    picks = generate_blend("discovery", members, config={"head": 0}, identity=identity)
    for p in picks:
        cluster = identity.cluster(p.track.key)
        knowing = sorted(m.user_id for m in members if any(identity.cluster(k) == cluster for k in m.tracks))
        assert knowing == [p.source_user_id], f"{p.track.track_name} is already known to {knowing}"


@pytest.mark.parametrize("n", [2, 10])
def test_membership_bounds_inclusive(n: int) -> None:
    members = _members([[(i, "spotify", 0)] for i in range(n)])
    for algo in ALGORITHMS:
        generate_blend(algo, members)


@relaxed
@given(groups, config, algorithm)
def test_order_keeps_shared_first_and_fair_turns(data, cfg, algo) -> None:
    """Ordering for flow never changes whose turn it is, and shared tracks still lead."""
    members = _members(data)
    picks = generate_blend(algo, members, weights=_weights(members), config=cfg)
    shared_by = [int(p.blend_metadata["shared_by"]) for p in picks]  # type: ignore[call-overload]
    n_shared = sum(1 for s in shared_by if s > 1)
    assert all(s > 1 for s in shared_by[:n_shared]), "every shared track comes before the others"
    assert shared_by[:n_shared] == sorted(shared_by[:n_shared], reverse=True), "most holders first"
    rest = [p.source_user_id for p in picks[n_shared:]]
    assert rest == fair_turns(Counter(rest)), "the members' turns are the fair schedule"


@relaxed
@given(groups, st.integers(1, 8))
def test_flow_is_never_worse_than_the_plain_order(data, per_member) -> None:
    members = _members(data)
    group = build_group(members)
    turns = {
        u: [c for c in ranked if len(group.holdings[c]) == 1][:per_member]
        for u, ranked in group.ranked.items()
    }
    tiers = [[c for c, hs in sorted(group.holdings.items()) if len(hs) > 1][:per_member]]
    owner = {c: next(iter(group.holdings[c])) for c in group.holdings}
    flow = Flow(group)

    def info(c: str):
        return group.holdings[c][owner[c]].info

    ordered = flow_order(flow, tiers, turns, track=info, strength=lambda c: 0.5)
    plain = [*tiers[0], *interleave(turns)]
    assert sorted(ordered) == sorted(plain), "nothing added or dropped"
    assert total_closeness(flow, ordered, info) >= total_closeness(flow, plain, info) - 1e-9
