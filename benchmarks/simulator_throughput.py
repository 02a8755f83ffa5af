"""Requests per second the simulator serves on one core, over real HTTP on 127.0.0.1.

The server runs in a child process pinned to one CPU (os.sched_setaffinity); the load comes from
this process (pinned to another CPU when there is one) over keep-alive connections with a minimal
asyncio HTTP/1.1 client, bounded by request count and time. The baseline is the simulator's own
/_simulator/health route on the same server, so `ratio_vs_baseline` says how much a 50-item page
costs compared with the cheapest possible answer. Prints ONE JSON line: requests/s per case, median
and range over `--repeats`, with the load average and this process's CPU seconds (the server's are
`cpu_children_s`).

    python benchmarks/simulator_throughput.py [--requests 6000] [--seconds 8] [--connections 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from urllib.parse import urlsplit

from _measure import Report, add_options, spread


def _serve(conn: object, cpu: int) -> None:
    """Child process: pin, start the simulator, hand back URLs and tokens, wait to be told to stop."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    from blendify_assets.simulator import Simulator, SimulatorConfig

    sim = Simulator(SimulatorConfig(users=4, seed=7, profiles=("heavy",), profile_mix="light")).start()
    spotify_uid = sim.world.users[0].uid
    apple_uid = next(u.uid for u in sim.world.users if u.on_apple)
    conn.send({  # type: ignore[attr-defined]
        "base": sim.base_url, "spotify": sim.spotify_api_url, "apple": sim.apple_music_api_url,
        "token": sim.spotify.issue_tokens(spotify_uid, expires_in=86400)["access_token"],
        "developer": sim.apple.developer_token(), "mut": sim.apple.issue_user_token(apple_uid),
    })  # fmt: skip
    conn.recv()  # type: ignore[attr-defined]
    sim.stop()


async def _worker(
    host: str, port: int, request: bytes, deadline: float, budget: list[int], stats: dict
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                stats["errors"] += 1
            stats["bytes"] += len(body)
            stats["done"] += 1
    finally:
        writer.close()


async def _load(url: str, headers: dict[str, str], requests: int, seconds: float, connections: int) -> dict:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    stats = {"done": 0, "errors": 0, "bytes": 0}
    budget = [requests]
    started = time.perf_counter()
    await asyncio.gather(*(_worker(parts.hostname or "127.0.0.1", parts.port or 80, request, started + seconds,
                                   budget, stats) for _ in range(connections)))  # fmt: skip
    elapsed = time.perf_counter() - started
    return {"rps": round(stats["done"] / elapsed, 1), "requests": stats["done"], "errors": stats["errors"],
            "seconds": round(elapsed, 2), "bytes_per_response": stats["bytes"] // max(1, stats["done"])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    args = add_options(parser).parse_args()
    report = Report("simulator_throughput", args.repeats)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    server_cpu, client_cpus = cpus[0], set(cpus[1:]) or {cpus[0]}
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, server_cpu), daemon=True)
    proc.start()
    try:
        info = parent.recv()
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, client_cpus)
        spotify = {"Authorization": f"Bearer {info['token']}"}
        apple = {"Authorization": f"Bearer {info['developer']}", "Music-User-Token": info["mut"]}
        cases = {
            "baseline_health": (f"{info['base']}/_simulator/health", {}),
            "spotify_saved_tracks_50": (f"{info['spotify']}/me/tracks?limit=50&offset=100", spotify),
            "spotify_playlist_items_50": (None, spotify),
            "spotify_recently_played_50": (f"{info['spotify']}/me/player/recently-played?limit=50", spotify),
            "apple_library_songs_100": (f"{info['apple']}/v1/me/library/songs?limit=100", apple),
        }
        import httpx

        first = httpx.get(f"{info['spotify']}/me/playlists?limit=50", headers=spotify).json()["items"]
        owned = max((p for p in first if p["items"]["total"] >= 50), key=lambda p: p["items"]["total"])
        cases["spotify_playlist_items_50"] = (
            f"{info['spotify']}/playlists/{owned['id']}/items?limit=50",
            spotify,
        )
        runs: dict[str, list[dict]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (url, headers) in cases.items():
                asyncio.run(_load(url, headers, 300, 2.0, args.connections))  # warm caches and connections
                runs[name].append(
                    asyncio.run(_load(url, headers, args.requests, args.seconds, args.connections))
                )
        rps = {name: [r["rps"] for r in found] for name, found in runs.items()}
        headline = spread(rps["spotify_saved_tracks_50"], 1)
        report.emit({
            "server_cpus": 1, "server_cpu": server_cpu,
            "client_cpus": sorted(client_cpus), "connections": args.connections,
            "rps_50_item_page": headline, "target_rps": 1000, "meets_target": headline["median"] >= 1000,
            "ratio_vs_baseline": spread(
                [a / b for a, b in zip(rps["spotify_saved_tracks_50"], rps["baseline_health"], strict=True)]
            ),
            "python": sys.version.split()[0],
            "cases": {name: {"rps": spread(rps[name], 1), "errors": sum(r["errors"] for r in runs[name]),
                             "bytes_per_response": runs[name][0]["bytes_per_response"]} for name in runs},
        })  # fmt: skip
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


if __name__ == "__main__":
    main()
