"""Benchmark: bucketed taste matching (issue 18) at 10k / 100k / 1M users: peak memory, wall and CPU
per run, and candidate pairs, with each run in its own process as Dagster runs it.

Data, COPYed into a fresh warehouse (embedded server, or BLENDIFY_DATABASE_URL's): users shaped like
the simulator's profiles. ``--profile medium`` (the simulator's medium user): 3 x 50 top tracks,
3 x 50 top artists with genres, 800 saved tracks, 1,500 playlist tracks in 30 playlists, 50 plays;
``--profile top`` (top lists only, for 1M): the top tracks and top artists. Tracks come from a
catalogue with realistic popularity: 70% from a personal scene (a neighbourhood of the catalogue,
the long tail), 30% Zipf(1.1) over the whole catalogue (a few hits held by a large share of users).
One user in five is an Apple Music user whose copies carry the same ISRCs under Apple ids, so
recordings are clustered across providers as in production.

Measured, each in a child process (peak RSS = its ``ru_maxrss``; the parent also reports
``RUSAGE_CHILDREN``'s, the largest of all children):

- ``prepare``: analytics.matches.prepare_taste_run (identity over distinct tracks, every vector);
- each bucket (``--buckets``, default 16): analytics.matches.compute_bucket; ``--sample-buckets N``
  runs only N buckets and extrapolates the total (said so in the output: ``extrapolated``).

Prints one JSON line per run and a summary with ``candidate_pairs`` (the (user, other) contributions
the inverted index expanded: time should grow no faster than this) per size.

    python benchmarks/taste_scale.py [--users 10000] [--profile medium|top] [--sample-buckets N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from _measure import Report, add_options, spread
from _support import scratch_warehouse

from blendify_assets.db.engine import create_engine

FETCHED = "2026-09-01 12:00:00"
RANGES = ("short_term", "medium_term", "long_term")
PROFILES = {
    # rows per user: top tracks per range, top artists per range, saved, playlist tracks, playlists, plays
    "medium": {"top": 50, "artists": 50, "saved": 800, "playlist": 1_500, "playlists": 30, "plays": 50},
    "top": {"top": 50, "artists": 50, "saved": 0, "playlist": 0, "playlists": 0, "plays": 0},
}
USERS_PER_COPY = 500


def catalogue_size(users: int) -> int:
    """Distinct recordings grow with the user base, slower than it (as a real catalogue does)."""
    return int(200_000 + 40 * users**0.9)


def draw(rng: np.random.Generator, n: int, catalogue: int, scene: int) -> np.ndarray:
    """n distinct catalogue numbers: a personal scene's long tail, and Zipf-popular hits."""
    out: dict[int, None] = {}
    while len(out) < n:
        m = 2 * (n - len(out))
        near = (scene + rng.geometric(1 / 400, m)) % catalogue
        hits = (rng.zipf(1.1, m) - 1) % catalogue
        picks = np.where(rng.random(m) < 0.7, near, hits)
        for x in picks.tolist():
            out[x] = None
            if len(out) == n:
                break
    return np.fromiter(out, np.int64, n)


def generate(url: str, users: int, profile: str, seed: int) -> dict[str, int]:
    """COPY users and their latest snapshots, USERS_PER_COPY users per transaction."""
    shape = PROFILES[profile]
    catalogue = catalogue_size(users)
    rng = np.random.default_rng(seed)
    engine = create_engine(url)
    counts = {"users": 0, "rows": 0}
    raw = engine.raw_connection()
    try:
        for lo in range(0, users, USERS_PER_COPY):
            buffers: dict[str, io.StringIO] = {name: io.StringIO() for name in COPY}
            for u in range(lo, min(users, lo + USERS_PER_COPY)):
                counts["rows"] += _user(buffers, u, rng, catalogue, shape)
                counts["users"] += 1
            with raw.cursor() as cur:
                for table, columns in COPY.items():
                    data = buffers[table].getvalue()
                    if data:
                        with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                            copy.write(data)
            raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return counts


