"""Bucketed taste matching (issue 18) gives exactly what the single-process computation gave, and
readers never see a computation whose buckets are not all in."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from blendify_assets.analytics import matches
from blendify_assets.analytics.matches import (
    _stored_part,
    compute_bucket,
    compute_taste_matches,
    prepare_taste_run,
)
from blendify_assets.analytics.tastes import build_tastes
from blendify_assets.blend import FORMULA, build_identity, pair_overlap, prepare, top_k_similar
from blendify_assets.blend.overlap import KIND_WEIGHTS
from blendify_assets.core.time import utcnow
from blendify_assets.db import taste_matches
from blendify_assets.db.music.reads import taste_rows
from tests.fixtures.warehouse import (
    add_user,
    store_followed_artists,
    store_plays,
    store_saved_tracks,
    store_top_artists,
    store_top_tracks,
    track,
)

COMPARED = (
    "user_id, other_user_id, rank, score, track_points, artist_points, genre_points, shared_track_count, "
    "shared_artist_count, shared_genre_count, shared_tracks, shared_artists, shared_genres, "
    "song_that_brings_you_together, components"
)


def reference_run(engine: Engine, k: int = 10) -> int:
    """The single-process computation as it was before issue 18 (every user in one process, one
    global identity, `top_k_similar` over everyone), appended as one run: what the buckets must equal."""
    with engine.connect() as conn:
        rows = taste_rows(conn)
    tastes = build_tastes(rows)
    identity = build_identity(t for m in tastes for t in m.tracks.values())
    prepared = {m.user_id: prepare(m, identity) for m in tastes}
    neighbours = top_k_similar({u: p[0] for u, p in prepared.items()}, k, component_weights=KIND_WEIGHTS)
    uses = Counter((min(u, o), max(u, o)) for u, top in neighbours.items() for o, _ in top)
    by_id = {m.user_id: m for m in tastes}
    computed_at = utcnow().replace(tzinfo=None)

    def rows_of(run_id: int) -> list[tuple[object, ...]]:
        out = []
        for user, top in neighbours.items():
            for rank, (other, _) in enumerate(top, start=1):
                pair = (min(user, other), max(user, other))
                part = _stored_part(pair_overlap(by_id[pair[0]], by_id[pair[1]], identity, prepared=prepared))
                out.append((run_id, uuid.UUID(user), uuid.UUID(other), rank, *part, computed_at))
        return out

    return taste_matches.append_run(
        engine, computed_at=computed_at, users=len(tastes), k=k, pairs=len(uses), formula=FORMULA,
        dagster_run_id=None, rows=rows_of,
    )  # fmt: skip


def stored(engine: Engine, run_id: int) -> list[Mapping[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text(
                    f"SELECT {COMPARED} FROM user_taste_matches WHERE run_id = :r ORDER BY user_id, rank"
                ),
                {"r": run_id},
            ).mappings()
        ]


def populate(engine: Engine, n_users: int = 48, seed: int = 7) -> list[str]:
    """Users of both providers with what makes matching hard: a popular head everyone shares, the
    same recordings under Spotify and Apple ids (by ISRC, and by fuzzy title only, chained across
    users), one track id whose copies carry different ISRCs, twins with identical tastes (ties),
    artists and genres, plays and saved tracks, and a user who shares nothing."""
    rng = random.Random(seed)
    hits = [track(f"sp-hit{i}", f"Hit Song {i}", f"Star {i % 7}", isrc=f"USHIT{i:07d}") for i in range(40)]
    apple_hits = [
        track(f"ap-hit{i}", f"Hit Song {i}", f"Star {i % 7}", isrc=f"ushit{i:07d}", duration_ms=200_500)
        for i in range(40)
    ]
    # Without ISRCs: "Midnight Train" ~ "Midnight Trains" ~ "Midnight Trainz" link by fuzzy title.
    fuzzy = [
        track("sp-mt", "Midnight Train", "The Rails", duration_ms=210_000),
        track("ap-mt", "Midnight Trains", "The Rails", duration_ms=210_900),
        track("sp-mt2", "Midnight Trainz", "The Rails", duration_ms=211_500),
    ]
    drifting = [
        track("sp-drift", "Drift", "Tide", isrc="USDRIFT0001"),
        track("sp-drift", "Drift", "Tide", isrc="USDRIFT0002"),
    ]
    genres = ["pop", "rock", "indie", "jazz", "house", "metal", "folk", "soul"]
    ids: list[str] = []
    for u in range(n_users):
        user = add_user(engine, f"user{u}@example.com", f"User {u}")
        ids.append(user)
        provider = "apple" if u % 3 == 0 else "spotify"
        scene = rng.randrange(6)
        own = [
            track(f"{provider[:2]}-s{scene}-{i}", f"Scene {scene} Song {i}", f"Scene Artist {scene}-{i % 5}",
                  isrc=f"GBSC{scene}{i:06d}" if i % 2 else None, duration_ms=180_000 + 1_000 * i)
            for i in rng.sample(range(60), 25)
        ]  # fmt: skip
        head = rng.sample(apple_hits if provider == "apple" else hits, rng.randrange(2, 12))
        picks = [*head, *own, rng.choice(fuzzy), drifting[u % 2]]
        rng.shuffle(picks)
        if u == n_users - 1:  # shares nothing with anyone
            picks = [track(f"{provider[:2]}-alone-{i}", f"Alone {i}", "Nobody") for i in range(5)]
        if provider == "apple":
            store_saved_tracks(engine, user, "apple", picks)
        else:
            store_top_tracks(engine, user, "spotify", picks)
            store_top_artists(
                engine,
                user,
                "spotify",
                [(f"Star {i}", rng.sample(genres, 2)) for i in rng.sample(range(7), 3)],
            )
        store_plays(engine, user, provider, rng.sample(picks, min(len(picks), 6)))
        if u % 5 == 0:
            store_followed_artists(engine, user, provider, [(f"Scene Artist {scene}-{rng.randrange(5)}", [])])
    for twin in range(2):  # two users with the same taste as user 1: ties broken by user id
        user = add_user(engine, f"twin{twin}@example.com", f"Twin {twin}")
        ids.append(user)
        with engine.connect() as conn:
            source = taste_rows(conn, [ids[1]])[ids[1]]
        tops = [
            {c: r[c] for c in ("track_id", "track_name", "artist_name", "album_name", "duration_ms", "isrc")}
            for r in sorted(source["top_tracks"], key=lambda r: r["rank"])
        ]
        store_top_tracks(engine, user, "spotify", tops)
    return ids


def test_bucketed_matches_equal_the_single_process_computation(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(engine)
    reference = reference_run(engine, k=5)
    # Small pages and blocks, so reading, scoring and explaining each cross several of them.
    monkeypatch.setattr(matches, "USER_PAGE", 7)
    monkeypatch.setattr(matches, "POSTING_USERS", 9)
    monkeypatch.setattr(matches, "EXPLAIN_USERS", 3)
    run = compute_taste_matches(engine, k=5, buckets=4)

    expected, got = stored(engine, reference), stored(engine, run.run_id)
    assert len(expected) > 150, "the data gives most users a full top 5"
    assert any(r["shared_tracks"] and r["shared_tracks"][0]["match"]["method"] == "fuzzy" for r in expected)
    assert got == expected, "same neighbours, ranks, scores, points and shared items, in the same order"
    with engine.connect() as conn:
        buckets = conn.execute(
            sa.text("SELECT count(*), sum(users) FROM taste_match_buckets WHERE run_id = :r"),
            {"r": run.run_id},
        ).one()
        reference_pairs = conn.execute(
            sa.text("SELECT pairs FROM taste_match_runs WHERE id = :r"), {"r": reference}
        ).scalar_one()
    assert tuple(buckets) == (4, run.users) and run.users == 50
    assert run.pairs == reference_pairs and run.rows == len(expected)


def test_readers_see_a_bucketed_computation_only_once_every_bucket_is_in(engine: Engine) -> None:
    a, b, *_ = populate(engine, n_users=8)
    first = compute_taste_matches(engine, k=3, buckets=2)
    with engine.connect() as conn:
        before = taste_matches.stored_scores(conn, uuid.UUID(a))
        neighbours = taste_matches.current_neighbours(conn, uuid.UUID(a))
    assert before and {str(n["other_user_id"]) for n in neighbours} == set(before)

    store_top_tracks(
        engine, b, "spotify", [track("sp-new", "Brand New", "Newcomer")], at=datetime(2026, 3, 2)
    )
    second = prepare_taste_run(engine, k=3, buckets=2)
    assert second.run_id > first.run_id
    half = compute_bucket(engine, 0, run_id=second.run_id)
    assert not half.complete
    with engine.connect() as conn:
        latest = conn.execute(sa.text("SELECT id FROM latest_taste_match_run")).scalar_one()
        assert latest == first.run_id, "half a computation is not the current one"
        assert taste_matches.stored_scores(conn, uuid.UUID(a)) == before
        assert len(taste_matches.pair_history(conn, uuid.UUID(a), uuid.UUID(next(iter(before))))) == 1
    assert compute_bucket(engine, 0, run_id=second.run_id).rows == 0, (
        "a bucket already in is not appended twice"
    )
    assert compute_bucket(engine, 1, run_id=second.run_id).complete
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM latest_taste_match_run")).scalar_one() == second.run_id
        kept = conn.execute(sa.text("SELECT DISTINCT run_id FROM taste_vectors ORDER BY 1")).scalars().all()
    assert kept == [first.run_id, second.run_id]
    third = prepare_taste_run(engine, k=3, buckets=2)
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT DISTINCT run_id FROM taste_vectors ORDER BY 1")).scalars().all()
    assert kept == [second.run_id, third.run_id], "working data of older computations is dropped"
