"""A swarm of real conductor processes on simulated hosts (network namespaces).

``Swarm`` builds N hosts (the first half public, the rest each behind its own NAT router)
with M ``zomehost run`` conductors each, every conductor running the probe app. Host 0 also
runs the services: ``zomehost bootstrap --port 7700 --relay-port 7701``; the first
conductor of host 1 (when public) relays too (``network.relay_server`` on port 7701), so
conductors register with two relays. Every conductor has ``reachable: auto``: the relays
tell it whether they can dial it, and only NATed ones list relays in their agent infos.
Conductors are driven with the Python client from a thread inside their host's namespace
(:class:`~swarm.netns.NsLoop`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from network.conftest import PASSPHRASE, make_home
from network.players import app_of, remote_from
from swarm.netns import Host, Net, NsLoop
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.codec import unpack
from zomehost.core.hash import CellId
from zomehost.testing import ConductorProcess
from zomehost.testing.process import ServiceProcess

BOOTSTRAP_PORT = 7700
RELAY_PORT = 7701
READY = ("admin_port", "network")  # a conductor is up once its peer transport listens
OPEN = {"tag": "open", "access": "Unrestricted", "functions": "All"}


@dataclass
class Node:
    """One conductor on one host."""

    name: str
    host: Host
    proc: ConductorProcess
    loop: NsLoop
    cell: CellId | None = None
    app: Any = None

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return self.loop.run(coro, timeout)


@dataclass
class Swarm:
    net: Net
    root: Path
    module_cache: Path
    probe_bundle: bytes
    hosts: int
    conductors: int
    nodes: list[Node] = field(default_factory=list)
    loops: dict[str, NsLoop] = field(default_factory=dict)
    services: ServiceProcess | None = None
    ready_at: float | None = None

    # -- building ---------------------------------------------------------------------------
    def build(self) -> None:
        for i in range(self.hosts):
            natted = self.hosts >= 3 and i >= (self.hosts + 1) // 2
            host = self.net.natted(f"h{i}") if natted else self.net.public(f"h{i}")
            self.loops[host.name] = NsLoop(host.ns)
        h0 = self.net.hosts["h0"]
        self.services = ServiceProcess(
            self.root,
            ["bootstrap", "--host", h0.address, "--port", str(BOOTSTRAP_PORT),
             "--relay-port", str(RELAY_PORT)],
            name="services",
            wrap=["ip", "netns", "exec", h0.ns],
        )  # fmt: skip
        self.services.launch()
        self.services.announced("relay")
        for host in self.net.hosts.values():
            for k in range(self.conductors):
                self._add_node(host, k)
        for node in self.nodes:
            node.proc.launch()
        for node in self.nodes:
            node.proc.wait_ready(READY, timeout=60)
        self.ready_at = time.monotonic()
        for node in self.nodes:
            node.call(self._open(node))

    @property
    def bootstrap_url(self) -> str:
        return f"http://{self.net.hosts['h0'].address}:{BOOTSTRAP_PORT}"

    @property
    def relays(self) -> list[str]:
        out = [f"{self.net.hosts['h0'].address}:{RELAY_PORT}"]
        h1 = self.net.hosts.get("h1")
        if h1 is not None and not h1.natted:
            out.append(f"{h1.address}:{RELAY_PORT}")
        return out

    def _add_node(self, host: Host, k: int) -> None:
        name = f"{host.name}c{k}"
        network: dict[str, Any] = {
            "listen": f"{host.address}:0",
            "bootstrap_url": self.bootstrap_url,
            "refresh_interval_s": 1.0,
            "call_timeout_ms": 10_000,
        }
        # Every conductor is configured alike: it learns from the relays whether it is
        # reachable (behind NAT it is not) and lists them in its agent infos only then.
        network.update({"reachable": "auto", "relays": self.relays})
        if host.name == "h1" and k == 0 and not host.natted:
            network["relay_server"] = {"listen": f"{host.address}:{RELAY_PORT}"}
        home = make_home(self.root / name, self.module_cache, network)
        c = Conductor.open(Home(home.path), PASSPHRASE)
        try:
            cell = c.install_app(self.probe_bundle, "probe", None, None).cell_id("main")
        finally:
            c.close()
        proc = ConductorProcess(
            home.path,
            self.root / f"{name}.log",
            name=name,
            passphrase=PASSPHRASE,
            wrap=["ip", "netns", "exec", host.ns],
        )
        self.nodes.append(Node(name, host, proc, self.loops[host.name], cell))

    async def _open(self, node: Node) -> None:
        node.app, cell = await app_of(node.proc)
        assert cell == node.cell
        await node.app.call_zome("a", "make_grant", OPEN, role_name="main")

    def close(self) -> None:
        for node in self.nodes:
            if node.app is not None:
                with contextlib.suppress(Exception):
                    node.call(node.app.close(), 5)
            if node.proc.running:
                node.proc.stop()
        if self.services is not None and self.services.running:
            self.services.stop()
        for loop in self.loops.values():
            loop.close()

    # -- driving ----------------------------------------------------------------------------
    def call(self, caller: Node, callee: Node, tag: str, timeout_ms: int = 5000) -> Any:
        assert callee.cell is not None
        return caller.call(
            remote_from(caller.app, callee.cell.agent, "echo", tag, timeout_ms=timeout_ms), 30
        )

    def reaches(self, caller: Node, callee: Node, tag: str = "ping") -> bool:
        res = self.call(caller, callee, tag)
        return isinstance(res, dict) and set(res) == {"Ok"} and unpack(res["Ok"]) == tag

    def restart(self, node: Node) -> None:
        """Stop a conductor and start it again (its listener gets a new port)."""
        node.call(node.app.close(), 5)
        node.proc.restart(ready=READY)
        node.call(self._open(node))

    def all_pairs(self) -> tuple[int, int, dict[str, list[float]], list[str]]:
        """Every conductor calls every other once: (ok, total, latencies in ms by kind,
        the pairs that failed or took over a second)."""
        ok = total = 0
        latency: dict[str, list[float]] = {kind: [] for kind in KINDS}
        slow: list[str] = []
        for caller in self.nodes:
            for callee in self.nodes:
                if callee is caller:
                    continue
                total += 1
                t0 = time.monotonic()
                reached = self.reaches(caller, callee)
                ms = (time.monotonic() - t0) * 1000
                if reached:
                    ok += 1
                    latency[kind_of(caller, callee)].append(ms)
                if not reached or ms > 1000:
                    slow.append(
                        f"{caller.name}→{callee.name} {'ok' if reached else 'FAILED'} {ms:.0f} ms"
                    )
        return ok, total, latency, slow

    def wait_until(self, what: str, check: Any, timeout: float = 90) -> float:
        """Seconds until ``check()`` holds (polled); AssertionError after ``timeout``."""
        t0 = time.monotonic()
        while not check():
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"{what}: not reached within {timeout} s")
            time.sleep(0.2)
        return time.monotonic() - t0


KINDS = ("direct", "relayed", "mixed")


def kind_of(caller: Node, callee: Node) -> str:
    """How a call travels: both public or on one host → direct; NATed on two hosts →
    relayed (neither can dial the other); public ↔ NATed → mixed (direct when the NATed
    one dialled first, as conductors reuse one connection per pair, else relayed)."""
    if caller.host is callee.host or not (caller.host.natted or callee.host.natted):
        return "direct"
    return "relayed" if caller.host.natted and callee.host.natted else "mixed"


def summary(latency: list[float]) -> str:
    if not latency:
        return "none"
    ordered = sorted(latency)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"p50 {statistics.median(ordered):.1f} ms, p90 {p90:.1f} ms (n={len(ordered)})"
