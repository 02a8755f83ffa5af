"""Benchmark: top-k most similar users for 10,000 simulated users, sparse (pure part).

Each user gets the track ids of their three top-track lists (50 per time range, so ~100 distinct),
drawn from a 50,000-track catalogue: 80% from a personal "scene", 20% from a Zipf(0.6) head of
5,000 hits, so the top hit sits in about a third of all lists (thousands of users share it).
``top_k_similar`` ranks neighbours by shared / max(len) over those sets via an inverted index.

The lead's SQL self-join runs on the same data: :func:`simulate_track_sets` makes it and
:func:`time_sparse_topk` times our side, so both sides can be timed and compared as a ratio.

    python benchmarks/overlap_topk.py [--users 10000] [--k 10] [--repeats 3] [--profile f.prof]
"""

from __future__ import annotations

import argparse
import random
import time

from _measure import Report, add_options, profiled, spread, timed

from blendify_assets.blend import top_k_similar

CATALOGUE = 50_000
HEAD = 5_000


def simulate_track_sets(n_users: int, seed: int = 11, per_range: int = 50) -> dict[str, set[str]]:
    """Per-user sets of Spotify track ids, as latest_user_top_tracks would give them."""
    rng = random.Random(seed)
    out: dict[str, set[str]] = {}
    for u in range(n_users):
        scene = rng.randrange(CATALOGUE)
        ids: set[str] = set()
        for _ in range(3):  # short / medium / long term lists overlap
            for _ in range(per_range):
                if rng.random() < 0.8:
                    n = (scene + int(rng.expovariate(1 / 300))) % CATALOGUE
                else:  # Zipf(0.6) over a 5,000-track head: the top hit is in ~1/3 of users' lists
                    n = int((rng.random() * HEAD**0.4) ** 2.5) % HEAD
                ids.add(f"sp{n}")
        out[f"{u:08d}-0000-4000-8000-000000000000"] = ids
    return out


def time_sparse_topk(
    track_sets: dict[str, set[str]], k: int = 10
) -> tuple[float, dict[str, list[tuple[str, float]]]]:
    """Seconds for the sparse top-k over these sets, and its result."""
    start = time.perf_counter()
    result = top_k_similar(track_sets, k)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=11)
    args = add_options(parser, profile=True).parse_args()
    report = Report("overlap_topk_sparse", args.repeats)
    sets = simulate_track_sets(args.users, args.seed)
    postings: dict[str, int] = {}
    for s in sets.values():
        for t in s:
            postings[t] = postings.get(t, 0) + 1
    walls, cpus = [], []
    for i in range(args.repeats):
        with profiled(args.profile if i == 0 else None), timed() as sample:
            _, result = time_sparse_topk(sets, args.k)
        walls.append(sample.wall)
        cpus.append(sample.cpu)
    report.emit(
        {
            "users": args.users,
            "k": args.k,
            "rows": sum(len(s) for s in sets.values()),
            "distinct_tracks": len(postings),
            "co_occurring_pair_updates": sum(n * (n - 1) for n in postings.values()),
            "all_pairs": args.users * (args.users - 1),
            "users_with_neighbours": sum(1 for v in result.values() if v),
            "seconds": spread(walls),
            "cpu_seconds": spread(cpus),
        }
    )


if __name__ == "__main__":
    main()
