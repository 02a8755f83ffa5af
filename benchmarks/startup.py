"""Start-up time of the command line: `blendify --help` and `blendify users list`.

Each command runs several times as a fresh process (as a user types it) against a migrated private
home on the embedded server, which it starts and stops itself, like a first command of the day.
Prints one JSON line: per command the median wall time, the spread (min, max) and the median CPU time
(user + system) of the process; the machine's load average before and after; the targets.

    python benchmarks/startup.py [--runs 5]

`python -X importtime -m blendify_assets users list` shows where the import time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blendify-startup-") as folder:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BLENDIFY_", "SPOTIFY_", "APPLE_MUSIC_"))
        }
        env["BLENDIFY_HOME"] = str(Path(folder) / "home")
        subprocess.run(
            [*BLENDIFY, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL, timeout=300
        )
        load_before = os.getloadavg()
        help_ = measure(["--help"], env, args.runs)
        users = measure(["users", "list"], env, args.runs)
        load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "runs": args.runs,
                "help_s": help_["median_s"],
                "users_list_s": users["median_s"],
                "help": help_,
                "users_list": users,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                "targets": TARGETS,
                "machine_cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
