"""Call combining (conductor/combining.py), driven with plain functions so each case is
exact: who runs a call, what one commit holds, and that no call waits long on another's.

A "call" here is a name; running it records the thread it ran on and may wait for the
test's go-ahead; a commit records the batch it got.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from zomehost.conductor import combining
from zomehost.conductor.combining import Combiner
from zomehost.core import blocking


class Calls:
    """Calls for a :class:`Combiner`: ``hold`` names wait for their event before they end."""

    def __init__(self) -> None:
        self.ran_on: dict[str, int] = {}
        self.commits: list[list[str]] = []
        self.hold: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}
        self.fail_run: set[str] = set()
        self.fail_commit: set[str] = set()
        self.reads: set[str] = set()  # calls that write nothing
        self.strict: set[str] = set()  # calls whose writes need the head they were made on
        self.commits_seen: dict[str, int] = {}  # commits begun when a call ran
        self.hold_commit: threading.Event | None = None
        self.stall: dict[str, float] = {}  # seconds a call waits unannounced (for the GIL)
        self.busy: dict[str, float] = {}  # seconds a call waits announced (a peer's answer)
        self.combiner: Combiner[str, str] = Combiner(
            self.run_call,
            self.commit,
            lambda result: result[:-1] not in self.reads,
            lambda result: result[:-1] in self.strict,
        )

    def run_call(self, name: str) -> str:
        self.ran_on[name] = threading.get_ident()
        self.commits_seen[name] = len(self.commits)
        self.started.setdefault(name, threading.Event()).set()
        if name in self.hold:  # a wait as host functions make them: announced
            with blocking.waiting():
                assert self.hold[name].wait(10)
        if name in self.stall:
            time.sleep(self.stall[name])
        if name in self.busy:
            with blocking.waiting():
                time.sleep(self.busy[name])
        if name in self.fail_run:
            raise ValueError(f"{name} failed")
        return f"{name}!"

    def commit(self, results: list[str]) -> list[BaseException | None]:
        self.commits.append(results)
        if self.hold_commit is not None:
            assert self.hold_commit.wait(10)
        return [KeyError(r) if r[:-1] in self.fail_commit else None for r in results]

    def learn(self, *keys: str) -> None:
        """Each function run once alone: known fast from then on (however long that run
        took on a busy machine: the tests of what counts as slow make their own runs)."""
        for k in keys:
            assert self.combiner.run(f"learn {k}", k) == f"learn {k}!"
            self.combiner._seconds[k] = 0.0
            self.combiner._slow.discard(k)
        self.commits.clear()

    def start(self, name: str, key: str) -> Caller:
        return Caller(self, name, key)

    def queued(self, n: int) -> None:
        """Wait until ``n`` calls wait in the line."""
        deadline = time.monotonic() + 10
        while len(self.combiner._line) < n:
            assert time.monotonic() < deadline
            time.sleep(0.001)


class Caller(threading.Thread):
    def __init__(self, calls: Calls, name: str, key: str) -> None:
        super().__init__(daemon=True)
        self.calls, self.call_name, self.key = calls, name, key
        self.result: str | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.calls.combiner.run(self.call_name, self.key)
        except BaseException as exc:
            self.error = exc

    def done(self) -> Caller:
        self.join(10)
        assert not self.is_alive()
        return self


@pytest.fixture(autouse=True)
def patient_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """WAIT_S long by default: on a busy machine a held call otherwise runs past 5 ms
    before the threads the test starts join its line, and they go on their own. Tests of
    the bound set it themselves (:func:`waits`). The same for a batch's running time and
    for what counts as fast or slow."""
    monkeypatch.setattr(combining, "WAIT_S", 30.0)
    monkeypatch.setattr(combining, "BATCH_BUDGET_S", 30.0)  # batches: by the calls in line
    # a call the test holds counts as fast: the tests of what is slow set these themselves
    monkeypatch.setattr(combining, "FAST_S", 30.0)
    monkeypatch.setattr(combining, "SLOW_S", 60.0)


@contextmanager
def waits(seconds: float) -> Iterator[None]:
    """A shorter :data:`WAIT_S` (the tests that need it hold a call far longer)."""
    before = combining.WAIT_S
    combining.WAIT_S = seconds
    try:
        yield
    finally:
        combining.WAIT_S = before


def lead_with(calls: Calls) -> Caller:
    """A combiner whose own call runs until the test releases it."""
    calls.hold["lead"] = threading.Event()
    leader = calls.start("lead", "f")
    assert calls.started.setdefault("lead", threading.Event()).wait(10)
    return leader


def beside_a_combiner(calls: Calls, *names_and_keys: tuple[str, str]) -> list[Caller]:
    """Each call started while a combiner's own call is held: they must all be done before
    it is released (none queued behind it), each on its own thread."""
    with waits(30):  # one left in line would hang the test
        leader = lead_with(calls)
        done = [calls.start(name, key).done() for name, key in names_and_keys]
        assert leader.is_alive() and not calls.combiner._line
        calls.hold["lead"].set()
        leader.done()
    for c in done:
        assert c.result == f"{c.call_name}!" and calls.ran_on[c.call_name] == c.ident
    return done


def release_when_queued(calls: Calls, n: int) -> None:
    calls.queued(n)
    calls.hold["lead"].set()


def test_calls_that_arrive_together_run_on_the_combiners_thread_and_commit_once() -> None:
    calls = Calls()
    calls.learn("f")
    leader = lead_with(calls)
    others = [calls.start(f"c{i}", "f") for i in range(3)]
    release_when_queued(calls, 3)
    assert leader.done().result == "lead!"
    for c in others:
        assert c.done().result == f"{c.call_name}!"
        assert calls.ran_on[c.call_name] == leader.ident  # run by the combiner
    assert sorted(calls.commits[0]) == sorted(["lead!", "c0!", "c1!", "c2!"])
    assert len(calls.commits) == 1


def test_a_call_alone_runs_on_its_own_thread() -> None:
    calls = Calls()
    c = calls.start("solo", "f").done()
    assert c.result == "solo!" and calls.ran_on["solo"] == c.ident
    assert calls.commits == [["solo!"]]


def test_slow_or_unknown_functions_run_on_their_own_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(combining, "FAST_S", 0.001)
    calls = Calls()
    calls.learn("f")
    calls.hold["learn slow"] = threading.Event()
    learning = calls.start("learn slow", "slow")
    time.sleep(combining.FAST_S * 3)
    calls.hold["learn slow"].set()
    learning.done()  # "slow" took longer than FAST_S
    beside_a_combiner(calls, ("s", "slow"), ("n", "never seen"))


def test_a_call_waits_in_line_at_most_wait_s_then_runs_on_its_own() -> None:
    calls = Calls()
    calls.learn("f")
    with waits(0.02):
        leader = lead_with(calls)  # its own call runs long
        c = calls.start("c", "f").done()
        assert leader.is_alive()  # still running when the waiting call is done
        calls.hold["lead"].set()
        leader.done()
    assert c.result == "c!" and calls.ran_on["c"] == c.ident


def test_a_call_that_ran_is_not_held_by_a_slow_call_after_it() -> None:
    """The combiner ran ``fast``, then took ``slow`` (known fast until now): ``fast`` is
    committed by its own thread and returns while ``slow`` still runs."""
    calls = Calls()
    calls.learn("f", "g")
    with waits(0.02):
        leader = lead_with(calls)
        fast = calls.start("fast", "f")
        calls.queued(1)
        calls.hold["slow"] = threading.Event()
        slow = calls.start("slow", "g")
        release_when_queued(calls, 2)
        assert calls.started.setdefault("slow", threading.Event()).wait(10)
        assert fast.done().result == "fast!"
        assert slow.is_alive() and leader.is_alive()
        calls.hold["slow"].set()
        assert slow.done().result == "slow!" and leader.done().result == "lead!"
    assert calls.ran_on["fast"] == calls.ran_on["slow"] == leader.ident
    assert ["fast!"] in calls.commits  # committed alone
    assert all("fast!" not in c or len(c) == 1 for c in calls.commits)  # and only once


def test_errors_stay_with_their_own_call() -> None:
    calls = Calls()
    calls.learn("f")
    calls.fail_run.add("bad run")
    calls.fail_commit.add("bad commit")
    leader = lead_with(calls)
    callers = [calls.start(n, "f") for n in ("bad run", "bad commit", "good")]
    release_when_queued(calls, 3)
    leader.done()
    bad_run, bad_commit, good = (c.done() for c in callers)
    assert isinstance(bad_run.error, ValueError)
    assert isinstance(bad_commit.error, KeyError)
    assert good.result == "good!" and good.error is None and leader.result == "lead!"
    assert all("bad run!" not in c for c in calls.commits)  # a call that raised commits nothing


def test_the_next_combiner_runs_while_a_batch_commits() -> None:
    """The combiner's place is handed on before the commit: calls that arrive meanwhile
    run while the first batch's commit (held here) is still under way."""
    calls = Calls()
    calls.learn("f")
    committing, go = threading.Event(), threading.Event()
    real = calls.commit

    def held(results: list[str]) -> list[BaseException | None]:
        if "first!" in results:
            committing.set()
            assert go.wait(10)
        return real(results)

    calls.combiner._commit = held
    first = calls.start("first", "f")
    assert committing.wait(10)
    second = calls.start("second", "f").done()
    assert second.result == "second!" and first.is_alive()
    go.set()
    assert first.done().result == "first!"


