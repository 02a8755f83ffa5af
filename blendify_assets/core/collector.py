"""Pausing Python's cyclic garbage collector, or slowing it, around bursts of allocation that make
no cycles.

Decoding one 130 KB response page builds ~50,000 dicts, lists and strings. With the collector on,
those allocations trigger dozens of young collections per page, and as decoded pages pile up
(they are kept until written) the older generations are walked again and again: on the
heavy-user sync benchmark that was about a third of the client's CPU (issue 17). A JSON document
holds no reference cycles, so pausing the collector while it is decoded loses nothing: reference
counting frees what the decoder drops, and the next collection sees the page once.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_resume = False  # whether the last holder out turns the collector back on


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic collector off for the block; only around code that makes no cycles and
    does not wait (a decode, not an `await`). Nested and concurrent uses (threads) are counted: the
    last one out turns the collector back on, and only if it was on when the first one came in."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()


_slow_lock = threading.Lock()
_slow_holders = 0
_saved_threshold: tuple[int, ...] = ()


@contextmanager
def fewer_collections(threshold: int = 50_000) -> Iterator[None]:
    """Young-generation collections every `threshold` allocations instead of Python's 700, for
    long work that keeps many acyclic objects alive a while (a history import's records until
    their COPY: the default scans them again and again, ~20 % of its CPU). Counted like
    `collector_paused`: the last one out restores the threshold it found."""
    global _slow_holders, _saved_threshold
    with _slow_lock:
        if _slow_holders == 0:
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(max(threshold, _saved_threshold[0]), *_saved_threshold[1:])
        _slow_holders += 1
    try:
        yield
    finally:
        with _slow_lock:
            _slow_holders -= 1
            if _slow_holders == 0:
                gc.set_threshold(*_saved_threshold)
