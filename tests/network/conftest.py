"""In-process network fixtures: real daemons (conductor + network node) on one event loop.

Each :class:`Peer` is a real :class:`~zomehost.runtime.daemon.Daemon` on its own home, with the real
:class:`~zomehost.p2p.service.PeerService` started on the test's event loop; the two talk
over real loopback TCP through the encrypted transport. Zome calls run on the daemon's worker
threads, exactly as they do under ``zomehost run``. Tests are plain functions that call
``asyncio.run``; the multi-process tests live in ``test_multiprocess.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zomehost.conductor.home import Home
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCall
from zomehost.p2p.service import PeerService, start_peer_service
from zomehost.ribosome.context import Signal
from zomehost.runtime.daemon import Daemon
from zomehost.testing import make_home as testing_home

PASSPHRASE = "network tests passphrase"
UNRESTRICTED_ALL = {"tag": "open", "access": "Unrestricted", "functions": "All"}


def make_home(path: Path, cache: Path, network: dict[str, Any] | None = None) -> Home:
    """A home with a cheap keystore, a seeded module cache and the given network config."""
    return Home(
        testing_home(
            path, passphrase=PASSPHRASE, network=network or {}, module_cache=cache, durable=False
        )
    )


class Peer:
    """One conductor with its network node, driven from the test's event loop."""

    def __init__(self, name: str, home: Home) -> None:
        self.name = name
        self.daemon = Daemon(home, PASSPHRASE)
        self.conductor = self.daemon.conductor
        self.node: PeerService | None = None
        self.signals: list[Signal] = []
        self.conductor.add_signal_listener(self.signals.append)
        self.stopped = False

    def install(self, bundle: bytes, app_id: str = "probe") -> CellId:
        app = self.conductor.install_app(bundle, app_id, None, None)
        return app.cell_id("main")

    @property
    def network(self) -> dict[str, Any]:
        return self.conductor.config.network

    async def start(self) -> PeerService:
        self.daemon.loop = asyncio.get_running_loop()
        node = await start_peer_service(self.daemon, self.daemon.home.path)
        if node is not None:
            self.daemon.services.append(node)
        assert node is not None
        self.node = node
        return node

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.daemon.stop()

    async def call(
        self,
        cell: CellId,
        fn: str,
        payload: Any = None,
        *,
        zome: str = "a",
        provenance: AgentPubKey | None = None,
        secret: bytes | None = None,
    ) -> Any:
        """A client call into a cell, on a worker thread (the guest may call the network)."""
        call = ZomeCall(cell, zome, fn, pack(payload), provenance or cell.agent, secret)
        return await self.daemon.in_worker(self.conductor.call_zome, call)

    async def grant(self, cell: CellId, grant: dict[str, Any] | None = None) -> bytes:
        return bytes(await self.call(cell, "make_grant", grant or UNRESTRICTED_ALL))

    async def call_remote(
        self,
        cell: CellId,
        agent: AgentPubKey,
        fn: str,
        payload: Any = None,
        *,
        zome: str = "a",
        secret: bytes | None = None,
        timeout_ms: int | None = None,
    ) -> Any:
        """Make ``cell``'s probe call ``agent`` over the network; the ZomeCallResponse."""
        arg: dict[str, Any] = {
            "agent": agent.raw,
            "zome_name": zome,
            "fn_name": fn,
            "cap_secret": secret,
            "payload": payload,
        }
        if timeout_ms is not None:
            arg["timeout_ms"] = timeout_ms
        return await self.call(cell, "call_remote_fn", arg)


def ok_value(response: Any) -> Any:
    assert isinstance(response, dict) and set(response) == {"Ok"}, response
    return unpack(response["Ok"])


@pytest.fixture
def peer_factory(tmp_path: Path, module_cache: Path) -> Iterator[Any]:
    """``peer_factory(name, network={...}) -> Peer`` (closed at the end if a test did not)."""
    peers: list[Peer] = []

    def make(name: str, network: dict[str, Any] | None = None) -> Peer:
        cfg = {"listen": "127.0.0.1:0", "refresh_interval_s": 0.5, **(network or {})}
        peer = Peer(name, make_home(tmp_path / f"home-{name}", module_cache, cfg))
        peers.append(peer)
        return peer

    yield make
    for p in peers:
        if not p.stopped:  # a test that failed before stopping: release the home at least
            p.stopped = True
            p.daemon.executor.shutdown(wait=False, cancel_futures=True)
            p.conductor.close()
            p.daemon.home.unlock()
