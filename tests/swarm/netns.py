"""Simulated hosts on Linux network namespaces: a public network, hosts on it, and hosts
behind their own masquerading NAT router.

``Net`` builds (all names start with a per-run prefix, so parallel runs and leftovers
never collide)::

    core namespace:  bridge br0 — the "internet" (10.77.0.0/24, private addresses only)
    public host i:   veth to br0, 10.77.0.(10+i)
    NATed host j:    its own router namespace (WAN veth to br0, 10.77.0.(100+j);
                     LAN veth 192.168.(j+1).1) with iptables MASQUERADE and no inbound
                     forwarding; the host is 192.168.(j+1).2 behind it

Processes run in a host with ``ip netns exec``; the test process talks to them from a
thread that entered the namespace (:class:`NsLoop`: ``setns`` then its own asyncio loop), so
their loopback-only admin interfaces are reachable. :meth:`Net.close` deletes every
namespace it made (their veths and bridge go with them), and runs even when a test fails
(context manager, plus a sweep of leftovers from dead runs). Needs root, ``ip`` and
``iptables`` (``scripts/bootstrap`` installs ``iproute2`` and ``iptables``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
BASE = "zsw"
CORE_NET = "10.77.0"


def available() -> str | None:
    """Why namespaces cannot be built here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (scripts/bootstrap installs iproute2 and iptables)"
    return None


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


def in_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *args, check=check)


def sweep_leftovers() -> None:
    """Delete namespaces of earlier runs whose process is gone (a crash, a kill -9)."""
    out = sh("ip", "netns", "list", check=False).stdout
    for name in re.findall(rf"^({BASE}(\d+)x\S*)", out, flags=re.M):
        ns, pid = name[0], int(name[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sh("ip", "netns", "del", ns, check=False)


@dataclass
class Host:
    name: str
    ns: str
    address: str  # its own address (public, or private behind its NAT)
    natted: bool
    router: str | None = None  # the router namespace of a NATed host
    core_link: str = ""  # its (or its router's) interface in the core namespace


@dataclass
class Net:
    prefix: str = field(default_factory=lambda: f"{BASE}{os.getpid()}x{os.urandom(2).hex()}")
    hosts: dict[str, Host] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    _links: int = 0

    def __enter__(self) -> Net:
        sweep_leftovers()
        self.core = self._ns("c")
        in_ns(self.core, "ip", "link", "add", "br0", "type", "bridge")
        in_ns(self.core, "ip", "link", "set", "br0", "up")
        in_ns(self.core, "ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()

    def leftovers(self) -> list[str]:
        """Namespaces with this run's prefix that still exist (none after :meth:`close`)."""
        out = sh("ip", "netns", "list", check=False).stdout
        return [line.split()[0] for line in out.splitlines() if line.startswith(self.prefix)]

    def _ns(self, suffix: str) -> str:
        ns = f"{self.prefix}{suffix}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
        return ns

    def _to_core(self, ns: str, address: str) -> str:
        """A veth from ``ns`` (as eth0, with ``address``/24) to the core bridge."""
        self._links += 1
        outer = f"{BASE}l{self._links}{os.urandom(2).hex()}"  # ≤ 15 characters
        sh(
            "ip",
            "link",
            "add",
            outer,
            "netns",
            self.core,
            "type",
            "veth",
            "peer",
            "eth0",
            "netns",
            ns,
        )
        in_ns(self.core, "ip", "link", "set", outer, "master", "br0", "up")
        in_ns(ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        in_ns(ns, "ip", "link", "set", "eth0", "up")
        return outer

    def public(self, name: str) -> Host:
        ns = self._ns(f"h{len(self.hosts)}")
        address = f"{CORE_NET}.{10 + len(self.hosts)}"
        host = Host(name, ns, address, natted=False)
        host.core_link = self._to_core(ns, address)
        self.hosts[name] = host
        return host

    def natted(self, name: str) -> Host:
        """A host behind its own NAT router (masquerading, nothing forwarded inbound)."""
        j = len(self.hosts)
        router = self._ns(f"r{j}")
        ns = self._ns(f"h{j}")
        lan = f"192.168.{j + 1}"
        wan_link = self._to_core(router, f"{CORE_NET}.{100 + j}")
        sh(
            "ip",
            "link",
            "add",
            "lan0",
            "netns",
            router,
            "type",
            "veth",
            "peer",
            "eth0",
            "netns",
            ns,
        )
        in_ns(router, "ip", "addr", "add", f"{lan}.1/24", "dev", "lan0")
        in_ns(router, "ip", "link", "set", "lan0", "up")
        in_ns(ns, "ip", "addr", "add", f"{lan}.2/24", "dev", "eth0")
        in_ns(ns, "ip", "link", "set", "eth0", "up")
        in_ns(ns, "ip", "route", "add", "default", "via", f"{lan}.1")
        in_ns(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ipt = ("iptables", "-w")
        in_ns(router, *ipt, "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE")
        in_ns(router, *ipt, "-P", "FORWARD", "DROP")
        in_ns(router, *ipt, "-A", "FORWARD", "-i", "lan0", "-o", "eth0", "-j", "ACCEPT")
        in_ns(
            router, *ipt, "-A", "FORWARD", "-i", "eth0", "-o", "lan0",
            "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT",
        )  # fmt: skip
        host = Host(name, ns, f"{lan}.2", natted=True, router=router, core_link=wan_link)
        self.hosts[name] = host
        return host

    def partition(self, host: Host, cut: bool) -> None:
        """Cut a host (or its router) off the core network, or join it again."""
        in_ns(self.core, "ip", "link", "set", host.core_link, "down" if cut else "up")


class NsLoop:
    """An asyncio loop on a thread that lives in one network namespace."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"ns-{ns}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{self.ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {self.ns} failed")
            finally:
                os.close(fd)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        asyncio.set_event_loop(self.loop)
        self._ready.set()
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
