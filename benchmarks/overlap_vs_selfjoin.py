"""Benchmark: taste-match top-k for 10,000 users vs the schema document's self-join, same Postgres.

Data: 10,000 simulated users' current top tracks (3 time ranges x 50, drawn like
``overlap_topk.simulate_track_sets``: 80% from a personal scene, 20% from a Zipf head of hits, so
the top hit sits in about a third of all lists), COPYed into ``user_top_tracks`` with their
``snapshots`` rows, in a fresh database on the embedded server (or ``BLENDIFY_DATABASE_URL``'s).

- ours: ``analytics.matches.compute_taste_matches`` end to end, as the asset runs it: read the
  latest-state views, build tastes, cluster recordings across providers, sparse top-k, shared
  tracks/artists/genres for every kept pair, and the append of the run.
- baseline: the schema's overlap query (``user_top_tracks t1 JOIN user_top_tracks t2 ON track_id
  AND provider``) generalised to each user's top-k by shared tracks. Its join grows with the square
  of a hit's listeners (~10^9 rows here), so it runs for ``--sample`` random users and is scaled to
  all users (its cost per user is the same whichever users are asked).

Prints one JSON line: seconds for each side, ``ratio`` = baseline / ours end to end (how many times
faster, though ours also explains and stores every pair), and ``ratio_topk_only`` = baseline / the
part of ours that answers the baseline's question (preparing the vectors, and every bucket's top-k).

    python benchmarks/overlap_vs_selfjoin.py [--users 10000] [--k 10] [--sample 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from _measure import Report, add_options, profiled, spread, timed
from sqlalchemy.engine import make_url

from blendify_assets.analytics.matches import compute_taste_matches
from blendify_assets.db import migrations
from blendify_assets.db.engine import create_engine

CATALOGUE = 50_000
HEAD = 5_000
RANGES = ("short_term", "medium_term", "long_term")
FETCHED = "2026-03-01 12:00:00"

BASELINE_SQL = """
WITH pairs AS (
    SELECT t1.user_id AS a, t2.user_id AS b, count(DISTINCT t1.track_id) AS shared
    FROM user_top_tracks t1
    JOIN user_top_tracks t2 ON t1.track_id = t2.track_id
    WHERE t1.user_id = ANY(CAST(:users AS uuid[])) AND t2.user_id <> t1.user_id
      AND t1.provider = t2.provider
    GROUP BY t1.user_id, t2.user_id
)
SELECT a, b, shared FROM (
    SELECT a, b, shared, row_number() OVER (PARTITION BY a ORDER BY shared DESC, b) AS place FROM pairs
) ranked WHERE place <= :k
"""


def user_id(u: int) -> str:
    return f"{u:08d}-0000-4000-8000-000000000000"


def simulate_top_lists(n_users: int, seed: int) -> dict[str, dict[str, list[int]]]:
    """Per user, per time range, 50 catalogue numbers (distinct within a list), rank order."""
    rng = random.Random(seed)
    out: dict[str, dict[str, list[int]]] = {}
    for u in range(n_users):
        scene = rng.randrange(CATALOGUE)
        lists: dict[str, list[int]] = {}
        for time_range in RANGES:
            seen: dict[int, None] = {}
            while len(seen) < 50:
                if rng.random() < 0.8:
                    n = (scene + int(rng.expovariate(1 / 300))) % CATALOGUE
                else:
                    n = int((rng.random() * HEAD**0.4) ** 2.5) % HEAD
                seen[n] = None
            lists[time_range] = list(seen)
        out[user_id(u)] = lists
    return out


def load(engine: sa.engine.Engine, lists: dict[str, dict[str, list[int]]]) -> int:
    """COPY users, their top tracks and snapshot rows; returns the number of track rows."""
    users, tracks, snaps = io.StringIO(), io.StringIO(), io.StringIO()
    rows = 0
    for uid, by_range in lists.items():
        users.write(f"{uid}\tbench-{uid[:8]}@example.com\n")
        for time_range, numbers in by_range.items():
            for rank, n in enumerate(numbers, start=1):
                tracks.write(
                    f"{uid}\tspotify\tsp{n}\tTrack {n}\tArtist {n // 10}\tQZBEN{n:07d}\t"
                    f"{150_000 + n % 120_000}\t{time_range}\t{rank}\t{FETCHED}\n"
                )
                rows += 1
            snaps.write(f"{uid}\tspotify\tuser_top_tracks\t{time_range}\t{FETCHED}\t50\t{uuid.uuid4().hex}\n")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for table, columns, data in (
                ("users", "id, email", users),
                (
                    "user_top_tracks",
                    "user_id, provider, track_id, track_name, artist_name, isrc, duration_ms, time_range, "
                    "rank, fetched_at",
                    tracks,
                ),
                (
                    "snapshots",
                    "user_id, provider, table_name, scope, fetched_at, row_count, content_hash",
                    snaps,
                ),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(data.getvalue())
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return rows


def time_baseline(engine: sa.engine.Engine, sample: list[str], k: int) -> tuple[float, int]:
    start = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(sa.text("SET work_mem = '256MB'"))
        rows = conn.execute(sa.text(BASELINE_SQL), {"users": sample, "k": k}).all()
    return time.perf_counter() - start, len(rows)


def fresh_database() -> tuple[str, object | None, Path]:
    """(URL, embedded server or None, scratch dir): a new database for this run."""
    scratch = Path(tempfile.mkdtemp(prefix="blendify-bench-"))
    server = None
    base = os.environ.get("BLENDIFY_DATABASE_URL")
    if base:
        admin_url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)).set(
            database="postgres"
        )
        admin = admin_url.render_as_string(hide_password=False)
    else:
        from blendify_assets.db.server import embedded_url, start_embedded

        server = start_embedded(scratch / "pg")
        admin = embedded_url(server, "postgres")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False), server, scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--sample", type=int, default=100, help="users the self-join is timed for")
    parser.add_argument("--seed", type=int, default=11)
    args = add_options(parser, profile=True).parse_args()
    report = Report("overlap_vs_selfjoin", args.repeats)

    url, server, _scratch = fresh_database()
    engine = create_engine(url)
    try:
        migrations.upgrade(engine)
        lists = simulate_top_lists(args.users, args.seed)
        start = time.perf_counter()
        rows = load(engine, lists)
        load_seconds = time.perf_counter() - start

        sample = random.Random(args.seed).sample(sorted(lists), min(args.sample, args.users))
        ours, ours_cpu, topk, baseline, ratios = [], [], [], [], []
        for i in range(args.repeats):  # interleaved, so drift hits both alike
            with profiled(args.profile if i == 0 else None), timed() as sample_ours:
                run = compute_taste_matches(engine, args.k)
            measured, baseline_rows = time_baseline(engine, sample, args.k)
            ours.append(sample_ours.wall)
            ours_cpu.append(sample_ours.cpu)
            topk.append(sum(run.seconds[s] for s in ("prepare", "top_k")))
            baseline.append(measured * args.users / len(sample))
            ratios.append(baseline[-1] / ours[-1])
        report.emit(
            {
                "users": args.users,
                "k": args.k,
                "top_track_rows": rows,
                "load_seconds": round(load_seconds, 2),
                "ours_seconds": spread(ours, 2),
                "ours_cpu_seconds": spread(ours_cpu, 2),
                "ours_stages_last_run": dict(run.seconds),
                "ours_pairs_detailed": run.pairs,
                "ours_rows_appended": run.rows,
                "baseline_sample_users": len(sample),
                "baseline_rows_for_sample": baseline_rows,
                "baseline_seconds_all_users": spread(baseline, 1),
                "ours_topk_seconds": spread(topk, 2),
                "ratio": spread(ratios, 1),
                "ratio_topk_only": spread([b / t for b, t in zip(baseline, topk, strict=True)], 1),
            }
        )
    finally:
        engine.dispose()
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
