"""The worker pool: threads for blocking conductor work (zome calls, commits), fed by the loop.

Guest code blocks its thread until it returns (wasmtime releases the GIL meanwhile), so
every zome call runs here and never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("args", "fn", "fut")

    def __init__(self, fut: asyncio.Future[T], fn: Callable[..., T], args: tuple[Any, ...]):
        self.fut = fut
        self.fn = fn
        self.args = args


class WorkerPool:
    """Threads for blocking conductor work, fed from the event loop.

    Half the cost of ``run_in_executor`` per hop: one ``SimpleQueue`` put there, one
    ``call_soon_threadsafe`` back, no concurrent future chained to an asyncio one. Threads
    start as jobs need them, up to ``max_threads``; past that, jobs wait in order.
    """

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max_threads
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0  # jobs queued or running (only the loop thread changes it)
        self._closed = False

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on a worker thread; await the returned future on the loop."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        job: _Job[T] = _Job(asyncio.get_running_loop().create_future(), fn, args)
        self._busy += 1
        if self._busy > len(self._threads) < self.max_threads:
            t = threading.Thread(target=self._work, name=f"zome_{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()
        self._jobs.put(job)
        return job.fut

    def _work(self) -> None:
        get = self._jobs.get
        while (job := get()) is not None:
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

    def _done(self, job: _Job[Any], result: Any, exc: BaseException | None) -> None:
        self._busy -= 1
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
            if job is not None:
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    job.fut.cancel()
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()