@pytest.mark.parametrize("threads", [2, 8])
def test_many_callers_each_get_their_own_outcome(threads: int) -> None:
    calls = Calls()
    calls.learn("f")
    results: dict[str, str] = {}

    def caller(t: int) -> None:
        for i in range(200):
            name = f"t{t}.{i}"
            results[name] = calls.combiner.run(name, "f")

    ts = [threading.Thread(target=caller, args=(t,)) for t in range(threads)]
    with waits(0.005):  # as in a conductor: a combiner expecting a caller who stopped
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
    assert results == {f"t{t}.{i}": f"t{t}.{i}!" for t in range(threads) for i in range(200)}
    committed = [r for c in calls.commits for r in c]
    assert sorted(committed) == sorted(results.values())  # each committed exactly once


def test_a_closed_batch_hands_the_combiners_place_to_the_oldest_waiting_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls()
    calls.learn("f")
    monkeypatch.setattr(combining, "MAX_BATCH", 2)
    with waits(30):  # a call left in line would hang the test
        leader = lead_with(calls)
        in_line = [calls.start(f"c{i}", "f") for i in range(3)]
        release_when_queued(calls, 3)
        for c in in_line:
            c.done()
        leader.done()
    c1 = in_line[1]
    assert calls.ran_on["c0"] == leader.ident  # the first batch: lead, c0
    assert calls.ran_on["c1"] == c1.ident  # c1 combines next, and takes c2
    assert calls.ran_on["c2"] == c1.ident
    assert len(calls.commits) == 2


