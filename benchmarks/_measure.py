"""Honest figures for every benchmark: repeats, median and spread, load and CPU beside wall time.

A figure measured on a shared machine means little without the load it was taken at and the CPU the
process spent (a wall time far above the CPU time is waiting: for the server, or for a core). Each
benchmark takes `--repeats N` (default 3) and prints one JSON line per result through `Report`:

    {"benchmark": ..., <its figures>, "repeats": 3,
     "load_start": [1m, 5m, 15m], "load_end": [...], "wall_s": ..., "cpu_s": ..., "cpu_children_s": ...}

A figure sampled once per repeat is given by `spread(values)`: {"median", "min", "max", "n"}.
`--profile PATH` (where a benchmark offers it) runs the measured code under cProfile, writes PATH
(open with `python -m pstats PATH` or snakeviz) and prints the top functions to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

DEFAULT_REPEATS = 3


def add_options(parser: argparse.ArgumentParser, *, profile: bool = False) -> argparse.ArgumentParser:
    """`--repeats N` (also `--repeat`, the old spelling) and, when offered, `--profile PATH`."""
    parser.add_argument(
        "--repeats", "--repeat", dest="repeats", type=int, default=DEFAULT_REPEATS,
        help=f"measure this many times and report the median and spread (default {DEFAULT_REPEATS})",
    )  # fmt: skip
    if profile:
        parser.add_argument(
            "--profile", metavar="PATH", default=None,
            help="run under cProfile, write the stats to PATH and print the top functions to stderr",
        )  # fmt: skip
    return parser


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds() -> float:
    """This process's user + system CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the child processes that have ended (simulators, commands)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spread(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Median and range of one figure over the repeats."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


class Sample:
    """Wall and process-CPU seconds of one timed block (`with timed() as t: ...; t.wall, t.cpu`)."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Sample]:
    sample = Sample()
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield sample
    finally:
        sample.wall, sample.cpu = time.perf_counter() - wall, cpu_seconds() - cpu


class Report:
    """Started when the benchmark starts; `emit` prints a result line with the load and CPU so far."""

    def __init__(self, name: str, repeats: int) -> None:
        self.name, self.repeats = name, repeats
        self.load_start = load()
        self._wall, self._cpu, self._children = time.perf_counter(), cpu_seconds(), children_cpu_seconds()

    def emit(self, figures: dict[str, Any]) -> dict[str, Any]:
        line = {
            "benchmark": self.name,
            **figures,
            "repeats": self.repeats,
            "load_start": self.load_start,
            "load_end": load(),
            "wall_s": round(time.perf_counter() - self._wall, 2),
            "cpu_s": round(cpu_seconds() - self._cpu, 2),
            "cpu_children_s": round(children_cpu_seconds() - self._children, 2),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(line), flush=True)
        return line


@contextmanager
def profiled(path: str | None, top: int = 25) -> Iterator[None]:
    """Profile the block when `path` is set, threads it starts included (the writer runs in worker
    threads): stats written to `path`, the top functions by own and by cumulative time to stderr.
    Times are each thread's CPU seconds (`time.thread_time`), not wall-clock: on a loaded machine a
    thread waiting for a core or the GIL would otherwise look busy wherever it happened to wait."""
    if not path:
        yield
        return
    profiles = [cProfile.Profile(time.thread_time)]
    original = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()
        try:
            original(thread)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    profiles[0].enable()
    try:
        yield
    finally:
        profiles[0].disable()
        threading.Thread.run = original  # type: ignore[method-assign]
        for profile in profiles[1:]:
            profile.disable()  # a thread still alive (a pool's idle worker) stops counting here
        stats = pstats.Stats(*profiles)
        stats.dump_stats(path)
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats(order).print_stats(top)
            print(
                f"--- profile of {len(profiles)} thread(s), top {top} by {order} (full stats: {path}) ---",
                file=sys.stderr,
            )
            print(out.getvalue(), file=sys.stderr)


def repeat(n: int, measure: Callable[[int], Any]) -> list[Any]:
    """`measure(i)` for i in range(n), in order."""
    return [measure(i) for i in range(n)]
