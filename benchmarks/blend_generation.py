"""Benchmark: one blend for 10 members with 8,000 warehouse rows each (target: under 1 s).

Times the whole pure path the blend asset runs after its SQL: rows -> build_member_taste for each
member -> identity clustering -> the algorithm. Members draw from one synthetic catalogue with
shared scenes, half of them on Apple Music (own ids, ISRC on 90% of tracks, titles with
"(Remastered ...)" / "feat." decorations), so cross-provider matching is exercised. Prints one JSON
line per algorithm: seconds and CPU seconds (median and range over ``--repeats``), whether the
median meets the 1 s target, picks, row counts, the load average.

    python benchmarks/blend_generation.py [--members 10] [--rows 8000] [--repeats 3] [--profile f.prof]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterator

from _measure import Report, add_options, cpu_seconds, profiled, spread

from blendify_assets.blend import balanced, build_member_taste, discovery, weighted
from blendify_assets.blend.normalize import clear_caches

TARGET_SECONDS = 1.0
RANGES = ("short_term", "medium_term", "long_term")


WORDS = [
    "love",
    "night",
    "road",
    "fire",
    "rain",
    "heart",
    "city",
    "light",
    "dream",
    "summer",
    "gold",
    "blue",
    "wild",
    "home",
    "river",
    "ghost",
    "dance",
    "time",
    "young",
    "star",
    "ocean",
    "shadow",
    "electric",
    "paper",
    "neon",
    "silver",
    "storm",
    "echo",
    "glass",
    "moon",
]


def synthetic_catalogue(n_tracks: int, n_artists: int, seed: int) -> list[dict[str, object]]:
    """Tracks with a Spotify id, an Apple id and an ISRC; each artist a discography of ~10."""
    rng = random.Random(seed)
    genres = [f"genre {g}" for g in range(60)]
    artists = [(f"Artist {a}", rng.sample(genres, 3)) for a in range(n_artists)]
    out = []
    for t in range(n_tracks):
        name, artist_genres = artists[t * n_artists // n_tracks]
        out.append(
            {
                "n": t,
                "title": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4))).title(),
                "artist": name,
                "feat": f"Artist {rng.randrange(n_artists)}" if rng.random() < 0.15 else None,
                "genres": artist_genres,
                "duration_ms": rng.randrange(120_000, 360_000),
                "isrc": f"USRC1{t:07d}",
            }
        )
    return out


def _track_row(track: dict[str, object], provider: str, rng: random.Random) -> dict[str, object]:
    artist = str(track["artist"]) + (f", {track['feat']}" if track["feat"] else "")
    title = str(track["title"])
    isrc: str | None = str(track["isrc"])
    if provider == "apple":
        artist = str(track["artist"]) + (f" & {track['feat']}" if track["feat"] else "")
        title = title + (" (Remastered 2011)" if int(track["n"]) % 7 == 0 else "")  # type: ignore[call-overload]
        isrc = isrc if rng.random() < 0.9 else None
    return {
        "provider": provider,
        "track_id": f"{provider[:2]}{track['n']}",
        "track_name": title,
        "artist_name": artist,
        "album_name": f"Album of {track['artist']}",
        "album_art_url": None,
        "duration_ms": int(track["duration_ms"]) + (rng.randrange(-900, 900) if provider == "apple" else 0),  # type: ignore[call-overload]
        "isrc": isrc.lower() if isrc and rng.random() < 0.1 else isrc,
    }


def synthetic_member_rows(
    catalogue: list[dict[str, object]], rows: int, provider: str, seed: int
) -> dict[str, list[dict[str, object]]]:
    """About ``rows`` view rows for one member, split like the schema's storage estimate."""
    rng = random.Random(seed)
    scene = rng.randrange(len(catalogue))

    def pick() -> dict[str, object]:
        if rng.random() < 0.6:
            return catalogue[(scene + int(rng.expovariate(1 / 800))) % len(catalogue)]
        return catalogue[min(int(rng.paretovariate(0.8)) * 7, len(catalogue) - 1)]

    def tracks(n: int) -> Iterator[dict[str, object]]:
        for _ in range(n):
            yield _track_row(pick(), provider, rng)

    out: dict[str, list[dict[str, object]]] = {k: [] for k in ("top_tracks", "top_artists")}
    for rng_name in RANGES if provider == "spotify" else ():
        for rank, row in enumerate(tracks(50), start=1):
            out["top_tracks"].append({**row, "time_range": rng_name, "rank": rank})
        for rank in range(1, 51):
            t = pick()
            out["top_artists"].append(
                {"artist_name": t["artist"], "genres": t["genres"], "time_range": rng_name, "rank": rank}
            )
    budget = rows - len(out["top_tracks"]) - len(out["top_artists"]) - 300
    out["recently_played"] = [
        {**r, "played_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00"}
        for i, r in enumerate(tracks(budget // 5))
    ]
    out["saved_tracks"] = [{**r, "saved_at": "2025-06-01T00:00:00"} for r in tracks(budget // 5)]
    out["playlist_tracks"] = [
        {**r, "playlist_id": f"pl{i % 25}", "track_position": i, "item_type": "track"}
        for i, r in enumerate(tracks(budget - 2 * (budget // 5)))
    ]
    out["saved_albums"] = [
        {"artist_name": t["artist"], "album_name": "x", "genres": []} for t in (pick() for _ in range(200))
    ]
    out["followed_artists"] = [
        {"artist_name": t["artist"], "genres": t["genres"]} for t in (pick() for _ in range(100))
    ]
    return out


def run(members: int, rows: int, repeat: int, seed: int) -> list[dict[str, object]]:
    catalogue = synthetic_catalogue(40_000, 4_000, seed)
    data = {
        f"user-{i:02d}": synthetic_member_rows(catalogue, rows, "apple" if i % 2 else "spotify", seed + i)
        for i in range(members)
    }
    n_rows = {u: sum(len(v) for v in r.values()) for u, r in data.items()}
    results = []
    for name in ("balanced", "weighted", "discovery"):
        times: list[float] = []
        cpu: list[float] = []
        picks = []
        for _ in range(repeat):
            clear_caches()  # time a cold start: no memoised normalisation from the last run
            start, cpu_start = time.perf_counter(), cpu_seconds()
            tastes = [build_member_taste(u, r) for u, r in data.items()]
            if name == "balanced":
                picks = balanced(tastes)
            elif name == "weighted":
                picks = weighted(tastes, {t.user_id: 1.0 + (i % 3) for i, t in enumerate(tastes)})
            else:
                picks = discovery(tastes)
            times.append(time.perf_counter() - start)
            cpu.append(cpu_seconds() - cpu_start)
        results.append(
            {
                "algorithm": name,
                "members": members,
                "rows_per_member": round(sum(n_rows.values()) / len(n_rows)),
                "picks": len(picks),
                "shared_picks": sum(1 for p in picks if p.blend_metadata["shared_by"] > 1),  # type: ignore[operator]
                "cross_provider_matches": sum(
                    1
                    for p in picks
                    if len({m["provider"] for m in p.blend_metadata["members"].values()}) > 1  # type: ignore[union-attr]
                ),
                "seconds": spread(times),
                "cpu_seconds": spread(cpu),
                "target_seconds": TARGET_SECONDS,
                "meets_target": statistics.median(times) < TARGET_SECONDS,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rows", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=7)
    args = add_options(parser, profile=True).parse_args()
    report = Report("blend_generation", args.repeats)
    with profiled(args.profile):
        lines = run(args.members, args.rows, args.repeats, args.seed)
    for line in lines:
        report.emit(line)


if __name__ == "__main__":
    main()