COPY = {
    "users": "id, email",
    "snapshots": "user_id, provider, table_name, scope, fetched_at, row_count, content_hash",
    "user_top_tracks": "user_id, provider, track_id, track_name, artist_name, isrc, duration_ms, time_range, rank, fetched_at",
    "user_top_artists": "user_id, provider, artist_id, artist_name, genres, time_range, rank, fetched_at",
    "user_saved_tracks": "user_id, provider, track_id, track_name, artist_name, isrc, duration_ms, saved_at, fetched_at",
    "user_playlists": "user_id, provider, playlist_id, playlist_name, is_owner, fetched_at",
    "user_playlist_tracks": "user_id, provider, playlist_id, track_id, track_name, artist_name, isrc, duration_ms, fetched_at",
    "user_recently_played": "user_id, provider, track_id, track_name, artist_name, isrc, duration_ms, played_at, fetched_at",
}  # fmt: skip


def _user(out: dict[str, io.StringIO], u: int, rng: np.random.Generator, catalogue: int, shape: dict) -> int:
    uid = str(uuid.UUID(int=(u + 1) * 0x9E3779B97F4A7C15 % (1 << 128)))
    apple = u % 5 == 0
    provider, prefix = ("apple", "ap") if apple else ("spotify", "sp")
    scene = int(rng.integers(catalogue))
    out["users"].write(f"{uid}\tbench-{u}@example.com\n")
    rows = 0

    def snap(table: str, scope: str, n: int) -> None:
        out["snapshots"].write(f"{uid}\t{provider}\t{table}\t{scope}\t{FETCHED}\t{n}\t{uuid.uuid4().hex}\n")

    def fields(n: int) -> str:
        return f"{prefix}{n}\tTrack {n}\tArtist {n // 12}\tQZB{n:09d}\t{150_000 + n % 120_000}"

    if not apple:
        for time_range in RANGES:
            for rank, n in enumerate(draw(rng, shape["top"], catalogue, scene).tolist(), start=1):
                out["user_top_tracks"].write(
                    f"{uid}\t{provider}\t{fields(n)}\t{time_range}\t{rank}\t{FETCHED}\n"
                )
            snap("user_top_tracks", time_range, shape["top"])
            artists = draw(rng, shape["artists"], catalogue // 12, scene // 12).tolist()
            for rank, a in enumerate(artists, start=1):
                genres = json.dumps([f"genre {a % 300}", f"genre {a % 37}"])
                out["user_top_artists"].write(
                    f"{uid}\t{provider}\tar{a}\tArtist {a}\t{genres}\t{time_range}\t{rank}\t{FETCHED}\n"
                )
            snap("user_top_artists", time_range, shape["artists"])
            rows += shape["top"] + shape["artists"]
    if shape["saved"] or apple:
        saved = draw(rng, shape["saved"] or 3 * shape["top"], catalogue, scene).tolist()
        for n in saved:
            out["user_saved_tracks"].write(f"{uid}\t{provider}\t{fields(n)}\t{FETCHED}\t{FETCHED}\n")
        snap("user_saved_tracks", "", len(saved))
        rows += len(saved)
    if shape["playlist"]:
        per = shape["playlist"] // shape["playlists"]
        for p in range(shape["playlists"]):
            pid = f"pl-{u}-{p}"
            out["user_playlists"].write(f"{uid}\t{provider}\t{pid}\tPlaylist {p}\ttrue\t{FETCHED}\n")
            for n in draw(rng, per, catalogue, scene).tolist():
                out["user_playlist_tracks"].write(f"{uid}\t{provider}\t{pid}\t{fields(n)}\t{FETCHED}\n")
            snap("user_playlist_tracks", pid, per)
        snap("user_playlists", "", shape["playlists"])
        rows += shape["playlist"] + shape["playlists"]
    for i, n in enumerate(draw(rng, shape["plays"], catalogue, scene).tolist() if shape["plays"] else []):
        out["user_recently_played"].write(
            f"{uid}\t{provider}\t{fields(n)}\t2026-09-01 11:{i % 60:02d}:00\t{FETCHED}\n"
        )
        rows += 1
    return rows


def child(url: str, task: str, bucket: int, buckets: int) -> dict:
    """Run one task in this process and report its own peak memory and CPU."""
    from blendify_assets.analytics.matches import compute_bucket, prepare_taste_run

    engine = create_engine(url)
    start = time.perf_counter()
    if task == "prepare":
        prepared = prepare_taste_run(engine, buckets=buckets)
        figures = {"users": prepared.users, "items": prepared.items, "clusters_stored": prepared.clusters_stored,
                   "stages": dict(prepared.seconds)}  # fmt: skip
    else:
        run = compute_bucket(engine, bucket)
        figures = {"users": run.users, "candidate_pairs": run.candidate_pairs, "pairs": run.pairs,
                   "rows": run.rows, "tastes_loaded": run.tastes_loaded, "stages": dict(run.seconds)}  # fmt: skip
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "task": task if task == "prepare" else f"bucket {bucket}",
        **figures,
        "wall_s": round(time.perf_counter() - start, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def run_child(url: str, task: str, bucket: int, buckets: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", task, "--bucket", str(bucket), "--buckets", str(buckets), "--url", url],
        check=True, capture_output=True, text=True, cwd=Path(__file__).parent,
    )  # fmt: skip
    line = json.loads(out.stdout.strip().splitlines()[-1])
    line["load"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(line), flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="medium")
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--sample-buckets", type=int, default=None, help="run only this many buckets")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--bucket", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = add_options(parser).parse_args()
    if args.child:
        print(json.dumps(child(args.url, args.child, args.bucket, args.buckets)))
        return
    report = Report("taste_scale", 1)
    with scratch_warehouse() as engine:
        url = engine.url.render_as_string(hide_password=False)
        start = time.perf_counter()
        data = generate(url, args.users, args.profile, args.seed)
        generate_s = time.perf_counter() - start
        prepared = run_child(url, "prepare", 0, args.buckets)
        ran = list(
            range(args.buckets if args.sample_buckets is None else min(args.sample_buckets, args.buckets))
        )
        runs = [run_child(url, "bucket", b, args.buckets) for b in ran]
        scale = args.buckets / len(ran)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report.emit(
            {
                "users": args.users,
                "profile": args.profile,
                "rows": data["rows"],
                "rows_per_user": round(data["rows"] / max(1, data["users"]), 1),
                "catalogue": catalogue_size(args.users),
                "generate_s": round(generate_s, 1),
                "prepare": {
                    key: prepared[key]
                    for key in ("wall_s", "cpu_s", "peak_rss_mb", "items", "clusters_stored")
                },
                "buckets": args.buckets,
                "buckets_run": len(ran),
                "extrapolated": len(ran) < args.buckets,
                "bucket_wall_s": spread([r["wall_s"] for r in runs], 2),
                "bucket_cpu_s": spread([r["cpu_s"] for r in runs], 2),
                "bucket_peak_rss_mb": spread([r["peak_rss_mb"] for r in runs], 1),
                "peak_rss_any_child_mb": round(children, 1),
                "candidate_pairs": round(sum(r["candidate_pairs"] for r in runs) * scale),
                "buckets_total_wall_s": round(sum(r["wall_s"] for r in runs) * scale, 1),
                "buckets_total_cpu_s": round(sum(r["cpu_s"] for r in runs) * scale, 1),
                "cpu_s_per_million_candidates": round(
                    sum(r["cpu_s"] for r in runs) / max(1, sum(r["candidate_pairs"] for r in runs)) * 1e6, 3
                ),
            }
        )


if __name__ == "__main__":
    main()
