"""The chain lock (conductor/chain_lock.py): commits share it, a bridge call holds it
alone, a waiting bridge call goes before later commits, and its holder may re-enter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from zomehost.conductor.chain_lock import ChainLock


def in_thread(fn: Callable[[], bool]) -> list[bool]:
    """Run ``fn`` on another thread, wait for it; its result in a one-item list."""
    out: list[bool] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(timeout=10)
    assert not t.is_alive()
    return out


def test_commits_hold_it_together() -> None:
    lock = ChainLock()
    assert lock.acquire(0, shared=True)
    assert in_thread(lambda: lock.acquire(0, shared=True)) == [True]


def test_a_bridge_call_waits_for_the_commits_in_flight() -> None:
    lock = ChainLock()
    assert lock.acquire(0, shared=True)
    assert in_thread(lambda: lock.acquire(0.05)) == [False]
    lock.release()
    assert in_thread(lambda: lock.acquire(0)) == [True]


def test_no_commit_while_a_bridge_call_holds_it() -> None:
    lock = ChainLock()
    assert lock.acquire(0)
    assert in_thread(lambda: lock.acquire(0.05, shared=True)) == [False]
    lock.release()
    assert in_thread(lambda: lock.acquire(0, shared=True)) == [True]


def test_a_waiting_bridge_call_goes_before_later_commits() -> None:
    lock = ChainLock()
    assert lock.acquire(0, shared=True)  # a commit in flight
    got: list[bool] = []
    bridge = threading.Thread(target=lambda: got.append(lock.acquire(5)))
    bridge.start()
    while not lock._waiting:  # the bridge call is waiting
        time.sleep(0.001)
    assert in_thread(lambda: lock.acquire(0.05, shared=True)) == [False]
    lock.release()  # the commit in flight ends: the bridge call has it
    bridge.join(timeout=10)
    assert got == [True]


def test_a_bridge_call_that_gave_up_lets_the_commits_it_held_back_go_on() -> None:
    lock = ChainLock()
    assert lock.acquire(0, shared=True)
    later: list[bool] = []

    def commit_behind_the_bridge() -> None:
        while not lock._waiting:
            time.sleep(0.001)
        later.append(lock.acquire(5, shared=True))

    t = threading.Thread(target=commit_behind_the_bridge)
    t.start()
    assert in_thread(lambda: lock.acquire(0.2)) == [False]
    t.join(timeout=10)
    assert later == [True]


def test_the_holder_re_enters_and_releases_in_turn() -> None:
    lock = ChainLock()
    assert lock.acquire(0)
    assert lock.acquire(0) and lock.acquire(0, shared=True)  # its call tree comes back
    lock.release()
    lock.release()
    assert in_thread(lambda: lock.acquire(0, shared=True)) == [False]
    lock.release()
    assert in_thread(lambda: lock.acquire(0, shared=True)) == [True]


def test_releasing_a_lock_not_held_is_refused() -> None:
    with pytest.raises(RuntimeError):
        ChainLock().release()
