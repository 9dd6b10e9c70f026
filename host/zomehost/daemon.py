"""``zomehost run``: the conductor as a long-running asyncio process.

asyncio owns I/O (admin and app interfaces, the peer network); zome calls run on a pool of
worker threads, because guest code blocks. The pool is large enough that calls which come
back (A → B → A over the network) always find a free worker. Shutdown on SIGINT/SIGTERM
stops taking new work, lets running calls finish, and closes the store cleanly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home

log = logging.getLogger("zomehost.daemon")
T = TypeVar("T")
WORKERS = 64


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
        self.executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="zome")
        self.services: list[Service] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self.endpoints: dict[str, Any] = {}

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking conductor work (a zome call, a commit) on a worker thread."""
        assert self.loop is not None
        return await self.loop.run_in_executor(self.executor, fn, *args)

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
