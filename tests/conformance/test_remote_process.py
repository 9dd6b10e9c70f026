"""Conformance across processes: a remote call from one conductor to another ``zomehost run``
process, over the network (encrypted transport, static peer), with each language's probe.

Per language: conductor B is a ``zomehost run`` subprocess whose probe cell granted a
transferable capability for ``a.echo`` and ``a.caller``; conductor A runs in this process
(the daemon and its network node on the test's event loop) and its probe calls B's through
``call_remote_fn``. The normalised transcripts of both languages must be equal.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSPHRASE, fast_home, seed_cache
from zomehost.conductor.conductor import Conductor
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCall
from zomehost.p2p.service import start_peer_service
from zomehost.runtime.daemon import Daemon
from zomehost.testing import ConductorProcess
from zomehost.testing.process import set_network

from .conftest import LANGS
from .transcript import Transcript

pytestmark = pytest.mark.slow

ZOMEHOST = Path(sys.executable).parent / "zomehost"
FUNCTIONS = {"Listed": [["a", "echo"], ["a", "caller"]]}


class Remote:
    """Conductor B: the probe app installed and granted, then served by ``zomehost run``."""

    def __init__(self, root: Path, bundle: bytes, cache: Path) -> None:
        self.home = fast_home(root / "home-b")
        seed_cache(self.home, cache)
        set_network(self.home.path, {"listen": "127.0.0.1:0", "refresh_interval_s": 0.5})
        c = Conductor.open(self.home, PASSPHRASE)
        try:
            self.cell: CellId = c.install_app(bundle, "probe", None, None).cell_id("main")

            def call(fn: str, payload: Any) -> Any:
                return c.call_zome(ZomeCall(self.cell, "a", fn, pack(payload), self.cell.agent))

            self.secret = bytes(call("new_secret", None))
            grant = {
                "tag": "remote",
                "access": {"Transferable": {"secret": self.secret}},
                "functions": FUNCTIONS,
            }
            self.grant = bytes(call("make_grant", grant))
        finally:
            c.close()
        self.process = ConductorProcess(self.home.path, root / "b.log", passphrase=PASSPHRASE)

    @property
    def address(self) -> str:
        return self.process.network_address

    def start(self) -> None:
        self.process.start(ready=("admin_port", "network"))

    def stop(self) -> None:
        if self.process.running:
            self.process.stop()


async def scenario(a: Daemon, cell_a: CellId, b: Remote, t: Transcript) -> None:
    node = await start_peer_service(a, a.home.path)
    if node is not None:
        a.services.append(node)
    assert node is not None
    end = time.monotonic() + 20
    while node.directory.get(b.cell.dna_hash, b.cell.agent) is None:
        assert time.monotonic() < end, "conductor A never learned B's agent"
        await asyncio.sleep(0.05)

    async def remote(label: str, fn: str, payload: Any = None, secret: Any = None) -> Any:
        arg = {
            "agent": b.cell.agent.raw,
            "zome_name": "a",
            "fn_name": fn,
            "cap_secret": secret,
            "payload": payload,
        }
        call = ZomeCall(cell_a, "a", "call_remote_fn", pack(arg), cell_a.agent)
        return t.note(label, await a.in_worker(a.conductor.call_zome, call))

    res = await remote("echo", "echo", "across processes", b.secret)
    assert unpack(res["Ok"]) == "across processes"
    info = unpack((await remote("caller", "caller", None, b.secret))["Ok"])
    assert info["provenance"] == cell_a.agent.raw
    assert info["cap_grant"]["RemoteAgent"]["action_hash"] == b.grant
    assert set(await remote("no secret", "echo", "x")) == {"Unauthorized"}
    assert set(await remote("wrong secret", "echo", "x", bytes(64))) == {"Unauthorized"}
    assert set(await remote("not granted", "whoami", None, b.secret)) == {"Unauthorized"}
    stranger = AgentPubKey(b"\x84\x20\x24" + bytes(36))
    t.norm.name(stranger.raw, "agent:stranger")
    arg = {"agent": stranger.raw, "zome_name": "a", "fn_name": "echo", "payload": "x"}
    call = ZomeCall(cell_a, "a", "call_remote_fn", pack(arg), cell_a.agent)
    t.note("unknown agent", await a.in_worker(a.conductor.call_zome, call))


@pytest.fixture(scope="module")
def process_transcripts() -> dict[str, Any]:
    return {}


@pytest.fixture
def remote_b(
    lang: str,
    tmp_path: Path,
    probe_bundles: dict[str, bytes],
    conformance_cache: Path,
) -> Iterator[Remote]:
    b = Remote(tmp_path, probe_bundles[lang], conformance_cache)
    try:
        b.start()
        yield b
    finally:
        b.stop()


@pytest.mark.parametrize("lang", LANGS)
def test_remote_call_to_another_process(
    lang: str,
    remote_b: Remote,
    tmp_path: Path,
    probe_bundles: dict[str, bytes],
    conformance_cache: Path,
    process_transcripts: dict[str, Any],
) -> None:
    home_a = fast_home(tmp_path / "home-a")
    seed_cache(home_a, conformance_cache)
    set_network(
        home_a.path,
        {"listen": "127.0.0.1:0", "refresh_interval_s": 0.5, "peers": [remote_b.address]},
    )
    a = Daemon(home_a, PASSPHRASE)
    cell_a = a.conductor.install_app(probe_bundles[lang], "probe", None, None).cell_id("main")
    t = Transcript()
    t.norm.name(cell_a.agent.raw, "agent:a")
    t.norm.name(remote_b.cell.agent.raw, "agent:b")
    t.norm.name(cell_a.dna_hash.raw, "dna")

    async def main() -> None:
        a.loop = asyncio.get_running_loop()
        try:
            await scenario(a, cell_a, remote_b, t)
        finally:
            await a.stop()

    asyncio.run(main())
    process_transcripts[lang] = t.as_dict()
    if len(process_transcripts) == len(LANGS):
        rust, other = process_transcripts["rust"], process_transcripts["assemblyscript"]
        assert rust == other, f"the probes differ across processes:\n{rust}\n{other}"
