"""``zomehost run``: the conductor as a long-running asyncio process, and its composition root.

:class:`Daemon` is the one place that knows both asyncio and the conductor. It opens the
conductor, owns the event loop and the worker pool, and wires the services that do I/O —
the WebSocket interfaces (:mod:`zomehost.api`) and the peer service (:mod:`zomehost.p2p`) —
handing each itself as the small runtime interface that service declares (``in_worker``,
``run_on_loop``, ``publish_endpoint``). Zome calls run on worker threads because guest code
blocks; calls that come back (A → B → A over the network) run on the peer service's own
pool, so they never wait for this one. Shutdown on SIGINT/SIGTERM stops taking new work,
lets running calls finish, and closes the store cleanly.
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
from pathlib import Path
from typing import Any, Protocol, TypeVar

from zomehost.api.server import start_interfaces
from zomehost.api.ui_server import start_ui_server
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.conductor.scheduling import ScheduledRuns
from zomehost.core import blocking
from zomehost.network.directory import Directory
from zomehost.p2p.service import PeerService, start_peer_service
from zomehost.runtime.scheduler import Scheduler
from zomehost.runtime.workers import WorkerPool

log = logging.getLogger("zomehost.daemon")
T = TypeVar("T")
WORKERS = 64  # threads at most: a call blocked until its deadline holds one
EVENT_LOOP_ENV = "ZOMEHOST_EVENT_LOOP"


class Service(Protocol):
    """A part of the daemon with a lifetime: interfaces, the peer service."""

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
        self.peer_network: PeerService | None = None  # read by the API's network views
        self.agent_directory = Directory()  # the peer service's once it runs

    # -- the runtime interface the services use -------------------------------------------
    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking conductor work (a zome call, a commit) on a worker thread."""
        return await self.executor.run(fn, *args)

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a worker thread; it answers for itself (nobody awaits it)."""
        self.executor.submit(fn, *args)

    def run_on_loop(self, coro: Awaitable[T], timeout: float) -> T:
        """From a worker thread: run ``coro`` on the loop and wait for it (never runs the loop)."""
        assert self.loop is not None
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro,  # type: ignore[arg-type]
            self.loop,
        )
        with blocking.waiting():
            return fut.result(timeout)

    def publish_endpoint(self, name: str, value: Any) -> None:
        """Record where an interface listens (home/run.json), for clients and tests."""
        self.endpoints[name] = value
        tmp = self.home.path / "run.json.tmp"
        tmp.write_text(json.dumps({"pid": os.getpid(), **self.endpoints}))
        os.replace(tmp, self.home.path / "run.json")

    # -- lifetime ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        interfaces = await start_interfaces(self)
        self.services.append(interfaces)
        # -- web UIs (docs/web-ui.md): each app's UI and the dashboard, on loopback --
        self.services.append(await start_ui_server(self, interfaces))
        # -- end web UIs --
        peers = await start_peer_service(self, self.home.path)
        if peers is not None:
            self.services.append(peers)
            self.peer_network = peers
            self.agent_directory = peers.directory
        # scheduled zome functions (docs/abi.md): started last, so stopped first
        scheduler = Scheduler(ScheduledRuns(self.conductor), self.in_worker)
        scheduler.start()
        self.services.append(scheduler)

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


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The daemon's event loop: uvloop's when it is installed (cheaper wake-ups, reads and
    writes: docs/performance.md), unless ``$ZOMEHOST_EVENT_LOOP=asyncio``; else asyncio's
    own (None)."""
    if os.environ.get(EVENT_LOOP_ENV, "uvloop") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        log.info("uvloop is not installed: running on asyncio's own event loop")
        return None
    return uvloop.new_event_loop


def run(home: Path, passphrase: str, admin_port: int | None) -> None:
    daemon = Daemon(Home(home), passphrase, admin_port=admin_port)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(daemon.serve())
