"""Real ``zomehost`` processes for the multi-process network tests, and the client calls
those tests make through them."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.testing.process import ConductorProcess, set_network

from .conftest import PASSPHRASE

client = pytest.importorskip("zomehost.client")


class Proc:
    """One ``zomehost`` subprocess on a home (``zomehost.testing`` runs it): a conductor
    (``run``) found through its run.json, or a service (bootstrap, relay) through its log."""

    def __init__(
        self, name: str, home: Path, args: list[str], log: Path, wrap: Sequence[str] = ()
    ) -> None:
        """``wrap``: a command the process runs under (e.g. ``ip netns exec NS``)."""
        self.name, self.home, self.args, self.log = name, home, args, log
        self.process = ConductorProcess(home, log, name=name, passphrase=PASSPHRASE, wrap=wrap)
        self.app_port: int | None = None

    def start(self) -> None:
        self.process.endpoints = {}
        self.process.spawn(["--home", str(self.home), *self.args])
        self.app_port = None

    def start_service(self, timeout: float = 20) -> str:
        """Start a service command (bootstrap, relay); the address its log line announces."""
        self.start()
        return self.announced("listening on", timeout)

    def announced(self, what: str, timeout: float = 20) -> str:
        """The last word of the first log line containing ``what`` (waiting for it)."""
        end = time.monotonic() + timeout
        while True:
            text = self.log.read_text() if self.log.exists() else ""
            for line in text.splitlines():
                if what in line:
                    return line.rsplit(" ", 1)[1]
            assert time.monotonic() < end, text
            assert self.process.running, text
            time.sleep(0.05)

    def wait_ready(
        self, keys: tuple[str, ...] = ("admin_port", "network"), timeout: float = 30
    ) -> None:
        self.process.wait_ready(keys, timeout)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.process.proc

    @property
    def endpoints(self) -> dict[str, Any]:
        return self.process.endpoints

    @property
    def admin_url(self) -> str:
        return self.process.admin_url

    @property
    def network_address(self) -> str:
        """Where the node really listens (its agent infos may advertise another address)."""
        return self.process.network_address

    @property
    def transport_id(self) -> bytes:
        return self.process.transport_id

    def stop(self) -> None:
        if self.process.running:
            self.process.stop(timeout=15)

    def kill(self) -> None:
        self.process.kill()


write_network = set_network


async def app_of(proc: Proc, app_id: str = "probe") -> tuple[Any, CellId]:
    """An authenticated app client on ``proc`` with signing credentials for an app's cell."""
    admin = await client.AdminClient.connect(proc.admin_url)
    try:
        if proc.app_port is None:
            proc.app_port = await admin.attach_app_interface()
        token = await admin.issue_app_authentication_token(app_id)
        app = await client.AppClient.connect(f"ws://127.0.0.1:{proc.app_port}", token)
        cell = app.cell_id("main")
        await admin.authorize_signing_credentials(cell)
    finally:
        await admin.close()
    return app, cell


async def remote(app: Any, agent: AgentPubKey, fn: str, payload: Any = None, **kw: Any) -> Any:
    arg = {"agent": agent.raw, "zome_name": "a", "fn_name": fn, "payload": payload, **kw}
    return await app.call_zome("a", "call_remote_fn", arg, role_name="main")


def ok(res: Any) -> Any:
    assert isinstance(res, dict) and set(res) == {"Ok"}, res
    return unpack(res["Ok"])


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))
