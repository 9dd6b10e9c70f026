"""The worker pool: threads for blocking conductor work (zome calls, commits), fed by the loop.

Guest code blocks its thread until it returns, so every zome call runs here and never on
the event loop. The pool keeps few jobs *running* at once — one fewer than the process has
CPUs (the event loop has the last), at least one — and lets the others wait in line for a
running worker to take them as it finishes its job: in one Python process more runnable
threads only pass the GIL around (100 clients on one cell, two CPUs: ~2 200 calls/s with
eight calls running at once, ~2 950 with two, ~3 100 with one; docs/performance.md). A job
that waits (a disk sync, a peer's answer, a chain lock) says so
(:func:`zomehost.core.blocking.waiting`) and leaves its place to a job in line meanwhile;
one that waits without saying so, or runs long, is found by a watchman thread, which adds a
worker whenever no job has started or finished for a millisecond while others wait — so
slow or blocked jobs never hold the line for long, guest code that computes for
milliseconds spreads over the CPUs, and threads still go up to ``max_threads``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from zomehost.core import blocking

T = TypeVar("T")
log = logging.getLogger("zomehost.workers")

WATCH_S = 0.001  # how long the line may stand still before the watchman adds a worker


def running_target() -> int:
    """Jobs the pool runs at once while they keep finishing: the usable CPUs but one (the
    event loop's), at least one."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


class _Job(Generic[T]):
    __slots__ = ("args", "fn", "fut")

    def __init__(
        self, fut: asyncio.Future[T] | None, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> None:
        self.fut = fut
        self.fn = fn
        self.args = args


class _Worker:
    """A worker thread's bed: it sleeps on ``bell`` until handed ``job`` (None: stop)."""

    __slots__ = ("bell", "job")

    def __init__(self) -> None:
        self.bell = threading.Lock()
        self.bell.acquire()
        self.job: _Job[Any] | None = None


class WorkerPool:
    """Threads for blocking conductor work, fed from the event loop and from workers.

    Half the cost of ``run_in_executor`` per hop: a job is handed straight to a sleeping
    worker (or left in line for a running one), one ``call_soon_threadsafe`` back, no
    concurrent future chained to an asyncio one; a job that answers for itself
    (:meth:`submit`) costs no way back at all. Threads start as jobs need them, up to
    ``max_threads``; past that, jobs wait in order.
    """

    def __init__(self, max_threads: int, target: int | None = None) -> None:
        self.max_threads = max_threads
        self.target = target if target is not None else running_target()
        self._lock = threading.Lock()
        self._line: deque[_Job[Any]] = deque()  # jobs waiting for a running place
        self._beds: list[_Worker] = []  # sleeping workers, the last to sleep first
        self._threads: list[threading.Thread] = []
        self._running = 0  # jobs running and not announced as waiting
        self._moved = time.monotonic()  # when a job last started or finished: progress
        self._watching = False
        self._watchman: threading.Thread | None = None
        self._watch = threading.Event()
        self._closed = False

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on a worker thread; await the returned future on the loop."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue(_Job(fut, fn, args))
        return fut

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a worker thread, from any thread; nobody waits for it, so
        ``fn`` handles its own errors (one it lets out is logged)."""
        self._queue(_Job(None, fn, args))

    def _queue(self, job: _Job[Any]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            if (
                self._running < self.target
                # nobody in line and no job started or finished for WATCH_S: the running
                # ones are long or stuck, so this one need not wait for the watchman
                or (not self._line and time.monotonic() - self._moved > WATCH_S)
            ) and self._start(job):
                return
            self._line.append(job)
            self._arm()

    def _start(self, job: _Job[Any]) -> bool:
        """Under the lock: run ``job`` on a sleeping worker or a new thread, if there is one."""
        self._moved = time.monotonic()
        if self._beds:
            bed = self._beds.pop()
            bed.job = job
            self._running += 1
            bed.bell.release()
            return True
        if len(self._threads) >= self.max_threads:
            return False
        t = threading.Thread(
            target=self._work, args=(job,), name=f"zome_{len(self._threads)}", daemon=True
        )
        self._threads.append(t)
        self._running += 1
        t.start()
        return True

    def _arm(self) -> None:
        """Under the lock: jobs wait, so the watchman watches (started with the first)."""
        if self._watching:
            return
        self._watching = True
        if self._watchman is None:
            self._watchman = threading.Thread(target=self._watch_line, name="zome_watch")
            self._watchman.daemon = True
            self._watchman.start()
        self._watch.set()

    def _watch_line(self) -> None:
        """While jobs wait: every ``WATCH_S`` in which no job started or finished, one more
        runs."""
        while True:
            self._watch.wait()
            time.sleep(WATCH_S)
            with self._lock:
                if self._closed and not self._line:
                    return
                if not self._line:
                    self._watching = False
                    self._watch.clear()
                    continue
                if time.monotonic() - self._moved >= WATCH_S and self._start(self._line[0]):
                    self._line.popleft()

    def _work(self, job: _Job[Any] | None) -> None:
        blocking.run_by(self)
        bed = _Worker()
        while job is not None:
            answer = self._run(job)
            job = None  # not kept alive while this worker sleeps
            with self._lock:  # before the answer: a job it leads to finds this worker free
                self._moved = time.monotonic()
                if self._line and self._running <= self.target:
                    job = self._line.popleft()  # the next in line, without a wake-up
                else:
                    self._running -= 1
                    stop = self._closed
                    if not stop:
                        self._beds.append(bed)
            if answer is not None:
                answer()
            if job is None:
                if stop:
                    return
                bed.bell.acquire()
                job = bed.job

    def _run(self, job: _Job[Any]) -> Callable[[], None] | None:
        """Run ``job``; for an awaited one, how to hand its outcome to its loop."""
        if job.fut is None:
            try:
                job.fn(*job.args)
            except Exception:
                log.exception("a worker job failed")
            return None
        fut = job.fut
        try:
            result = job.fn(*job.args)
        except BaseException as exc:  # handed to the awaiting coroutine
            return functools.partial(_hand_back, fut, None, exc)
        return functools.partial(_hand_back, fut, result, None)

    # -- blocking.Runner: a job announces a wait ------------------------------------------
    def blocked(self) -> None:
        """The current job waits: its running place goes to the next job in line."""
        with self._lock:
            self._running -= 1
            if self._line and self._running < self.target and self._start(self._line[0]):
                self._line.popleft()

    def unblocked(self) -> None:
        """The wait is over: the job runs again (the pool may run one more than its target
        until a job ends)."""
        with self._lock:
            self._running += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no new work; running jobs finish, queued ones are cancelled or run first."""
        with self._lock:
            self._closed = True
            dropped = list(self._line) if cancel_futures else []
            if cancel_futures:
                self._line.clear()
            beds, self._beds = self._beds, []
            self._watch.set()
        for job in dropped:
            if job.fut is not None:
                job.fut.cancel()
        for bed in beds:
            bed.job = None
            bed.bell.release()
        if wait:
            for t in list(self._threads):
                t.join()


def _hand_back(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    """From a worker: a job's outcome to the coroutine awaiting it, on its loop."""
    with contextlib.suppress(RuntimeError):  # the loop is closed
        fut.get_loop().call_soon_threadsafe(_settle, fut, result, exc)


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting coroutine was cancelled
        return
    if exc is None:
        fut.set_result(result)
    else:
        fut.set_exception(exc)
