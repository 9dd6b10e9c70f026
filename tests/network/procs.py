"""Real ``zomehost`` processes for the multi-process network tests, and the client calls
those tests make through them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, CellId

from .conftest import PASSPHRASE

client = pytest.importorskip("zomehost.client")
ZOMEHOST = Path(sys.executable).parent / "zomehost"


@dataclass
class Proc:
    """One ``zomehost`` subprocess on a home."""

    name: str
    home: Path
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    endpoints: dict[str, Any] = field(default_factory=dict)
    app_port: int | None = None
    wrap: list[str] = field(default_factory=list)
    """A command the process runs under (e.g. ``ip netns exec NS``)."""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
        env["ZOMEHOST_PASSPHRASE"] = PASSPHRASE
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.wrap, str(ZOMEHOST), "--home", str(self.home), *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
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
            assert self.proc is not None and self.proc.poll() is None, text
            time.sleep(0.05)

    def wait_ready(
        self, keys: tuple[str, ...] = ("admin_port", "network"), timeout: float = 30
    ) -> None:
        assert self.proc is not None
        end = time.monotonic() + timeout
        run_json = self.home / "run.json"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            try:
                doc = json.loads(run_json.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                doc = {}
            if doc.get("pid") == self.proc.pid and all(k in doc for k in keys):
                self.endpoints = doc
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    @property
    def admin_url(self) -> str:
        return f"ws://127.0.0.1:{self.endpoints['admin_port']}"

    @property
    def network_address(self) -> str:
        """Where the node really listens (its agent infos may advertise another address)."""
        return str(self.endpoints["network"]["listen"])

    @property
    def transport_id(self) -> bytes:
        return bytes.fromhex(self.endpoints["network"]["transport_id"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)


def write_network(home: Path, network: dict[str, Any]) -> None:
    cfg = home / "conductor-config.yaml"
    doc = yaml.safe_load(cfg.read_text()) or {}
    doc["network"] = network
    cfg.write_text(yaml.safe_dump(doc))


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
