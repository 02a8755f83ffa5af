"""Recently-played polling: plays lost and requests per play, adaptive polls against the fixed 30 minutes.

A simulated day on a virtual clock for `--users` Spotify users (default 1,000) listening as people
do: 20 % active (one session of 2-6 h every day at ~16 plays an hour), 30 % occasional (a session
of 15-60 min on 40 % of days), 50 % idle (nothing). Two pollers read the same simulator over HTTP
with Blendify's own client and `recently_played` fetch (one request per poll, `after` the newest
play each poller holds):

- fixed: today's cadence before issue 18, everyone every 30 minutes;
- adaptive: the schedule's 15-minute tick polls the users whose planned poll is due, the plan
  coming from `core/polling.plan_next`, the function the sync's writer calls for every poll (the
  schedule's `poll_schedule.due` is the same `next_poll_at <= tick` test, in SQL). It starts
  `--warmup-days` (default 2) earlier, as a running deployment would be, and is measured on the
  same day as fixed.

Prints one JSON line: for each poller requests, plays captured, plays lost (fell out of Spotify's
50-play window before a poll saw them) and pending (still in the window at the day's end), per
1,000 users per day; requests per captured play; and `requests_per_play_ratio` = adaptive ÷ fixed
(target ≤ 0.5) with `plays_lost_per_1000_users_day` for adaptive (target 0).

Run: python benchmarks/polling_budget.py [--users 1000] [--warmup-days 2] [--seed 11]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from _measure import Report

from blendify_assets.core.fetch import SyncState
from blendify_assets.core.polling import PollPlan, plan_next
from blendify_assets.providers.spotify.auth import SpotifyApp, tokens_from_response
from blendify_assets.providers.spotify.client import SpotifyClient, spotify_http
from blendify_assets.providers.spotify.endpoints import recently_played
from blendify_assets.providers.tokens import InMemoryTokenSource
from blendify_assets.simulator import Simulator, SimulatorConfig
from blendify_assets.simulator.config import UserProfile

START = datetime(2026, 9, 1, tzinfo=UTC)
TICK = timedelta(minutes=15)  # the adaptive schedule's cron (7-59/15): every 15 minutes
FIXED = timedelta(minutes=30)  # the fixed cadence it replaces
WINDOW = 50  # plays Spotify keeps


def mix(users: int, seed: int) -> tuple[UserProfile, ...]:
    """20 % active, 30 % occasional, 50 % idle, shuffled (seeded)."""
    active = UserProfile.tiny(
        name="active",
        spotify=True,
        apple=False,
        plays_per_hour=16.0,
        session_hours=(2.0, 6.0),
        listening_days=1.0,
    )
    occasional = UserProfile.tiny(
        name="occasional",
        spotify=True,
        apple=False,
        plays_per_hour=14.0,
        session_hours=(0.25, 1.0),
        listening_days=0.4,
    )
    idle = UserProfile.tiny(
        name="idle",
        spotify=True,
        apple=False,
        plays_per_hour=0.05,
        session_hours=(1.0, 1.0),
        listening_days=0.0,
    )
    n_active, n_occasional = users * 20 // 100, users * 30 // 100
    profiles = [active] * n_active + [occasional] * n_occasional + [idle] * (users - n_active - n_occasional)
    random.Random(seed).shuffle(profiles)
    return tuple(profiles)


def serve(config: SimulatorConfig, conn: Connection) -> None:
    """Child process: the simulator, like a remote API. Answers ("advance", ms), ("plays",), ("stop",)."""
    with Simulator.running(config) as sim:
        users = sim.world.spotify_users
        conn.send(
            {
                "api_url": sim.spotify_api_url,
                "accounts_url": sim.spotify_accounts_url,
                "users": [(u.uid, u.profile.name, sim.spotify.issue_tokens(u.uid)) for u in users],
            }
        )
        while True:
            command = conn.recv()
            if command[0] == "advance":
                sim.world.advance_to(command[1])
                conn.send(None)
            elif command[0] == "plays":
                with sim.world.lock:
                    conn.send({u.uid: [ms for ms, _, _ in u.spotify.plays] for u in users if u.spotify})
            else:
                return


@dataclass
class Poller:
    """One polling strategy's view: per user its cursor, the plays it captured and its requests."""

    name: str
    due: Callable[[str, datetime], bool]
    cursor: dict[str, datetime | None] = field(default_factory=dict)
    captured: dict[str, set[int]] = field(default_factory=dict)
    plans: dict[str, PollPlan] = field(default_factory=dict)
    requests: dict[datetime, int] = field(default_factory=dict)  # per tick
    late: dict[datetime, int] = field(default_factory=dict)  # polls that came back full, per tick


async def poll(poller: Poller, clients: dict[str, SpotifyClient], users: list[str], now: datetime) -> None:
    async def one(uid: str) -> None:
        fetch = await recently_played(clients[uid], SyncState(last_played_at=poller.cursor.get(uid)))
        poller.requests[now] = poller.requests.get(now, 0) + fetch.stats.requests
        events = fetch.events or []
        poller.captured.setdefault(uid, set()).update(int(e["played_at"].timestamp() * 1000) for e in events)
        if events:
            poller.cursor[uid] = max(e["played_at"] for e in events)
        if fetch.poll is not None:
            poller.late[now] = poller.late.get(now, 0) + fetch.poll.full_page
            poller.plans[uid] = plan_next(poller.plans.get(uid), fetch.poll, now)  # the writer's call

    await asyncio.gather(*(one(uid) for uid in users))


