"""Call combining: the calls that reach one cell together run on one thread, back to back,
and commit together.

Why: with more runnable threads than CPUs, a Python process spends its time handing the
GIL from thread to thread, and on a VM each hand-over costs tens of microseconds (four
threads writing to one cell lost ~40 % of their time to it: docs/performance.md). So a call
that arrives while another call on its cell is running does not start a thread of its own
beside it: it waits in the cell's line, and the running call's thread — the *combiner* —
runs the waiting calls after its own, then commits all their writes in one group
(``Store.write_group_many``: one transaction, one sync, each call's writes in a nested
transaction of their own). Each caller then finishes its own call (``post_commit``, signals)
on its own thread.

Theory of operation, for one cell:

* A call that finds nobody combining becomes the combiner. If its last batch had others,
  it first waits a moment (:data:`PRE_LINGER_S`) for as many to queue: those callers are
  just back from their answers, and they queue faster while it sleeps than while it holds
  the GIL. The last of them to come combines in its place (the first one waits first in
  line): waking the first one would cost one more thread hand-over per batch. After the
  moment it combines whoever came; with nobody, the first caller to come wakes it (and
  with none, :data:`WAIT_S` does); a strict caller, never in its batch, wakes it at once.
  The combiner runs its own call, then takes the calls waiting in line, one at a time,
  until the line is empty and as many calls as the last batch had are in (it waits a
  moment, :data:`LINGER_S`, for those: callers that each wait for their commit come back
  together), or the batch is :data:`MAX_BATCH` calls or :data:`BATCH_BUDGET_S` long. Then
  it hands the combiner's place to the oldest caller still waiting and commits the batch.
* Only calls that have a commit to share and are fast join the line: those of a function
  whose last run wrote, whose recent runs took less than :data:`FAST_S` and none ever
  :data:`SLOW_S`. Others (reads, functions never seen) run on their own thread as if there
  were no combining: reads gain nothing from it, and the worker pool already runs them one
  after the other without a wake-up each. One that turns slow while in line is handed
  back. (A taken call that runs long holds the combiner's own caller until it ends: a
  function can do that once, then it is never taken again.) What a run took is its wall
  time less what other threads of the process computed meanwhile (at most its wait for
  the GIL), and at least its CPU time and announced waits (core/blocking.py): with more
  threads than cores, waits for the GIL stretch every call, and wall time would mark fast
  writers slow for good after one busy moment; a wait nobody announces (a sleep) counts.
  A read on its own thread whose last run was clearly fast (under
  :data:`CLEARLY_FAST_S` of wall time) reads no CPU clock (a system call each): its wall
  time, which bounds both, counts for both (but never marks it slow for good).
* A call whose writes need the head they were made on (strict ordering) fails if another
  call commits first after it ran. So a function that wrote strictly in one of its last
  :data:`STRICT_RUNS` runs (a call that raised tells nothing) always goes
  through the line, however slow, and only ever leads a batch of its own: it is never
  taken into a batch, it waits before it runs for the batches already committing (at most
  :data:`SETTLE_S`), and no call is taken after it. In line it waits up to
  :data:`STRICT_WAIT_S`, unless the combiner's current call has run :data:`SETTLE_S` (the
  rule below, with that longer wait: on its own it would fail). A
  call that turns out strict in a batch (its function wrote relaxed before) ends the batch
  and commits first in it. Strict writers on one cell then take turns, one commit each,
  instead of failing with ``HeadMoved``.
* A call that runs outside the line and wrote (a function not combined, or a caller that
  left the line) commits after a strict call of the line that is running or committing
  (its commit would move the head that call needs), waiting :data:`SETTLE_S` at most; the
  next strict call waits for it in turn, so a stream of strict calls does not hold it.
* No caller waits on a call that runs long: once the combiner's current call has run
  :data:`WAIT_S`, a call still in line runs on its own thread (and calls that arrive do not
  queue at all), and a call the combiner has run whose batch is not closed yet (a call
  after it runs long) is committed by its own thread. While the line moves, a call waits
  in it for its turn (up to :data:`STRICT_WAIT_S`): on its own it would only add a sync.
  A call that raised returns at once. So one slow call never holds a line of fast ones.

The same knowledge of a cell's functions tells the app interface which calls it may run on
the event loop itself (:meth:`Combiner.runs_on_loop`, core/on_loop.py): fast reads.

Nothing about a call changes with who runs it: each has its own workspace, deadline and
budgets, and its outcome (value or typed error) reaches its own caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from zomehost.core import blocking, on_loop

I = TypeVar("I")  # noqa: E741 - a call as the conductor hands it over
R = TypeVar("R")  # what running it gave, before its commit

MAX_BATCH = 8
BATCH_BUDGET_S = 0.002  # a batch's running time past which the combiner takes no more
LINGER_S = 0.0005  # the longest a combiner waits for the callers it expects
PRE_LINGER_S = 0.002  # how long a new combiner waits for them before its own call
FAST_S = 0.001  # a function whose recent runs took less is taken into batches
SLOW_S = 0.01  # a function that once took this long is never taken again
CLEARLY_FAST_S = FAST_S / 4  # a read's run this short needs no CPU clock to be known fast
WAIT_S = 0.005  # how long a call may run before the calls in line behind it go on their own
SETTLE_S = 0.05  # the longest a strict writer waits for a call or the commits before it
STRICT_WAIT_S = 1.0  # the longest a call waits in a moving line (a stalled disk, say)
_EMA = 0.25  # weight of the newest run in a function's running time
STRICT_RUNS = 8  # a function that wrote strictly counts as strict for this many runs more

# a call's way through the line
_QUEUED = 0  # waiting to be taken
_TAKEN = 1  # a combiner runs it
_RAN = 2  # it ran; its batch is not closed yet
_COMMITTING = 3  # its batch is being committed
_DONE = 4  # its outcome is in
_LEAD = 5  # it combines (the place was free, or handed to it)
_ALONE = 6  # it runs on its own thread
_COMMIT_ALONE = 7  # it ran; its own thread commits it
_WAITING = (_QUEUED, _TAKEN, _RAN, _COMMITTING)  # its caller waits for its outcome


class _Signal:
    """A caller's wake-up, set once: a lock held until then. (A ``threading.Event`` costs
    ~4 µs more per call in Python, and wakes its waiter later: it has a condition and a
    list of waiters.)"""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        self._lock.release()

    def wait(self, timeout: float) -> bool:
        """Whether it is set, waiting at most ``timeout`` seconds; once set, always."""
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True


class _Waiter(Generic[I, R]):
    """One call in a cell's line."""

    __slots__ = ("error", "event", "item", "key", "result", "state")
    event: _Signal  # made as it joins the line (a call that leads needs none)

    def __init__(self, item: I, key: Hashable) -> None:
        self.item = item
        self.key = key
        self.state = _QUEUED
        self.result: R | None = None
        self.error: BaseException | None = None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class Combiner(Generic[I, R]):
    """One cell's line of calls.

    ``run_call(item)`` runs a call's function (raising its error); ``commit(results)``
    commits a batch's writes and returns, for each, the error its commit raised or None;
    ``wrote(result)`` tells whether a call that ran has writes to commit, ``strict(result)``
    whether some of them need the head they were made on (none, if not given).
    """

    def __init__(
        self,
        run_call: Callable[[I], R],
        commit: Callable[[list[R]], list[BaseException | None]],
        wrote: Callable[[R], bool],
        strict: Callable[[R], bool] = lambda result: False,
    ) -> None:
        self._run_call = run_call
        self._commit = commit
        self._wrote = wrote
        self._is_strict = strict
        self._writers: set[Hashable] = set()  # functions whose last run wrote
        self._strict: dict[Hashable, int] = {}  # functions that wrote strictly: runs left
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._line: deque[_Waiter[I, R]] = deque()
        self._combining = False
        self._last_batch = 1
        self._seconds: dict[Hashable, float] = {}  # a function's recent running time
        self._slow: set[Hashable] = set()  # functions that once ran long
        self._cpu: dict[Hashable, float] = {}  # a function's recent CPU time per run
        self._clearly_fast: set[Hashable] = set()  # functions whose last run was short
        self._busy_since: float | None = None  # when the combiner's current call started
        self._lingering: _Waiter[I, R] | None = None  # a new combiner waiting for callers
        self._linger_until = 0.0  # when it stops waiting for them
        self._committing = 0  # batches (or calls) of the line being committed
        self._strict_running = 0  # strict calls of the line running, not committed yet
        self._solo_waiting = 0  # writes outside the line waiting for them to land
        self._settled = threading.Condition(self._lock)  # notified as each of them lands

    def run(self, item: I, key: Hashable) -> R:
        """Run one call (``key``: its function) and commit it; its result, or its error."""
        strict = key in self._strict
        if not strict and not self._combinable(key):  # nothing to share: it runs as if alone
            return self._solo(item, key)
        # a call on the event loop (decided before its function was seen writing again)
        # neither waits in the line nor combines: it moves to a worker, before either
        on_loop.refuse("a write its cell combines")
        me: _Waiter[I, R] = _Waiter(item, key)
        with self._lock:
            if not self._combining:
                self._combining = True
                me.state = _LEAD
                if self._last_batch > 1 and not strict:  # the callers it expects queue first
                    me.event = _Signal()
                    self._lingering = me
                    self._linger_until = time.perf_counter() + PRE_LINGER_S
            elif self._stuck(SETTLE_S if strict else WAIT_S):
                me.state = _ALONE  # it would only wait that long in line
            else:
                me.event = _Signal()
                lingering = self._lingering
                if lingering is None:
                    self._line.append(me)
                    self._arrived.notify()  # a combiner lingering in its batch takes it
                elif (
                    not strict
                    and len(self._line) + 1 >= self._last_batch - 1
                    and time.perf_counter() <= self._linger_until
                ):
                    # the last caller expected combines at once; the lingering one waits
                    # first in line: one thread hand-over fewer than waking it
                    self._lingering = None
                    lingering.state = _QUEUED
                    self._line.appendleft(lingering)
                    me.state = _LEAD
                else:
                    self._line.append(me)
                    # late, or strict (never in its batch): it combines whoever came, now
                    if strict or time.perf_counter() > self._linger_until:
                        self._lingering = None
                        lingering.event.set()
        if self._lingering is me:
            self._pre_linger(me)
        if me.state in _WAITING:
            self._wait(me)
        if me.state == _ALONE:
            return self._solo(item, key)
        if me.state == _LEAD:
            self._lead(me)
        elif me.state == _COMMIT_ALONE:
            self._commit_alone(me)
        return me.outcome()

    def _combinable(self, key: Hashable) -> bool:
        """Whether calls of this function join the line: its last run wrote (there is a
        commit to share) and it is fast."""
        return (
            key in self._writers
            and self._seconds.get(key, FAST_S) < FAST_S
            and key not in self._slow
        )

    def runs_on_loop(self, key: Hashable) -> bool:
        """Whether this function is a fast read, whose calls the app interface may run on
        the event loop (core/on_loop.py): it ran before, its last run wrote nothing, and its
        recent runs took less than :data:`FAST_S` of CPU (what it would hold the loop for:
        their wall time on a busy worker counts the waits for the GIL too)."""
        cpu = self._cpu.get(key)
        return cpu is not None and cpu < FAST_S and key not in self._writers

    def _stuck(self, after: float = WAIT_S) -> bool:
        """Under the lock: the combiner's current call has run for ``after`` already (a
        call arriving now would only wait that long in line, then run alone). Wall time: on
        a busy machine a short call can take :data:`WAIT_S` waiting for the GIL, which is
        why strict writers, which fail on their own, allow :data:`SETTLE_S`."""
        since = self._busy_since
        return since is not None and time.perf_counter() - since > after

    def _until_stuck(self, after: float) -> float:
        """Under the lock: how long until the combiner's current call has run ``after``
        (a waiter's next look; at least 0.5 ms)."""
        since = self._busy_since
        if since is None:
            return after
        return max(0.0005, since + after - time.perf_counter())

    def _wait(self, me: _Waiter[I, R]) -> None:
        """Wait in line until handed the combiner's place, handed back or done: while the
        line moves (up to :data:`STRICT_WAIT_S`), and not once the combiner's current call
        has run :data:`WAIT_S` (a strict writer: :data:`SETTLE_S`, as on its own beside the
        line's commits it would fail)."""
        patient_until = time.perf_counter() + STRICT_WAIT_S
        timeout = WAIT_S
        with blocking.waiting():
            while not me.event.wait(timeout):
                with self._lock:
                    after = SETTLE_S if me.key in self._strict else WAIT_S
                    if me.state == _QUEUED:
                        left = patient_until - time.perf_counter()
                        timeout = max(0.0005, min(self._until_stuck(after), left))
                    elif me.state == _RAN:  # it commits alone once a call after it runs long
                        timeout = self._until_stuck(WAIT_S)
                    else:  # its own call runs, or its batch commits: its signal comes
                        timeout = WAIT_S
                    if (
                        me.state == _QUEUED
                        and not self._stuck(after)
                        and time.perf_counter() < patient_until
                    ):
                        continue  # the line moves: its turn comes
                    if me.state == _QUEUED:  # nobody took it in time: it runs on its own
                        self._line.remove(me)
                        me.state = _ALONE
                        return
                    if me.state == _RAN and self._stuck():  # a call after it runs long:
                        # its own thread commits it
                        me.state = _COMMIT_ALONE
                        self._committing += 1
                        return
                    # taken (its own call runs) or committing: its outcome comes

    def _commit_alone(self, me: _Waiter[I, R]) -> None:
        """Commit one call that ran (counted in ``_committing`` by the caller)."""
        try:
            (me.error,) = self._commit([me.result])  # type: ignore[list-item]
        except BaseException as exc:
            me.error = exc
        finally:
            self._landed()

    def _landed(self) -> None:
        """A commit of the line is done: strict writers waiting for it may run."""
        with self._lock:
            self._committing -= 1
            self._settled.notify_all()

    def _pre_linger(self, me: _Waiter[I, R]) -> None:
        """A new combiner waits for the callers its last batch had, then combines; unless
        the last of them came and combines instead. After :data:`PRE_LINGER_S` it combines
        the ones that came; with none, the first to come later wakes it (at most
        :data:`WAIT_S` in all). (The moment is longer than a batch: a combiner whose place
        was taken sleeps through the batch that runs its call instead of waking in it.)"""
        with blocking.waiting():
            if not me.event.wait(PRE_LINGER_S):
                with self._lock:
                    nobody = self._lingering is me and not self._line
                if nobody:
                    me.event.wait(max(0.0, WAIT_S - PRE_LINGER_S))
        with self._lock:
            if self._lingering is me:  # it combines whoever came
                self._lingering = None

    def _lead(self, me: _Waiter[I, R]) -> None:
        strict = me.key in self._strict
        if strict:  # it runs on the head the commits in flight leave
            with self._lock, blocking.waiting():
                self._settled.wait_for(
                    lambda: not self._committing and not self._solo_waiting, SETTLE_S
                )
                self._strict_running += 1  # calls outside the line commit after it
        try:
            self._lead_batch(me)
        finally:
            if strict:
                with self._lock:
                    self._strict_running -= 1
                    self._settled.notify_all()

    def _lead_batch(self, me: _Waiter[I, R]) -> None:
        """Run the combiner's own call and the ones it takes, then commit them together."""
        batch = [me] if self._run(me) else []
        with self._lock:
            if not self._line and self._last_batch <= 1:  # alone, and nobody expected
                self._combining = False
                alone = True
                self._committing += len(batch)
            else:
                alone = False
        if alone:
            if batch:
                self._commit_alone(me)
            return
        start = time.perf_counter()
        linger_until = start + LINGER_S
        taken = 1
        # nothing is taken after a strict call: a call taken after it could run long and
        # its own thread commit it alone meanwhile, moving the head the strict call needs
        closed = bool(batch) and self._is_strict(me.result)  # type: ignore[arg-type]
        while not closed and taken < MAX_BATCH and time.perf_counter() - start < BATCH_BUDGET_S:
            with self._lock:
                nxt = self._take()
                if nxt is None:
                    if self._line:  # a strict writer is next: it starts the next batch
                        break
                    left = linger_until - time.perf_counter()
                    if taken >= self._last_batch or left <= 0:
                        break
                    with blocking.waiting():
                        self._arrived.wait(left)
                    continue
            taken += 1
            ran = self._run(nxt)
            with self._lock:
                if ran:
                    nxt.state = _RAN
                    batch.append(nxt)
                    closed = self._is_strict(nxt.result)  # type: ignore[arg-type]
                else:  # it raised: its caller has its outcome now
                    nxt.state = _DONE
                    nxt.event.set()
        with self._lock:
            # calls whose own threads took them back to commit are not this batch's
            batch = [w for w in batch if w is me or w.state == _RAN]
            # its callers, whom the next combiner expects back (a call that raised
            # returned at once: its caller's next call may have been taken as well)
            self._last_batch = max(1, len(batch))
            # a strict call ran on the head the batch started from: it commits first
            batch.sort(key=lambda w: not self._is_strict(w.result))  # type: ignore[arg-type]
            for w in batch:
                w.state = _COMMITTING
            self._committing += 1
            if self._line:  # the oldest caller still waiting combines next
                nxt = self._line.popleft()
                nxt.state = _LEAD
                nxt.event.set()
            else:
                self._combining = False
        try:
            errors = self._commit([w.result for w in batch]) if batch else []  # type: ignore[misc]
        except BaseException as exc:
            errors = [exc] * len(batch)
        finally:
            self._landed()
        for w, error in zip(batch, errors, strict=True):
            w.error = error
            if w is not me:
                w.state = _DONE
                w.event.set()

    def _take(self) -> _Waiter[I, R] | None:
        """Under the lock: the next waiting call this combiner may run; the slow ones or
        never seen are handed back to run on their own threads. None as well when the next
        one writes strictly: it stays first in line, for a batch of its own."""
        while self._line:
            w = self._line[0]
            if w.key in self._strict:
                return None
            self._line.popleft()
            if self._combinable(w.key):
                w.state = _TAKEN
                return w
            w.state = _ALONE
            w.event.set()
        return None

    def _solo(self, item: I, key: Hashable) -> R:
        """A call outside the line, on its own thread: run it, commit it."""
        result = self._timed(item, key, solo=True)
        if not self._wrote(result):
            (error,) = self._commit([result])
        else:  # it commits after a strict call of the line that runs (its head would move)
            with self._lock, blocking.waiting():
                # at most SETTLE_S; the next strict call waits for it (it takes turns)
                self._solo_waiting += 1
                self._settled.wait_for(lambda: not self._strict_running, SETTLE_S)
                self._solo_waiting -= 1
                self._committing += 1
            try:
                (error,) = self._commit([result])
            finally:
                self._landed()
        if error is not None:
            raise error
        return result

    def _run(self, w: _Waiter[I, R]) -> bool:
        """Run a call as the combiner; keep its result (True) or its error."""
        self._busy_since = time.perf_counter()
        try:
            w.result = self._timed(w.item, w.key)
        except BaseException as exc:  # handed to the call's own caller
            w.error = exc
        finally:
            self._busy_since = None
        return w.error is None

    def _timed(self, item: I, key: Hashable, solo: bool = False) -> R:
        """Run a call; learn its function's running time and whether it wrote. Only the
        combiner and calls on their own threads write these: a lost update (two finishing
        at once) only delays what it learns by one run.

        ``solo``: a call on its own thread. If its function is a read (its last run wrote
        nothing) whose last run was clearly fast, its CPU clocks are not read (each read is
        a system call, ~1 µs here, and four of them were a tenth of a fast read's cost in
        the conductor): its wall time, which bounds its CPU and what it took, counts for
        both. So a read that turns slow leaves the event loop as it would measured (its
        wall time is never less than its CPU), and a long wall time (maybe waits for the
        GIL) never marks it slow for good. Writers, whose cost decides whether they are
        combined, and a combiner's runs always read the clocks: a taken call that runs
        long marks its function slow."""
        t0 = time.perf_counter()
        clocks = None
        if not solo or key not in self._clearly_fast or key in self._writers:
            clocks = time.thread_time(), time.process_time(), blocking.waited()
        ran: list[R] = []  # its result, once it returned
        try:
            ran.append(self._run_call(item))
        finally:
            wall = time.perf_counter() - t0
            if clocks is not None:
                c0, p0, w0 = clocks
                cpu = time.thread_time() - c0
                # what the call needed: its CPU and announced waits (a peer's answer, a
                # lock); of the rest of its wall time, as much as other threads computed
                # meanwhile was (at most) its wait for the GIL, which a busy process makes
                # long for all
                others = time.process_time() - p0 - cpu
                took = max(cpu + blocking.waited() - w0, wall - others)
                if took >= SLOW_S:
                    self._slow.add(key)
            else:
                took = cpu = wall  # both at most its wall time
            if wall < CLEARLY_FAST_S:
                self._clearly_fast.add(key)
            else:
                self._clearly_fast.discard(key)
            before = self._seconds.get(key)
            self._seconds[key] = took if before is None else before + (took - before) * _EMA
            before = self._cpu.get(key)
            self._cpu[key] = cpu if before is None else before + (cpu - before) * _EMA
            wrote = bool(ran) and self._wrote(ran[0])
            if wrote:
                self._writers.add(key)
            elif ran:  # (a call that raised says nothing of what its function writes)
                self._writers.discard(key)
            if wrote and self._is_strict(ran[0]):
                self._strict[key] = STRICT_RUNS
            elif key in self._strict:  # strict until STRICT_RUNS runs wrote nothing strictly
                left = self._strict[key] - 1
                if left:
                    self._strict[key] = left
                else:
                    del self._strict[key]
        return ran[0]
