"""Pausing the cyclic garbage collector around decoding: always resumed, never turned on by us."""

from __future__ import annotations

import gc
import threading

import pytest

from blendify_assets.core.collector import collector_paused


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
