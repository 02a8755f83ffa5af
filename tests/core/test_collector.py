"""Pausing the cyclic garbage collector around decoding: always resumed, never turned on by us."""

from __future__ import annotations

import gc
import threading

import pytest

from blendify_assets.core.collector import collector_paused, fewer_collections


@pytest.fixture(autouse=True)
def _collector_on():
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_resumed_after_even_on_error() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("bad page")
    assert gc.isenabled()


def test_nested_and_concurrent_uses_resume_only_when_the_last_one_leaves() -> None:
    inside, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert inside.wait(5)
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread is still decoding
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_fewer_collections_while_held_and_the_found_threshold_back_after_the_last_one() -> None:
    before = gc.get_threshold()
    with fewer_collections(50_000):
        assert gc.get_threshold()[0] == max(50_000, before[0])
        with fewer_collections(50_000):
            pass
        assert gc.get_threshold()[0] == max(50_000, before[0]), "the inner one left the outer one's setting"
    assert gc.get_threshold() == before
    with pytest.raises(ValueError), fewer_collections():
        raise ValueError("bad export")
    assert gc.get_threshold() == before