def test_a_function_that_once_ran_long_is_never_taken_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(combining, "FAST_S", 0.001)
    monkeypatch.setattr(combining, "SLOW_S", 0.01)
    calls = Calls()
    calls.learn("f", "g")
    calls.hold["learn g"] = threading.Event()
    slow_once = calls.start("learn g", "g")
    time.sleep(combining.SLOW_S * 2)
    calls.hold["learn g"].set()
    slow_once.done()
    for i in range(50):  # fast again, many times: its running time is short once more
        assert calls.combiner.run(f"g{i}", "g") == f"g{i}!"
    beside_a_combiner(calls, ("g", "g"))


def test_while_the_combiners_call_runs_long_arriving_calls_do_not_queue() -> None:
    calls = Calls()
    calls.learn("f")
    with waits(0.5):
        leader = lead_with(calls)
        time.sleep(0.6)  # the combiner's own call has run longer than WAIT_S
        t0 = time.monotonic()
        c = calls.start("c", "f").done()
        assert time.monotonic() - t0 < 0.4  # it did not wait WAIT_S in line
        assert leader.is_alive()
        calls.hold["lead"].set()
        leader.done()
    assert c.result == "c!" and calls.ran_on["c"] == c.ident


def after_a_batch_of_four(calls: Calls) -> dict[str, int]:
    """A combiner that ran a batch of four; what the line held as each later call ran."""
    calls.learn("f")
    leader = lead_with(calls)
    first = [calls.start(f"a{i}", "f") for i in range(3)]
    release_when_queued(calls, 3)
    for c in [leader, *first]:
        c.done()
    calls.commits.clear()
    calls.combiner._last_batch = 4  # (a busy machine may have cut it: the tests need four)
    in_line_when_run: dict[str, int] = {}
    real = calls.run_call

    def run_call(name: str) -> str:
        in_line_when_run[name] = len(calls.combiner._line)
        return real(name)

    calls.combiner._run_call = run_call
    return in_line_when_run


