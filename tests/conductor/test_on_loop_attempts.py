"""Calls run as event-loop attempts (core/on_loop.py), on a real conductor: an attempt does
nothing it cannot take back and holds its thread only briefly; what it may not do stops it
(``Moved``) before it acts, and leaves no trace.
"""

from __future__ import annotations

import threading
import time

import pytest

from conftest import AppHandle
from zomehost.conductor.combining import FAST_S, Combiner
from zomehost.core import blocking, on_loop
from zomehost.errors import Timeout
from zomehost.ribosome.engine import HOST_FUNCTIONS


def test_loop_safe_names_only_host_functions() -> None:
    """LOOP_SAFE is an allow-list of the ABI's host functions: a misspelt name would
    silently send that function's callers to workers."""
    assert set(HOST_FUNCTIONS) >= on_loop.LOOP_SAFE


def test_outside_an_attempt_nothing_is_refused() -> None:
    on_loop.refuse("a wait")  # no attempt on this thread: a no-op
    with blocking.waiting():
        pass
    assert on_loop.current() is None


def test_an_attempt_refuses_a_wait_and_keeps_the_first_reason() -> None:
    with on_loop.attempt() as attempt:
        with pytest.raises(on_loop.Moved), blocking.waiting():
            pytest.fail("the wait ran during an attempt")
        with pytest.raises(on_loop.Moved):
            on_loop.refuse("something else", late=True)
    assert attempt.moved and attempt.why == "a wait" and not attempt.late
    assert on_loop.current() is None  # over with the block


def test_an_attempt_is_this_threads_own() -> None:
    seen: list[object] = []
    with on_loop.attempt():
        t = threading.Thread(target=lambda: seen.append(on_loop.current()))
        t.start()
        t.join()
    assert seen == [None]


@pytest.mark.parametrize(
    ("fn", "payload", "host_fn"),
    [
        ("create_entry", {"value": "no"}, "create"),
        ("signal", {"n": 1}, "emit_signal"),
        ("log", "hello", "trace"),
        ("new_secret", None, None),  # loop-safe: runs to its end
    ],
)
def test_an_attempt_stops_before_what_the_loop_may_not_do(
    alice: AppHandle, fn: str, payload: object, host_fn: str | None
) -> None:
    conductor = alice.node.conductor
    cell = conductor.cell(alice.cell_id())
    head = cell.chain.head()
    outcomes: list[str] = []
    stop = conductor.add_call_listener(lambda call, outcome: outcomes.append(outcome))
    try:
        with on_loop.attempt() as attempt:
            if host_fn is None:
                assert alice.call("a", fn, payload) is not None
            else:
                with pytest.raises(on_loop.Moved):
                    alice.call("a", fn, payload)
    finally:
        stop()
    if host_fn is None:
        assert not attempt.moved and outcomes == ["Ok"]
    else:
        assert attempt.why == f"host function {host_fn}" and not attempt.late
        assert outcomes == []  # not an outcome: the call runs again elsewhere
    assert cell.chain.head() == head  # nothing written


def test_an_attempt_that_runs_long_stops_within_two_ticks(alice: AppHandle) -> None:
    t0 = time.monotonic()
    with on_loop.attempt() as attempt, pytest.raises(on_loop.Moved):
        alice.call("a", "spin", None, timeout_ms=5_000)
    took = time.monotonic() - t0
    assert attempt.late and "running past" in (attempt.why or "")
    assert took < 1.0, f"the attempt held its thread {took:.3f} s (its own limit: 5 s)"
    # outside an attempt the call's own deadline holds, and its error is its own
    with pytest.raises(Timeout):
        alice.call("a", "spin", None, timeout_ms=300)


def test_a_long_query_stops_in_time_on_the_loop(alice: AppHandle) -> None:
    """A host function is not interrupted by the engine: a query that reads a long chain
    checks the attempt's budget as it goes."""
    for _ in range(8):
        alice.call("a", "create_relaxed_batch", 1000)
    t0 = time.monotonic()
    assert len(alice.call("a", "query_chain", None)) > 8000
    alone = time.monotonic() - t0
    assert alone > 0.1, f"the query is too quick ({alone:.3f} s) to show anything"
    t0 = time.monotonic()
    with on_loop.attempt() as attempt, pytest.raises(on_loop.Moved):
        alice.call("a", "query_chain", None)
    took = time.monotonic() - t0
    assert attempt.late and attempt.why == f"a query running past {on_loop.BUDGET_S} s"
    assert took < alone / 2, f"held {took:.3f} s (the query alone {alone:.3f} s)"


def _combiner() -> Combiner[str, tuple[str, bool]]:
    def run(item: str) -> tuple[str, bool]:
        if item == "slow":
            t = time.thread_time()
            while time.thread_time() - t < FAST_S * 2:
                pass
        return item, item == "write"

    return Combiner(run, lambda results: [None] * len(results), lambda r: r[1])


def test_only_fast_reads_seen_before_run_on_the_loop() -> None:
    c = _combiner()
    assert not c.runs_on_loop("read")  # never seen
    c.run("read", "read")
    assert c.runs_on_loop("read")
    c.run("write", "write")
    assert not c.runs_on_loop("write")  # its last run wrote
    c.run("slow", "slow")
    assert not c.runs_on_loop("slow")  # more CPU than FAST_S


def test_an_attempt_never_joins_a_cells_line() -> None:
    """A call sent to the loop as a read whose function meanwhile wrote again (another
    caller's run) is combinable by the time it reaches its cell: it moves before it waits in
    the line or takes the combiner's place, and the line works on for everyone else."""
    c = _combiner()
    c.run("write", "write")  # learnt: it writes, fast
    with on_loop.attempt() as attempt, pytest.raises(on_loop.Moved):
        c.run("write", "write")
    assert attempt.why == "a write its cell combines"
    assert not c._combining and not c._line  # nothing left taken or waiting
    t0 = time.perf_counter()
    for _ in range(40):
        assert c.run("write", "write") == ("write", True)
    assert time.perf_counter() - t0 < 0.1  # not WAIT_S (5 ms) per call behind a stuck combiner


def test_a_host_function_input_past_max_bytes_moves(alice: AppHandle) -> None:
    small = b"s" * 1000
    with on_loop.attempt() as attempt:
        assert len(alice.call("a", "sign_data", small)) == 64
    assert not attempt.moved
    with on_loop.attempt() as attempt, pytest.raises(on_loop.Moved):
        alice.call("a", "sign_data", b"b" * (on_loop.MAX_BYTES + 1))
    assert attempt.why is not None and attempt.why.startswith("host function sign with ")
