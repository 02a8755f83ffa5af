"""The append writer against raw COPY of the same rows into the same server.

The writer does everything a real check does: hashes the stable fields for change detection,
compares with the latest snapshot, COPYs the rows, records the snapshot and the sync log, all in
one transaction. The baseline only COPYs the same rows (converted the same way) and commits.

The small-check figure stores the same rows as 50-row checks, one per user (realistic small
scopes), the way a step writes them (`store_fetches`, 64 checks per shared transaction), and the
same checks one transaction each (the writer before issue 17) for comparison.

Prints one JSON line (median and range over the repeats, load, CPU): `ratio` = writer rows/s ÷ raw
COPY rows/s (target >= 0.7); `small_checks_rows_per_s` (target >= 10,000).
Run: python benchmarks/writer_vs_copy.py [--rows 20000] [--repeats 3] [--profile small.prof]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from _measure import Report, add_options, profiled, spread
from _support import add_user, scratch_warehouse

from blendify_assets.core.fetch import EndpointFetch, ScopeSnapshot
from blendify_assets.db.copy import copy_rows
from blendify_assets.db.music.tables import TABLES
from blendify_assets.db.music.writer import Check, StoreResult, row_values, store_fetch, store_fetches

SPEC = TABLES["user_saved_tracks"]
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def rows(n: int) -> list[dict]:
    """Saved tracks shaped like real ones, metadata (the original item JSON, ~1 KB) included."""
    return [
        {
            "track_id": f"4iV5W9uYEdYUVa79Axb{i:05d}", "track_name": f"Song number {i}",
            "artist_name": f"Artist {i % 500}, Guest {i % 37}", "album_name": f"Album {i % 900}",
            "album_art_url": f"https://i.scdn.co/image/ab67616d0000b273{i:024x}", "duration_ms": 180_000 + i % 90_000,
            "saved_at": NOW - timedelta(minutes=i), "popularity": None, "isrc": f"USUM7{i:07d}",
            "track_metadata": {
                "added_at": (NOW - timedelta(minutes=i)).isoformat(),
                "track": {
                    "id": f"4iV5W9uYEdYUVa79Axb{i:05d}", "name": f"Song number {i}", "duration_ms": 180_000 + i,
                    "external_ids": {"isrc": f"USUM7{i:07d}"}, "explicit": False, "track_number": 1 + i % 12,
                    "album": {"id": f"al{i % 900}", "name": f"Album {i % 900}", "release_date": "2019-05-17",
                              "images": [{"url": f"https://i.scdn.co/image/{i:040x}", "height": 640, "width": 640}]},
                    "artists": [{"id": f"ar{i % 500}", "name": f"Artist {i % 500}", "type": "artist"}],
                    "uri": f"spotify:track:4iV5W9uYEdYUVa79Axb{i:05d}", "type": "track",
                },
            },
        }
        for i in range(n)
    ]  # fmt: skip


def time_writer(engine, data: list[dict], run: int) -> float:
    user = add_user(engine, f"writer{run}@bench.test")
    fetch = EndpointFetch("saved_tracks", SPEC.name, scopes=[ScopeSnapshot("", data)])
    started = time.perf_counter()
    result = store_fetch(engine, SPEC, user_id=user, provider="spotify", fetch=fetch, started_at=NOW)
    elapsed = time.perf_counter() - started
    assert result.rows_appended == len(data)
    return elapsed


def time_small_checks(engine, data: list[dict], run: int, size: int, batch: int) -> float:
    """The same rows as checks of `size` rows, one per user (realistic small scopes), written the
    way a step writes them: `batch` checks per `store_fetches` call."""
    checks = [
        Check(add_user(engine, f"small{run}-{i}@bench.test"), "spotify",
              EndpointFetch("saved_tracks", SPEC.name, scopes=[ScopeSnapshot("", data[i : i + size])]), NOW)
        for i in range(0, len(data), size)
    ]  # fmt: skip
    started = time.perf_counter()
    for i in range(0, len(checks), batch):
        for result in store_fetches(engine, SPEC, checks[i : i + batch]):
            assert isinstance(result, StoreResult) and result.rows_appended > 0, result
    return time.perf_counter() - started


def time_raw_copy(engine, data: list[dict], run: int) -> float:
    user = add_user(engine, f"copy{run}@bench.test")
    started = time.perf_counter()
    with engine.begin() as conn:
        copy_rows(conn, SPEC.name, ("user_id", "provider", "fetched_at", *SPEC.columns),
                  row_values(SPEC, user, "spotify", NOW.replace(tzinfo=None), data))  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--small-rows", type=int, default=50, help="rows per check in the small-check figure")
    parser.add_argument("--batch", type=int, default=64, help="checks per shared write (as StepSync writes)")
    args = add_options(parser, profile=True).parse_args()
    report = Report("writer_vs_copy", args.repeats)
    data = rows(args.rows)
    with scratch_warehouse() as engine:
        time_raw_copy(engine, data[:1000], -1)  # warm up the server and the code paths
        writer, raw, small, alone = [], [], [], []
        for run in range(args.repeats):  # interleaved, so drift hits both alike
            raw.append(args.rows / time_raw_copy(engine, data, run))
            writer.append(args.rows / time_writer(engine, data, run))
            with profiled(args.profile if run == 0 else None):
                small.append(args.rows / time_small_checks(engine, data, run, args.small_rows, args.batch))
            alone.append(args.rows / time_small_checks(engine, data, run + 1000, args.small_rows, 1))
    ratios = [w / c for w, c in zip(writer, raw, strict=True)]
    report.emit({
        "rows": args.rows,
        "writer_rows_per_s": spread(writer, 0), "raw_copy_rows_per_s": spread(raw, 0),
        "ratio": spread(ratios), "target": ">= 0.7",
        "small_check_rows": args.small_rows, "small_check_batch": args.batch,
        "small_checks_rows_per_s": spread(small, 0), "small_checks_target": ">= 10000",
        "small_checks_one_transaction_each_rows_per_s": spread(alone, 0),
    })  # fmt: skip


if __name__ == "__main__":
    main()
