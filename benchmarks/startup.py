"""Start-up time of the command line: `blendify --help` and `blendify users list`.

Each command runs several times as a fresh process (as a user types it) against a migrated private
home on the embedded server, which it starts and stops itself, like a first command of the day.
Prints one JSON line: per command the median wall time, the spread (min, max) and the median CPU time
(user + system) of the process; the machine's load average before and after; the targets.

    python benchmarks/startup.py [--repeats 5]

`python -X importtime -m blendify_assets users list` shows where the import time goes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import Report, add_options

TARGETS = {"help_s": 1.0, "users_list_s": 1.5}
BLENDIFY = [sys.executable, "-m", "blendify_assets"]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `blendify <args>`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*BLENDIFY, *args], env=env, check=True, stdout=subprocess.DEVNULL, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(args: list[str], env: dict[str, str], runs: int) -> dict[str, object]:
    results = [timed(args, env) for _ in range(runs)]
    walls = [w for w, _ in results]
    return {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "cpu_median_s": round(statistics.median(c for _, c in results), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    parser.add_argument("--runs", dest="repeats", type=int, help="the old name of --repeats")
    parser.set_defaults(repeats=5)  # a start-up is short: five runs cost a few seconds
    args = parser.parse_args()
    report = Report("startup", args.repeats)
    with tempfile.TemporaryDirectory(prefix="blendify-startup-") as folder:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))
        }
        env["BLENDIFY_HOME"] = str(Path(folder) / "home")
        subprocess.run(
            [*BLENDIFY, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=300
        )
        help_ = measure(["--help"], env, args.repeats)
        users = measure(["users", "list"], env, args.repeats)
    report.emit(
        {
            "help_s": help_["median_s"],
            "users_list_s": users["median_s"],
            "help": help_,
            "users_list": users,
            "targets": TARGETS,
        }
    )


if __name__ == "__main__":
    main()
