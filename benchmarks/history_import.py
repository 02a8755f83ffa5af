"""A lifetime-history import against raw COPY of the same rows, and the import's peak memory.

An Extended-streaming-history zip of `--rows` plays (late-2024 format, 16,000 records per file as
Spotify splits them) is imported by `ingest.history.import_history` in a child process, as the
command does: validate, read each file streamed, compare with stored API plays, stage by COPY,
reuse known ISRCs, append, ledger, one transaction. The baseline COPYs the very rows the import
stored (dumped with COPY TO, so the bytes are ready-made) into the same table for another user:
the server's COPY alone (`ratio`). Baseline B, the repository's convention (writer_vs_copy.py):
the same rows read from the export and converted the same way, COPYed by `copy_rows`, only the
COPYs timed (`ratio_vs_python_copy`).
Peak memory is the child's maximum resident set (its VmHWM), for a small and the full export.

Prints one JSON line: per run the import's and the copy's wall seconds, their medians and spread,
`ratio` = import rows/s ÷ raw COPY rows/s (target >= 0.5), peak RSS per export size (target
< 300 MB whatever the size), the child's CPU seconds, the CPU seconds of the import's server process
and of the raw COPY's (the server's work for the same rows: they should match), and the load
(benchmarks/_measure.py).
`--profile PATH` profiles the first import (in its child) with cProfile.

    python benchmarks/history_import.py [--rows 500000] [--repeats 3] [--profile PATH]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa
from _measure import Report, add_options, profiled
from _measure import spread as spread3
from _support import add_user, scratch_warehouse

from blendify_assets.db.copy import copy_rows
from blendify_assets.db.engine import create_engine
from blendify_assets.db.music.tables import TABLES
from blendify_assets.db.music.writer import row_values
from blendify_assets.ingest.history import import_history
from blendify_assets.providers.spotify import history as spotify_history

PER_FILE = 16_000
SPEC = TABLES["user_recently_played"]
COLUMNS = ("user_id", "provider", "fetched_at", *SPEC.columns)
START = datetime(2019, 1, 1, tzinfo=UTC)


def record(i: int) -> dict[str, object]:
    """One play as the late-2024 export writes it (no username, audiobook fields)."""
    t = i % 20_000
    return {
        "ts": (START + timedelta(seconds=240 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": "ios",
        "ms_played": 180_000 + i % 40_000, "conn_country": "DE", "ip_addr": "192.0.2.10",
        "master_metadata_track_name": f"Song number {t}", "master_metadata_album_artist_name": f"Artist {t % 900}",
        "master_metadata_album_album_name": f"Album {t % 3_000}", "spotify_track_uri": f"spotify:track:4iV5W9uYEdYUVa79A{t:05d}",
        "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None, "audiobook_title": None,
        "audiobook_uri": None, "audiobook_chapter_uri": None, "audiobook_chapter_title": None,
        "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": False, "skipped": False,
        "offline": False, "offline_timestamp": None, "incognito_mode": False,
    }  # fmt: skip


def write_export(path: Path, rows: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n, first in enumerate(range(0, rows, PER_FILE)):
            data = orjson.dumps([record(i) for i in range(first, min(rows, first + PER_FILE))])
            archive.writestr(f"Spotify Extended Streaming History/Streaming_History_Audio_{n}.json", data)


def copy_child(url: str, user_id: str, path: str) -> None:
    """Baseline B, the repository's convention (writer_vs_copy.py): the same rows, read from the
    export and converted the same way, COPYed by `copy_rows`; only the COPYs are timed (the rows
    are read 50,000 at a time, untimed, so memory stays bounded)."""
    engine = create_engine(url)
    uid, copied, seconds = uuid.UUID(user_id), 0, 0.0
    fetched_at = datetime.now(UTC).replace(tzinfo=None)
    with spotify_history.open_export(path) as export, engine.begin() as conn:
        for file in export.files:
            rows = file.plays()
            while chunk := list(itertools.islice(rows, 50_000)):
                started = time.perf_counter()
                copy_rows(
                    conn, "user_recently_played", COLUMNS, row_values(SPEC, uid, "spotify", fetched_at, chunk)
                )
                seconds += time.perf_counter() - started
                copied += len(chunk)
        started = time.perf_counter()
    print(
        json.dumps({"seconds": seconds + time.perf_counter() - started, "appended": copied, "peak_rss_mb": 0})
    )
    engine.dispose()


def child(url: str, user_id: str, path: str, profile: str | None = None) -> None:
    """The import as the command runs it, in this (measured) process (profiled when asked)."""
    engine = create_engine(url)
    started = time.perf_counter()
    with profiled(profile):
        report = import_history(engine, uuid.UUID(user_id), "spotify", path)
    seconds = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    out = {"seconds": seconds, "appended": report.appended, "peak_rss_mb": hwm_kb / 1024}
    print(json.dumps(out | {"server_cpu_s": server_cpu(engine)}))
    engine.dispose()


def server_cpu(engine: sa.engine.Engine) -> float | None:
    """CPU seconds the server process behind the engine's (single, reused) connection has spent: the
    import's share of the server's work, beside the child's own CPU. None when the server is not
    local (its /proc is not readable)."""
    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    return backend_cpu(pid)


def backend_cpu(pid: int) -> float | None:
    """User + system CPU seconds of the server process `pid`, or None when it is not local."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_import(
    url: str, user_id: uuid.UUID, path: Path, flag: str = "--child", profile: str | None = None
) -> dict[str, float]:
    """Wall seconds, appended rows, peak RSS (MB) and CPU seconds of one import in a child."""
    proc = subprocess.Popen(
        [sys.executable, __file__, flag, str(user_id), str(path)],
        env=os.environ | {"BENCH_DB_URL": url} | ({"BENCH_PROFILE": profile} if profile else {}),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, out
    result = json.loads(out)
    return {
        "seconds": result["seconds"],
        "appended": result["appended"],
        # VmHWM of the child's own address space: wait4's ru_maxrss would include the parent's RSS
        # at fork time (Linux carries it across exec), which is not the import's memory
        "peak_rss_mb": result["peak_rss_mb"],
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "server_cpu_s": result.get("server_cpu_s"),
    }


def raw_copy(engine: sa.engine.Engine, source: uuid.UUID, target: uuid.UUID) -> tuple[float, float | None]:
    """COPY the rows the import stored for `source` again, for `target`: the bytes are dumped first
    (not timed), so only the server's COPY into the indexed table is measured. Wall seconds, and the
    CPU seconds its server process spent (the import's `server_cpu_s` counterpart)."""
    listed = ", ".join(COLUMNS[1:])
    dump = io.BytesIO()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        query = f"COPY (SELECT '{target}'::uuid, {listed} FROM user_recently_played WHERE user_id = '{source}') TO STDOUT"
        with cursor.copy(query) as copy:  # type: ignore[attr-defined]
            for chunk in copy:
                dump.write(chunk)
        raw.commit()
        cpu_before = backend_cpu(pid)
        started = time.perf_counter()
        with cursor.copy(f"COPY user_recently_played ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            view = dump.getbuffer()
            for i in range(0, len(view), 1 << 20):
                copy.write(view[i : i + (1 << 20)])
        raw.commit()
        seconds, cpu_after = time.perf_counter() - started, backend_cpu(pid)
        return seconds, (None if cpu_before is None or cpu_after is None else cpu_after - cpu_before)
    finally:
        raw.close()


def spread(values: list[float]) -> dict[str, float]:
    return spread3(values, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--small", type=int, default=50_000, help="rows of the small export (memory)")
    parser.add_argument("--child", nargs=2, metavar=("USER_ID", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--copy-child", nargs=2, metavar=("USER_ID", "PATH"), help=argparse.SUPPRESS)
    args = add_options(parser, profile=True).parse_args()
    if args.child:
        child(os.environ["BENCH_DB_URL"], *args.child, profile=os.environ.get("BENCH_PROFILE"))
        return
    if args.copy_child:
        copy_child(os.environ["BENCH_DB_URL"], *args.copy_child)
        return
    report = Report("history_import", args.repeats)
    with (
        tempfile.TemporaryDirectory(prefix="blendify-bench-history-") as folder,
        scratch_warehouse() as engine,
    ):
        url = engine.url.render_as_string(hide_password=False)
        big, small = Path(folder) / "big.zip", Path(folder) / "small.zip"
        write_export(big, args.rows)
        write_export(small, args.small)
        export_mb = round(big.stat().st_size / 1e6, 1)
        small_run = run_import(url, add_user(engine, "small@bench.test"), small)
        imports, copies, copy_cpus, python_copies = [], [], [], []
        for run in range(args.repeats):  # interleaved, so drift under load hits both alike
            user = add_user(engine, f"import{run}@bench.test")
            result = run_import(url, user, big, profile=args.profile if run == 0 else None)
            assert result["appended"] == args.rows, result
            imports.append(result)
            seconds, cpu = raw_copy(engine, user, add_user(engine, f"copy{run}@bench.test"))
            copies.append(seconds)
            copy_cpus.append(cpu or 0.0)
            b = run_import(url, add_user(engine, f"pycopy{run}@bench.test"), big, "--copy-child")
            python_copies.append(b["seconds"])
    import_rps = args.rows / statistics.median(r["seconds"] for r in imports)
    copy_rps = args.rows / statistics.median(copies)
    py_copy_rps = args.rows / statistics.median(python_copies)
    report.emit({
        "rows": args.rows, "export_zip_mb": export_mb,
        "import_s": spread([r["seconds"] for r in imports]), "raw_copy_s": spread(copies),
        "import_rows_per_s": round(import_rps), "raw_copy_rows_per_s": round(copy_rps),
        "ratio": round(import_rps / copy_rps, 3), "ratio_target": ">= 0.5",
        "python_copy_s": spread(python_copies), "python_copy_rows_per_s": round(py_copy_rps),
        "ratio_vs_python_copy": round(import_rps / py_copy_rps, 3),
        "import_cpu_s": spread([r["cpu_s"] for r in imports]),
        "import_server_cpu_s": spread([r["server_cpu_s"] or 0.0 for r in imports]),
        "raw_copy_server_cpu_s": spread(copy_cpus),
        "peak_rss_mb": {str(args.small): round(small_run["peak_rss_mb"], 1),
                        str(args.rows): round(max(r["peak_rss_mb"] for r in imports), 1)},
        "peak_rss_target_mb": "< 300",
    })  # fmt: skip


if __name__ == "__main__":
    main()