def test_a_new_combiner_lets_the_callers_it_expects_queue_and_the_last_one_combines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first caller back waits for the three others its last batch had; the last of
    them runs all four at once (the first one is not woken to do it), the first first."""
    calls = Calls()
    in_line_when_run = after_a_batch_of_four(calls)
    monkeypatch.setattr(combining, "PRE_LINGER_S", 10.0)
    callers = []
    with waits(30):
        for i in range(4):  # they come back one by one
            callers.append(calls.start(f"b{i}", "f"))
            time.sleep(0.05)
        for c in callers:
            assert c.done().result == f"{c.call_name}!"
    assert in_line_when_run["b3"] == 3  # b3 combined, with the others in line
    assert in_line_when_run["b0"] == 2  # then the one that waited longest
    assert {calls.ran_on[f"b{i}"] for i in range(4)} == {callers[3].ident}
    assert calls.commits == [[f"b{i}!" for i in (3, 0, 1, 2)]]


def test_a_caller_after_the_linger_wakes_the_new_combiner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only two of the three expected come, the second after :data:`PRE_LINGER_S`: it
    wakes the first one back, which combines both."""
    calls = Calls()
    after_a_batch_of_four(calls)
    monkeypatch.setattr(combining, "PRE_LINGER_S", 0.05)
    with waits(30):  # the first one back would otherwise wait that long
        first = calls.start("b0", "f")
        time.sleep(0.2)
        t0 = time.monotonic()
        second = calls.start("b1", "f")
        assert first.done().result == "b0!" and second.done().result == "b1!"
        assert time.monotonic() - t0 < 10
    assert calls.ran_on["b0"] == calls.ran_on["b1"] == first.ident
    assert calls.commits == [["b0!", "b1!"]]


