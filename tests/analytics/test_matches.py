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
from blendify_assets.analytics.tastes import build_tastes, load_tastes
from blendify_assets.blend import FORMULA, build_identity, pair_overlap, prepare, top_k_similar
from blendify_assets.blend.identity import TrackInfo
from blendify_assets.blend.overlap import KIND_WEIGHTS
from blendify_assets.core.time import utcnow
from blendify_assets.db import taste_matches, taste_vectors
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
    # Only artists: matched on them, though the clustering pass reads no artist rows.
    ids.append(add_user(engine, "artists-only@example.com", "Artists Only"))
    store_followed_artists(engine, ids[-1], "spotify", [("Star 1", ["pop"]), ("Star 3", ["rock"])])
    # A track id only this user holds, under two names (top list, then library): the copy taken
    # first names it, and only that name links it to the Midnight Train others hold.
    ids.append(add_user(engine, "renamed@example.com", "Renamed"))
    store_top_tracks(
        engine,
        ids[-1],
        "spotify",
        [hits[0], track("sp-mt-own", "Midnight Train", "The Rails", duration_ms=210_000)],
    )
    store_saved_tracks(
        engine, ids[-1], "spotify", [track("sp-mt-own", "Night Bus", "The Rails", duration_ms=210_000)]
    )
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
    assert tuple(buckets) == (4, run.users) and run.users == 52
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


