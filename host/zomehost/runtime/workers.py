"""The worker pool: threads for blocking conductor work (zome calls, commits), fed by the loop.

Guest code blocks its thread until it returns (wasmtime releases the GIL meanwhile), so
every zome call runs here and never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("zomehost.workers")


class _Job(Generic[T]):
    __slots__ = ("args", "fn", "fut")

    def __init__(
        self, fut: asyncio.Future[T] | None, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> None:
        self.fut = fut
        self.fn = fn
        self.args = args


class WorkerPool:
    """Threads for blocking conductor work, fed from the event loop.

    Half the cost of ``run_in_executor`` per hop: one ``SimpleQueue`` put there, one
    ``call_soon_threadsafe`` back, no concurrent future chained to an asyncio one; a job
    that answers for itself (:meth:`submit`) costs no way back at all. Threads start as jobs
    need them, up to ``max_threads``; past that, jobs wait in order.
    """

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max_threads
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0  # jobs queued or running
        self._busy_lock = threading.Lock()
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
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        with self._busy_lock:
            self._busy += 1
            start = self._busy > len(self._threads) < self.max_threads
            if start:
                t = threading.Thread(
                    target=self._work, name=f"zome_{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
        if start:
            t.start()
        self._jobs.put(job)

    def _work(self) -> None:
        get = self._jobs.get
        while (job := get()) is not None:
            if job.fut is None:
                try:
                    job.fn(*job.args)
                except Exception:
                    log.exception("a worker job failed")
                finally:
                    self._idle()
                del job
                continue
            back = job.fut.get_loop().call_soon_threadsafe
            try:
                result = job.fn(*job.args)
            except BaseException as exc:  # handed to the awaiting coroutine
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    back(self._done, job, None, exc)
            else:
                with contextlib.suppress(RuntimeError):
                    back(self._done, job, result, None)
            del job

    def _idle(self) -> None:
        with self._busy_lock:
            self._busy -= 1

    def _done(self, job: _Job[Any], result: Any, exc: BaseException | None) -> None:
        self._idle()
        assert job.fut is not None
        if job.fut.done():  # the awaiting coroutine was cancelled
            return
        if exc is None:
            job.fut.set_result(result)
        else:
            job.fut.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no new work; running jobs finish, queued ones are cancelled or run first."""
        self._closed = True
        while cancel_futures:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.fut is not None:
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    job.fut.cancel()
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()