def summary(
    poller: Poller, truth: dict[str, list[int]], day: tuple[datetime, datetime], users: int
) -> dict[str, Any]:
    low, high = (int(d.timestamp() * 1000) for d in day)
    played = captured = lost = pending = 0
    for uid, plays in truth.items():
        visible = set(plays[-WINDOW:])
        got = poller.captured.get(uid, set())
        for ms in plays:
            if low <= ms < high:
                played += 1
                if ms in got:
                    captured += 1
                elif ms in visible:
                    pending += 1
                else:
                    lost += 1
    requests = sum(n for t, n in poller.requests.items() if day[0] <= t < day[1])
    per_1000 = 1000 / users
    return {
        "requests": requests,
        "requests_per_1000_users_day": round(requests * per_1000),
        "plays": played,
        "captured": captured,
        "pending": pending,
        "lost": lost,
        "plays_lost_per_1000_users_day": round(lost * per_1000, 1),
        "requests_per_play": round(requests / captured, 3) if captured else None,
        "late_polls": sum(n for t, n in poller.late.items() if day[0] <= t < day[1]),
    }


async def run(users: int, warmup_days: int, seed: int, concurrency: int) -> dict[str, Any]:
    config = SimulatorConfig(
        users=users, seed=seed, profiles=mix(users, seed), catalog_tracks=3_000, start_time=START,
        access_token_lifetime=10**8, refresh_token_lifetime_days=3650,
    )  # fmt: skip
    for profile in config.profiles:
        assert not isinstance(profile, str)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(config, child), daemon=True)
    server.start()
    try:
        sim = parent.recv()
        http = spotify_http(concurrency=concurrency)
        app = SpotifyApp(client_id="blendify-bench", accounts_url=sim["accounts_url"])
        clients, kinds = {}, {}
        for uid, kind, tokens in sim["users"]:
            source = InMemoryTokenSource(tokens_from_response(tokens, previous_refresh=None, now=START))
            clients[uid] = SpotifyClient(source, app, api_url=sim["api_url"], http=http)
            kinds[uid] = kind
        ids = list(clients)
        adaptive = Poller(
            "adaptive", lambda uid, now: uid not in adaptive.plans or adaptive.plans[uid].next_poll_at <= now
        )
        fixed = Poller("fixed", lambda uid, now: True)
        day_start = START + timedelta(days=warmup_days)
        day = (day_start, day_start + timedelta(days=1))
        now = START
        seconds = {"advance": 0.0, "adaptive": 0.0, "fixed": 0.0}
        while now < day[1]:
            clock = time.perf_counter()
            parent.send(("advance", int(now.timestamp() * 1000)))
            parent.recv()
            seconds["advance"] += time.perf_counter() - clock
            clock = time.perf_counter()
            await poll(adaptive, clients, [u for u in ids if adaptive.due(u, now)], now)
            seconds["adaptive"] += time.perf_counter() - clock
            if now >= day_start and (now - day_start) % FIXED == timedelta(0):
                clock = time.perf_counter()
                await poll(fixed, clients, ids, now)
                seconds["fixed"] += time.perf_counter() - clock
            now += TICK
        parent.send(("advance", int(day[1].timestamp() * 1000)))
        parent.recv()
        parent.send(("plays",))
        truth = parent.recv()
        await http.aclose()
    finally:
        parent.send(("stop",))
        server.join(timeout=30)
    results = {p.name: summary(p, truth, day, users) for p in (adaptive, fixed)}
    # The warm-up, where the adaptive poller starts cold (its first poll's rate comes from history).
    warm = summary(adaptive, truth, (START, day_start), users)
    warmup = {k: warm[k] for k in ("requests", "plays", "lost", "late_polls")}
    by_kind = {}
    for kind in sorted(set(kinds.values())):
        members = {u: truth[u] for u in ids if kinds[u] == kind}
        part = Poller(kind, adaptive.due, captured=adaptive.captured)
        line = summary(part, members, day, len(members))
        by_kind[kind] = {k: line[k] for k in ("plays", "captured", "pending", "lost")} | {
            "users": len(members)
        }
    ratio = (
        results["adaptive"]["requests_per_play"] / results["fixed"]["requests_per_play"]
        if results["adaptive"]["requests_per_play"] and results["fixed"]["requests_per_play"]
        else None
    )
    return {
        "users": users,
        "warmup_days": warmup_days,
        "plays_lost_per_1000_users_day": results["adaptive"]["plays_lost_per_1000_users_day"],
        "requests_per_play_ratio": round(ratio, 3) if ratio is not None else None,
        "request_ratio": round(results["adaptive"]["requests"] / max(1, results["fixed"]["requests"]), 3),
        "adaptive": results["adaptive"],
        "fixed": results["fixed"],
        "adaptive_by_kind": by_kind,
        "adaptive_warmup": warmup,
        "wall_s_by_phase": {k: round(v, 1) for k, v in seconds.items()},
        "targets": {"plays_lost_per_1000_users_day": 0, "requests_per_play_ratio": "<= 0.5"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # one seeded run: no repeats
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--warmup-days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    report = Report("polling_budget", 1)
    report.emit(asyncio.run(run(args.users, args.warmup_days, args.seed, args.concurrency)))


if __name__ == "__main__":
    main()