def random_copies(seed: int, users: int = 60) -> list[list[TrackInfo]]:
    """Pages of users' track copies that make clustering hard: near-equal titles and artists that
    chain fuzzy links through title and artist blocks, one recording under several providers' ids
    (by ISRC), version words ("Live", "Part 2"), missing durations, track ids whose copies disagree
    on the ISRC or the title (the last copy counts), and non-ASCII keys (sorted by code point)."""
    rng = random.Random(seed)
    titles = [
        "Midnight Train",
        "Midnight Trains",
        "Midnight Trainz",
        "Part 2",
        "Part II",
        "Part I",
        "Ocean Drive (Live)",
        "Ocean Drive",
        "Ocean Drives",
        "Éclair",
        "Eclair",
        "Zebra",
        "",
    ]
    artists = ["The Rails", "The Railz", "Rails", "Tide", "Tides", "Ölfen", "Olfen", ""]  # fmt: skip
    providers = ["spotify", "apple", "ämazon"]

    def copy(provider: str, n: int, drift: bool) -> TrackInfo:
        own = random.Random(f"{seed}-{n}")  # a track's usual copy; `drift`: another one
        pick = rng if drift else own
        return TrackInfo(
            provider=provider,
            track_id=f"{provider[:2]}-{n}" if n % 10 else f"Ü{n}",
            track_name=f"{pick.choice(titles)}{'' if n % 4 else f' {n // 20}'}",
            artist_name=own.choice(artists),
            duration_ms=None if n % 11 == 0 else 200_000 + 700 * pick.randrange(4),
            isrc=f"USAB{n // 3:08d}" if n % 3 == 0 else (f"GBXY{n:08d}" if drift and n % 2 else None),
        )

    pages: list[list[TrackInfo]] = []
    for _ in range(users // 6):
        page = []
        for _ in range(6 * rng.randrange(8, 25)):
            provider, n = rng.choice(providers), rng.randrange(200)
            page.append(copy(provider, n, rng.random() < 0.05))
        pages.append(page)
    return pages


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clustering_in_the_database_equals_the_in_memory_identity(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Small fetches and numbering pages, so blocks and ISRC groups straddle them.
    monkeypatch.setattr(taste_vectors, "FETCH_ROWS", 5)
    monkeypatch.setattr(matches, "NUMBERING_PAGE", 11)
    pages = random_copies(seed)
    last = {info.key: info for page in pages for info in page}
    isrcs: dict[tuple[str, str], set[str | None]] = {}
    for page in pages:
        for info in page:
            isrcs.setdefault(info.key, set()).add(info.isrc)
    conflicts = {key for key, seen in isrcs.items() if len(seen) > 1}
    identity = build_identity(last.values())
    expected = {
        key: (cid, identity.match[cid].method, identity.match[cid].confidence)
        for cid, keys in identity.members.items()
        for key in keys
        if len(keys) > 1 or key in conflicts
    }
    methods = {method for _, method, _ in expected.values()}
    assert conflicts and {"isrc", "exact", "fuzzy"} <= methods, "the data exercises every tier"

    with engine.begin() as conn:
        clustered = matches.cluster_tracks(conn, pages)
        run_id = taste_matches.start_run(
            conn, computed_at=utcnow().replace(tzinfo=None), users=0, k=5, buckets=1, formula=FORMULA,
            dagster_run_id=None,
        )  # fmt: skip
        stored_rows = clustered.store(conn, run_id)
        got = taste_vectors.clusters_for(conn, run_id, sorted(last))
    assert got == expected, "the same clusters, names and weakest links as build_identity's"
    assert stored_rows == len(expected)


@pytest.mark.parametrize("cache_items", [0, 10**9])
def test_explaining_reads_each_taste_once_when_it_fits_and_stores_the_same_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, cache_items: int
) -> None:
    """Issue 18 (explaining cost): a bucket reads each taste its pairs need once when the cache
    holds them (a popular neighbour is read once, not once per bucket user listing it), evicts
    the taste needed again latest when it does not, and stores what the single-process
    computation stores either way."""
    populate(engine)
    loner = add_user(engine, "loner@example.com", "Loner")
    store_top_tracks(
        engine, loner, "spotify", [track(f"sp-loner-{i}", f"Lonely {i}", "Nobody Else") for i in range(4)]
    )
    reference = reference_run(engine, k=4)
    monkeypatch.setattr(matches, "EXPLAIN_USERS", 2)  # many chunks per bucket
    monkeypatch.setattr(matches, "EXPLAIN_CACHE_ITEMS", cache_items)
    prepared = prepare_taste_run(engine, k=4, buckets=3)
    runs = [compute_bucket(engine, b, run_id=prepared.run_id) for b in range(3)]

    expected, got = stored(engine, reference), stored(engine, prepared.run_id)
    assert got == expected, "same neighbours, ranks, scores, points and shared items, in the same order"
    listed = Counter(str(r["other_user_id"]) for r in expected)
    assert listed.most_common(1)[0][1] >= 8, "a popular neighbour is in many users' lists"
    assert str(loner) not in {str(r["user_id"]) for r in expected}, "a user who shares nothing has none"
    assert any(r["shared_tracks"] and r["shared_tracks"][0]["match"]["method"] != "single" for r in got)
    needed = [
        {
            u
            for r in got
            if matches.bucket_of(str(r["user_id"]), 3) == b
            for u in (str(r["user_id"]), str(r["other_user_id"]))
        }
        for b in range(3)
    ]
    loaded = [r.tastes_loaded for r in runs]
    if cache_items:
        assert loaded == [len(n) for n in needed], "each taste read once per bucket"
    else:
        assert all(got > len(n) for got, n in zip(loaded, needed, strict=True)), "evicted and read again"
    with engine.connect() as conn:
        order = conn.execute(
            sa.text("SELECT user_id, rank FROM user_taste_matches WHERE run_id = :r ORDER BY id"),
            {"r": prepared.run_id},
        ).all()
    by_bucket = sorted(order, key=lambda r: matches.bucket_of(str(r[0]), 3))
    assert by_bucket == sorted(order, key=lambda r: (matches.bucket_of(str(r[0]), 3), str(r[0]), r[1])), (
        "each bucket appends its rows in user order, then rank, as before"
    )


def test_explaining_keeps_the_taste_needed_again_soonest(engine: Engine) -> None:
    """Issue 18 (explaining cost): when the kept tastes exceed the cache, those needed again latest
    go first (dropping the one needed soonest reads 5 tastes here, not 4)."""
    a, b, c = (
        add_user(engine, f"{name}@example.com", name) for name in ("Ada", "Bo", "Cy")
    )  # fmt: skip
    for i, user in enumerate((a, b, c)):
        store_top_tracks(engine, user, "spotify", [track(f"sp-own-{i}", f"Own {i}", f"Artist {i}")])
    with engine.connect() as conn:
        ada = load_tastes(conn, [a])[0]
        one_taste = len(prepare(ada, build_identity(ada.tracks.values()))[0])  # vector entries
        needs = [{a, b}, {c}, {a}, {b, c}]
        explainer = matches._Explainer(conn, 0, needs, Counter(), cache=one_taste)
        for i in range(len(needs)):
            explainer.load(i)
            assert set(needs[i]) <= set(explainer.tastes)
            explainer.done(i)
    assert explainer.loaded == 4, "Bo (needed later than Ada) made room for Cy: only Bo read twice"
    assert not explainer.tastes and explainer.items == 0, "each taste dropped after its last use"
