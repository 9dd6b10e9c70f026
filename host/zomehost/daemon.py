"""``zomehost run``: the conductor as a long-running asyncio process.

asyncio owns I/O (admin and app interfaces, the peer network); zome calls run on a pool of
worker threads (:class:`WorkerPool`), because guest code blocks. Calls that come back
(A → B → A over the network) run on the network node's own pool, so they never wait for
this one. Shutdown on SIGINT/SIGTERM stops taking new work, lets running calls finish, and
closes the store cleanly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import queue
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home

log = logging.getLogger("zomehost.daemon")
T = TypeVar("T")
WORKERS = 64  # threads at most: a call blocked until its deadline holds one


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


class Service(Protocol):
    """A part of the daemon with a lifetime: interfaces, the network."""

    async def stop(self) -> None: ...


class Daemon:
    def __init__(self, home: Home, passphrase: str, *, admin_port: int | None = None) -> None:
        self.home = home
        home.lock()
        try:
            self.conductor = Conductor.open(home, passphrase)
        except BaseException:
            home.unlock()
            raise
        self.admin_port = self.conductor.config.admin_port if admin_port is None else admin_port
        self.executor = WorkerPool(WORKERS)
        self.services: list[Service] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self.endpoints: dict[str, Any] = {}

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking conductor work (a zome call, a commit) on a worker thread."""
        return await self.executor.run(fn, *args)

    def run_on_loop(self, coro: Awaitable[T], timeout: float) -> T:
        """From a worker thread: run ``coro`` on the loop and wait for it (never runs the loop)."""
        assert self.loop is not None
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro,  # type: ignore[arg-type]
            self.loop,
        )
        return fut.result(timeout)

    def publish_endpoint(self, name: str, value: Any) -> None:
        """Record where an interface listens (home/run.json), for clients and tests."""
        self.endpoints[name] = value
        tmp = self.home.path / "run.json.tmp"
        tmp.write_text(json.dumps({"pid": os.getpid(), **self.endpoints}))
        os.replace(tmp, self.home.path / "run.json")

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        from zomehost.api.server import start_interfaces

        await start_interfaces(self)
        network_cfg = self.conductor.config.network
        if network_cfg.get("enabled", True):
            from zomehost.network.node import start_network

            await start_network(self)

    def request_stop(self) -> None:
        self._stopping.set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        print(f"zomehost: conductor ready (home {self.home.path})", flush=True)
        await self._stopping.wait()
        log.info("shutting down")
        await self.stop()

    async def stop(self) -> None:
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                await service.stop()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.conductor.close()
        with contextlib.suppress(FileNotFoundError):
            (self.home.path / "run.json").unlink()
        self.home.unlock()
        print("zomehost: conductor stopped", flush=True)


def run(home: Path, passphrase: str, admin_port: int | None) -> None:
    daemon = Daemon(Home(home), passphrase, admin_port=admin_port)
    asyncio.run(daemon.serve())