def test_a_new_combiner_nobody_joins_runs_after_wait_s(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls()
    after_a_batch_of_four(calls)
    monkeypatch.setattr(combining, "PRE_LINGER_S", 0.0)
    with waits(0.2):
        t0 = time.monotonic()
        alone = calls.start("b0", "f").done()
        took = time.monotonic() - t0
    assert alone.result == "b0!" and calls.ran_on["b0"] == alone.ident
    assert 0.2 <= took < 5  # it waited for the callers it expected, WAIT_S at most
    assert calls.commits == [["b0!"]]


def test_calls_that_write_nothing_never_wait_in_line() -> None:
    """A read has no commit to share: it runs on its own thread at once, even while a
    combiner runs (it never waits, nor wakes anyone)."""
    calls = Calls()
    calls.learn("f")
    calls.reads.add("learn r")
    calls.learn("r")  # its last run wrote nothing
    calls.reads.add("read")
    beside_a_combiner(calls, ("read", "r"))


def test_a_function_that_has_not_written_yet_runs_on_its_own() -> None:
    calls = Calls()
    calls.learn("f")
    beside_a_combiner(calls, ("new", "never seen"))


def test_a_call_whose_function_turned_slow_while_it_waited_is_handed_back() -> None:
    calls = Calls()
    calls.learn("f")
    with waits(30):
        leader = lead_with(calls)
        c = calls.start("c", "f")
        calls.queued(1)
        calls.combiner._slow.add("f")  # as if another call of it had just run long
        calls.hold["lead"].set()
        leader.done()
        c.done()
    assert c.result == "c!" and calls.ran_on["c"] == c.ident


def test_strict_writers_wait_for_the_commit_before_them_and_never_run_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A strict writer runs only once the commits before it landed: as the next combiner
    it waits for them (SETTLE_S), and in line it waits past WAIT_S while the combiner runs
    no call (run on its own beside the line, it would fail with HeadMoved)."""
    calls = Calls()
    calls.strict |= {"learn s", "s0", "s1", "s2"}
    calls.learn("s")
    monkeypatch.setattr(combining, "SETTLE_S", 10.0)
    calls.hold_commit = threading.Event()
    with waits(0.05):
        s0 = calls.start("s0", "s")
        while not calls.commits:  # s0 ran and its commit is held
            time.sleep(0.001)
        s1 = calls.start("s1", "s")  # the next combiner: it waits for s0's commit
        time.sleep(0.05)
        s2 = calls.start("s2", "s")  # in line behind s1
        time.sleep(0.3)  # far past WAIT_S
        assert "s1" not in calls.ran_on and "s2" not in calls.ran_on
        calls.hold_commit.set()
        for c in (s0, s1, s2):
            assert c.done().result == f"{c.call_name}!"
    assert calls.commits == [["s0!"], ["s1!"], ["s2!"]]
    assert calls.commits_seen["s1"] == 1 and calls.commits_seen["s2"] == 2


def test_a_strict_write_commits_first_and_the_next_strict_one_starts_a_batch() -> None:
    calls = Calls()
    calls.learn("f", "g")
    calls.strict.add("x")  # g's last run wrote relaxed; this one writes strictly
    leader = lead_with(calls)
    x = calls.start("x", "g")
    calls.queued(1)
    y = calls.start("y", "g")  # g writes strictly by the time it is reached
    release_when_queued(calls, 2)
    for c in (leader, x, y):
        assert c.done().result == f"{c.call_name}!"
    assert calls.commits == [["x!", "lead!"], ["y!"]]
    assert calls.ran_on["x"] == leader.ident and calls.ran_on["y"] == y.ident


def test_a_strict_writer_waits_in_line_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """However long the commits before it take (a stalled disk), a strict writer in line
    runs on its own after STRICT_WAIT_S: a wait, never a hang."""
    calls = Calls()
    calls.strict |= {"learn s", "s0", "s1", "s2"}
    calls.learn("s")
    monkeypatch.setattr(combining, "SETTLE_S", 10.0)
    monkeypatch.setattr(combining, "STRICT_WAIT_S", 0.2)
    calls.hold_commit = threading.Event()
    with waits(0.02):
        s0 = calls.start("s0", "s")
        while not calls.commits:
            time.sleep(0.001)
        s1 = calls.start("s1", "s")  # the next combiner, waiting for s0's commit
        time.sleep(0.05)
        s2 = calls.start("s2", "s")
        assert calls.started.setdefault("s2", threading.Event()).wait(5)  # on its own
        assert s2.ident == calls.ran_on["s2"] and "s1" not in calls.ran_on
        calls.hold_commit.set()
        for c in (s0, s1, s2):
            assert c.done().result == f"{c.call_name}!"


def test_no_call_is_taken_after_a_strict_one() -> None:
    """A call taken after a strict one could run long, and its own thread commit it alone
    meanwhile: the head the strict call ran on would move. So a strict call ends its batch."""
    calls = Calls()
    calls.strict |= {"learn s", "lead"}
    calls.learn("s", "f")
    calls.hold["lead"] = threading.Event()
    leader = calls.start("lead", "s")
    assert calls.started.setdefault("lead", threading.Event()).wait(10)
    c = calls.start("c", "f")
    release_when_queued(calls, 1)
    assert leader.done().result == "lead!" and c.done().result == "c!"
    assert calls.commits == [["lead!"], ["c!"]]
    assert calls.ran_on["c"] == c.ident  # it led the next batch


def test_a_slow_strict_function_still_takes_its_turn_in_line() -> None:
    """On its own thread beside the line a strict call would fail: a strict function goes
    through the line even when it is not fast enough to be combined (one slow run, say,
    while other threads held the GIL)."""
    calls = Calls()
    calls.strict |= {"learn s", "s0", "s1"}
    calls.learn("s")
    calls.combiner._slow.add("s")
    with waits(30):
        calls.hold["s0"] = threading.Event()
        s0 = calls.start("s0", "s")
        assert calls.started.setdefault("s0", threading.Event()).wait(10)
        s1 = calls.start("s1", "s")
        calls.queued(1)  # in line, not on its own
        calls.hold["s0"].set()
        assert s0.done().result == "s0!" and s1.done().result == "s1!"
    assert calls.commits == [["s0!"], ["s1!"]]
    assert calls.commits_seen["s1"] == 1  # it ran once s0's commit had landed


def test_a_callers_signal_times_out_until_set_then_stays_set() -> None:
    signal = combining._Signal()
    t0 = time.monotonic()
    assert not signal.wait(0.05)
    assert time.monotonic() - t0 >= 0.05
    threading.Timer(0.05, signal.set).start()
    assert signal.wait(10)  # woken by the set, not by its timeout
    assert signal.wait(0) and signal.wait(0)  # a caller may look again


def strict_leader(calls: Calls, name: str) -> Caller:
    """A strict call that leads the line, its run held until the test releases it."""
    calls.strict |= {"learn s", name}
    calls.learn("s")
    calls.hold[name] = threading.Event()
    leader = calls.start(name, "s")
    assert calls.started.setdefault(name, threading.Event()).wait(10)
    return leader


def test_a_write_outside_the_line_commits_after_the_strict_call_running_in_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call of a function never seen runs on its own thread; its commit would move the
    head the strict call in the line runs on, so it waits for that one's commit."""
    monkeypatch.setattr(combining, "SETTLE_S", 5.0)
    calls = Calls()
    leader = strict_leader(calls, "s1")
    solo = calls.start("u1", "never seen")
    assert calls.started.setdefault("u1", threading.Event()).wait(10)
    time.sleep(0.1)
    assert calls.commits == []  # it ran, and waits
    calls.hold["s1"].set()
    assert leader.done().result == "s1!" and solo.done().result == "u1!"
    assert calls.commits == [["s1!"], ["u1!"]]
    assert calls.ran_on["u1"] == solo.ident


def test_a_write_outside_the_line_waits_for_a_strict_call_only_settle_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(combining, "SETTLE_S", 0.1)
    calls = Calls()
    leader = strict_leader(calls, "s1")
    t0 = time.monotonic()
    solo = calls.start("u1", "never seen").done()  # while s1 still runs
    assert solo.result == "u1!" and calls.commits == [["u1!"]]
    assert time.monotonic() - t0 < 5
    calls.hold["s1"].set()
    leader.done()


def test_a_call_waits_in_a_moving_line_past_wait_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict calls take their turns, each waiting for the commit before it: the line
    moves, though slower than WAIT_S, and the relaxed call behind them keeps its place."""
    monkeypatch.setattr(combining, "SETTLE_S", 0.15)
    calls = Calls()
    calls.learn("f")
    solos: list[str] = []
    real_solo = calls.combiner._solo

    def solo(item: str, key: Any) -> str:
        solos.append(item)
        return real_solo(item, key)

    monkeypatch.setattr(calls.combiner, "_solo", solo)
    with waits(0.2):
        leader = strict_leader(calls, "s1")
        calls.hold_commit = threading.Event()
        calls.strict.add("s2")
        calls.hold["s2"] = threading.Event()
        second = calls.start("s2", "s")
        calls.queued(1)
        relaxed = calls.start("f1", "f")
        calls.queued(2)
        # s1 commits (held); s2 waits SETTLE_S for it, then runs 0.1 s; f1 waits longer
        # than WAIT_S in all, though no call ran that long
        calls.hold["s1"].set()
        assert calls.started.setdefault("s2", threading.Event()).wait(10)
        time.sleep(0.1)
        calls.hold["s2"].set()
        time.sleep(0.2)
        calls.hold_commit.set()
        for c in (leader, second, relaxed):
            assert c.done().result == f"{c.call_name}!"
    assert "f1" not in solos  # f1 ran in the line
    assert [r for batch in calls.commits for r in batch] == ["s1!", "s2!", "f1!"]


def test_what_a_run_took_is_its_cpu_and_waits_not_its_waits_for_the_gil(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SLOW_S counts a run's CPU and its waits, announced (a peer's answer) or not (a
    sleep), but not the time other threads computed meanwhile (its wait for the GIL on a
    busy machine): after one such run its function is still combined."""
    monkeypatch.setattr(combining, "SLOW_S", 0.01)
    calls = Calls()
    calls.learn("f", "g", "h")
    stall = combining.SLOW_S * 3
    spin_until = time.monotonic() + stall * 1.5

    def spin() -> None:  # another thread holds the GIL: the stalled run waits for it
        while time.monotonic() < spin_until:
            pass

    spinner = threading.Thread(target=spin)
    calls.stall["stalled while others ran"] = stall
    spinner.start()
    assert calls.combiner.run("stalled while others ran", "f") == "stalled while others ran!"
    spinner.join()
    assert calls.combiner._combinable("f")
    calls.stall["slept"] = stall  # nothing else ran: the call itself waited
    assert calls.combiner.run("slept", "g") == "slept!"
    assert not calls.combiner._combinable("g")
    calls.busy["waited"] = stall
    assert calls.combiner.run("waited", "h") == "waited!"
    assert not calls.combiner._combinable("h")


def one_then_another(calls: Calls, second: tuple[str, str], gap: float) -> tuple[Caller, Caller]:
    """Caller b0 ("f"), then ``second`` (name, key) ``gap`` seconds later; both done within
    10 s (WAIT_S is 30 s: a caller left waiting for it fails the test)."""
    with waits(30):
        t0 = time.monotonic()
        first = calls.start("b0", "f")
        time.sleep(gap)
        other = calls.start(*second)
        assert first.done().result == "b0!" and other.done().result == f"{second[0]}!"
        assert time.monotonic() - t0 < 10
    return first, other


def test_a_new_combiner_combines_whoever_came_after_pre_linger_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It expected three; one came in time: after PRE_LINGER_S the combiner runs both,
    without waiting WAIT_S for the others."""
    calls = Calls()
    after_a_batch_of_four(calls)
    monkeypatch.setattr(combining, "PRE_LINGER_S", 0.1)
    first, _ = one_then_another(calls, ("b1", "f"), 0.02)
    assert calls.ran_on["b1"] == first.ident
    assert calls.commits == [["b0!", "b1!"]]


def test_the_last_expected_caller_after_pre_linger_s_wakes_the_combiner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past its moment a lingering combiner waits only for a first caller, which wakes it
    rather than taking its place (the combiner would then wait in line behind it)."""
    calls = Calls()
    after_a_batch_of_four(calls)
    monkeypatch.setattr(combining, "PRE_LINGER_S", 0.02)
    calls.combiner._last_batch = 2  # it expects one
    first, _ = one_then_another(calls, ("b1", "f"), 0.2)
    assert calls.ran_on["b1"] == calls.ran_on["b0"] == first.ident


def test_a_strict_caller_wakes_a_lingering_combiner(monkeypatch: pytest.MonkeyPatch) -> None:
    """A strict call is never in the lingering combiner's batch: it wakes it, and takes
    its own turn right after."""
    calls = Calls()
    after_a_batch_of_four(calls)
    calls.strict |= {"learn s", "s1"}
    calls.learn("s")
    calls.combiner._last_batch = 4
    monkeypatch.setattr(combining, "PRE_LINGER_S", 10.0)
    one_then_another(calls, ("s1", "s"), 0.02)  # in far less than PRE_LINGER_S
    assert calls.commits == [["b0!"], ["s1!"]]


def test_a_batch_counts_its_callers_not_their_calls() -> None:
    """A taken call that raised returns at once; its caller's next call may join the same
    batch. The next combiner expects the batch's callers back, not its calls."""
    calls = Calls()
    calls.learn("f", "g")
    calls.fail_run.add("a")
    calls.hold["b"] = threading.Event()
    with waits(30):
        leader = lead_with(calls)
        failing = calls.start("a", "f")
        calls.queued(1)
        held = calls.start("b", "f")
        calls.queued(2)
        calls.hold["lead"].set()
        assert calls.started.setdefault("b", threading.Event()).wait(10)
        assert isinstance(failing.done().error, ValueError)
        again = calls.start("a2", "g")  # the same caller, back while b runs
        calls.queued(1)
        calls.hold["b"].set()
        for c in (leader, held, again):
            assert c.done().result == f"{c.call_name}!"
    assert calls.commits == [["lead!", "b!", "a2!"]]
    assert calls.combiner._last_batch == 3  # three callers; four calls were taken


def test_writes_outside_the_line_take_turns_with_a_stream_of_strict_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller that makes strict calls back to back (each waiting 20 ms for a peer's
    answer) does not hold a write outside the line for SETTLE_S: the next strict call
    waits for it, and it commits between two of them."""
    monkeypatch.setattr(combining, "SETTLE_S", 2.0)
    calls = Calls()
    calls.strict |= {"learn s"} | {f"s{i}" for i in range(8)}
    calls.learn("s")
    for i in range(8):
        calls.busy[f"s{i}"] = 0.02

    def stream() -> None:
        for i in range(8):
            assert calls.combiner.run(f"s{i}", "s") == f"s{i}!"

    strict = threading.Thread(target=stream)
    strict.start()
    assert calls.started.setdefault("s1", threading.Event()).wait(10)
    t0 = time.monotonic()
    solo = calls.start("u1", "never seen").done()
    took = time.monotonic() - t0
    strict.join(10)
    assert solo.result == "u1!" and took < 1.0  # about one strict call, not SETTLE_S
    order = [r for batch in calls.commits for r in batch]
    assert order.index("u1!") < order.index("s7!")  # between two strict calls
    assert sorted(order) == sorted([f"s{i}!" for i in range(8)] + ["u1!"])


@pytest.fixture
def cpu_clock_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every read of a CPU clock the combiner makes, by name."""
    reads: list[str] = []
    for name in ("thread_time", "process_time"):
        real = getattr(time, name)

        def counted(real: Any = real, name: str = name) -> float:
            reads.append(name)
            return float(real())

        monkeypatch.setattr(combining.time, name, counted)
    return reads


def test_a_call_on_its_own_thread_after_a_clearly_fast_run_reads_no_cpu_clock(
    cpu_clock_reads: list[str],
) -> None:
    """A read whose last run was clearly fast (its wall time) is known fast without the
    CPU clocks, system calls that cost a fast read a tenth of its time; what it learns of
    its function still says fast."""
    calls = Calls()
    calls.reads.add("r")
    assert calls.combiner.run("r", "r") == "r!"  # never seen: the clocks are read
    assert sorted(cpu_clock_reads) == ["process_time", "process_time"] + ["thread_time"] * 2
    cpu_clock_reads.clear()
    for _ in range(3):
        assert calls.combiner.run("r", "r") == "r!"
    assert cpu_clock_reads == []
    assert calls.combiner._cpu["r"] < combining.CLEARLY_FAST_S
    assert calls.combiner.runs_on_loop("r")


def test_a_reads_long_run_without_the_clocks_counts_its_wall_time(
    monkeypatch: pytest.MonkeyPatch, cpu_clock_reads: list[str]
) -> None:
    """Its wall time is never less than its CPU: a read that turns slow (here every other
    run) leaves the event loop as it would measured, and its next run is measured; but a
    long wall time (maybe waits for the GIL) never marks it slow for good."""
    monkeypatch.setattr(combining, "FAST_S", 0.001)
    monkeypatch.setattr(combining, "SLOW_S", 0.002)
    calls = Calls()
    calls.reads.add("r")
    assert calls.combiner.run("r", "r") == "r!"
    assert calls.combiner.runs_on_loop("r")
    cpu_clock_reads.clear()
    calls.stall["r"] = 0.006  # unannounced: to the combiner, maybe its CPU
    assert calls.combiner.run("r", "r") == "r!"
    assert cpu_clock_reads == []
    assert calls.combiner._cpu["r"] >= 0.006 * combining._EMA
    assert not calls.combiner.runs_on_loop("r")
    assert "r" not in calls.combiner._slow
    del calls.stall["r"]
    assert calls.combiner.run("r", "r") == "r!"
    assert cpu_clock_reads.count("thread_time") == 2


def test_a_writer_on_its_own_thread_always_reads_the_cpu_clocks(
    cpu_clock_reads: list[str],
) -> None:
    """Whether a writer is combined (and whether it is slow for good) follows its measured
    cost, however short its last run."""
    calls = Calls()
    assert calls.combiner.run("w", "w") == "w!"  # it wrote: a writer from now on
    calls.combiner._slow.add("w")  # not combined: it keeps running on its own thread
    assert "w" in calls.combiner._clearly_fast
    cpu_clock_reads.clear()
    assert calls.combiner.run("w", "w") == "w!"
    assert cpu_clock_reads.count("thread_time") == 2


def test_a_combiners_run_always_reads_the_cpu_clocks(
    monkeypatch: pytest.MonkeyPatch, cpu_clock_reads: list[str]
) -> None:
    """A taken call that runs long marks its function slow, however short its last run."""
    monkeypatch.setattr(combining, "SLOW_S", 0.01)
    calls = Calls()
    calls.learn("f")  # alone, clearly fast: then combined
    assert "f" in calls.combiner._clearly_fast
    cpu_clock_reads.clear()
    calls.busy["slow f"] = combining.SLOW_S * 2
    assert calls.combiner.run("slow f", "f") == "slow f!"
    assert cpu_clock_reads.count("thread_time") == 2
    assert not calls.combiner._combinable("f")
