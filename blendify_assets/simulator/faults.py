"""Faults on demand: per route or everywhere, a fixed number of times or with a seeded probability.

Routes are matched against the API path below the provider base ("/me/tracks",
"/v1/me/library/songs", "/api/token") and the full request path: a pattern with glob characters
(`*?[`) is a glob, anything else a substring; "*" matches everything. `latency` delays and lets the
request go on; every other kind answers in place of the API. `malformed_items` answers 200 with a
well-formed list whose items are not in the documented shape (Apple: bare {id, type} identifiers,
as Apple relates resources it was not asked to include; Spotify: objects without their track). `rate_limit_window` adds Spotify's
rolling-window limit: more than `max_requests` in `window_seconds` gives 429.

`method` limits a fault to one HTTP method (e.g. only the POSTs of a publish). `after=True` (http_5xx
and timeout only) lets the request reach the API first, so its write takes effect, and then answers
with the fault: the response is lost, as when a gateway fails after the service committed. This
is how a client's retry can create a second playlist or add the same items twice.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

KINDS = ("latency", "rate_limit", "quota_exceeded", "http_500", "http_502", "http_503", "timeout",
         "malformed_json", "malformed_items", "revoke_token")  # fmt: skip


def route_matches(pattern: str, api_path: str, full_path: str) -> bool:
    if pattern in ("*", ""):
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(api_path, pattern) or fnmatch.fnmatchcase(full_path, pattern)
    return pattern in api_path or pattern in full_path


@dataclass
class Fault:
    """One fault rule; `hits` counts how often it fired."""

    route: str
    kind: str
    count: int | None = None  # fire this many times, then stop (None: no limit)
    probability: float | None = None  # fire with this seeded probability (None: always)
    ms: int | None = None  # latency
    retry_after: float | None = None  # rate_limit (Spotify Retry-After seconds), quota_exceeded (optional)
    seconds: float | None = None  # timeout: how long to hang
    provider: str | None = None  # "spotify", "spotify-accounts", "apple" or None for any
    method: str | None = None  # only requests of this HTTP method (None: any)
    after: bool = False  # apply the request, then answer with the fault (http_5xx, timeout)
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count


@dataclass
class RateWindow:
    """A rolling-window rate limit (Spotify counts calls in a rolling 30-second window)."""

    max_requests: int
    window_seconds: float = 30.0
    route: str = "*"
    retry_after: float | None = None  # None: the seconds until the window frees a slot
    provider: str | None = None
    hits: int = 0
    _times: deque[float] = field(default_factory=deque)


@dataclass
class Decision:
    latency_ms: int = 0
    fault: Fault | None = None
    retry_after: float | None = None


class Faults:
    """The fault switchboard (`sim.faults`). Thread-safe; seeded so runs repeat."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"{seed}:faults")
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._windows: list[RateWindow] = []

    def add(self, route: str, kind: str, *, count: int | None = None, probability: float | None = None,
            ms: int | None = None, retry_after: float | None = None, seconds: float | None = None,
            provider: str | None = None, method: str | None = None, after: bool = False) -> Fault:  # fmt: skip
        """Add a fault; e.g. add("/me/tracks", "http_500", count=2) or add("*", "latency", ms=50);
        add("/playlists/*/items", "http_502", method="POST", after=True, count=1) loses one response."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(KINDS)}")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if kind == "latency" and ms is None:
            raise ValueError("a latency fault needs ms=")
        if after and not (kind.startswith("http_") or kind == "timeout"):
            raise ValueError("after=True needs an http_5xx or timeout fault")
        fault = Fault(route, kind, count, probability, ms, retry_after, seconds, provider,
                      method.upper() if method else None, after)  # fmt: skip
        with self._lock:
            self._faults.append(fault)
        return fault

    def rate_limit_window(self, max_requests: int, *, window_seconds: float = 30.0, route: str = "*",
                          retry_after: float | None = None, provider: str | None = None) -> RateWindow:  # fmt: skip
        window = RateWindow(max_requests, window_seconds, route, retry_after, provider)
        with self._lock:
            self._windows.append(window)
        return window

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._windows.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def decide(self, api_path: str, full_path: str, provider: str, method: str | None = None) -> Decision:
        """What happens to this request. Latency adds up; the first firing terminal fault wins."""
        decision = Decision()
        if not self._faults and not self._windows:
            return decision
        now = time.monotonic()
        with self._lock:
            for w in self._windows:
                if (w.provider and w.provider != provider) or not route_matches(w.route, api_path, full_path):
                    continue
                while w._times and now - w._times[0] >= w.window_seconds:
                    w._times.popleft()
                if len(w._times) >= w.max_requests:
                    w.hits += 1
                    wait = (
                        w.retry_after if w.retry_after is not None else w.window_seconds - (now - w._times[0])
                    )
                    decision.fault = Fault(
                        w.route, "rate_limit", provider=w.provider, retry_after=max(1.0, wait)
                    )
                    return decision
                w._times.append(now)
            for f in self._faults:
                if (
                    f.exhausted
                    or (f.provider and f.provider != provider)
                    or (f.method and f.method != method)
                ):
                    continue
                if not route_matches(f.route, api_path, full_path):
                    continue
                if f.probability is not None and self._rng.random() >= f.probability:
                    continue
                f.hits += 1
                if f.kind == "latency":
                    decision.latency_ms += int(f.ms or 0)
                    continue
                decision.fault = f
                return decision
        return decision
