"""Conductors on simulated hosts (issue 15.5): NATed ↔ public and NATed ↔ NATed remote calls
and signals through relays, then recovery after churn, the bootstrap's death (with an
agent moving while it is down) and a partition.

A few hosts in CI (``SWARM_HOSTS`` x ``SWARM_CONDUCTORS``, default 4 x 1); ``just swarm``
runs 6 x 2 (up to 12 x 2) and prints the figures. Every namespace is deleted afterwards,
also when a test fails (checked by the last test).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarm.netns import Net, available
from swarm.swarm import Swarm, summary

pytestmark = pytest.mark.slow

HOSTS = int(os.environ.get("SWARM_HOSTS", "4"))
CONDUCTORS = int(os.environ.get("SWARM_CONDUCTORS", "1"))
REASON = available()
if REASON is not None:  # pragma: no cover - the project's machines are root with iproute2
    raise RuntimeError(f"the swarm tests cannot run here: {REASON}")


async def can_dial(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def wait_signal(app: Any, expected: Any) -> None:
    end = time.monotonic() + 15
    while (await app.next_signal(max(0.1, end - time.monotonic()))).payload != expected:
        pass


def report(line: str) -> None:
    print(f"swarm: {line}", flush=True)


@pytest.fixture(scope="module")
def swarm(
    tmp_path_factory: pytest.TempPathFactory, module_cache: Path, probe_bundle: bytes
) -> Iterator[Swarm]:
    with Net() as net:
        s = Swarm(
            net, tmp_path_factory.mktemp("swarm"), module_cache, probe_bundle, HOSTS, CONDUCTORS
        )
        started = time.monotonic()
        try:
            s.build()
            report(
                f"{HOSTS} hosts x {CONDUCTORS} conductors up in {time.monotonic() - started:.1f} s"
            )
            yield s
        finally:
            s.close()
    assert net.leftovers() == []


def test_discovery_then_all_pairs(swarm: Swarm) -> None:
    """From the moment every conductor is ready: rounds of all-pairs calls until one has
    every call Ok; then one more round for the latencies."""
    rounds = 0

    def complete() -> bool:
        nonlocal rounds
        rounds += 1
        t0 = time.monotonic()
        ok, total, _, slow = swarm.all_pairs()
        report(f"round {rounds}: {ok}/{total} Ok in {time.monotonic() - t0:.1f} s {slow[:6]}")
        return ok == total

    assert swarm.ready_at is not None
    swarm.wait_until("all pairs", complete)
    report(
        f"discovery: every pair Ok in a round that ended "
        f"{time.monotonic() - swarm.ready_at:.1f} s after all conductors were ready"
    )
    ok, total, latency, _ = swarm.all_pairs()
    assert ok == total
    report(f"all pairs: {ok}/{total} Ok")
    for kind, values in latency.items():
        report(f"latency {kind} (client → caller → callee → back): {summary(values)}")


def test_natted_and_public_conductors_call_and_signal_each_other(swarm: Swarm) -> None:
    public = [n for n in swarm.nodes if not n.host.natted]
    natted = [n for n in swarm.nodes if n.host.natted]
    assert public and len(natted) >= 2
    a, x, y = public[0], natted[0], natted[-1]
    assert x.host is not y.host
    # The NATed ones learned it from the relays: only they list relays.
    listed = x.proc.endpoints["network"]["relays"]  # at start: those up by then
    assert listed and set(listed) <= set(swarm.relays)
    assert a.proc.endpoints["network"]["relays"] == []
    # Nobody outside can dial a NATed conductor's own address; it can dial out.
    assert not a.call(can_dial(x.proc.network_address))
    assert x.call(can_dial(a.proc.network_address))
    t = swarm.wait_until("discovery", lambda: swarm.reaches(a, x) and swarm.reaches(x, y))
    report(f"public → NATed and NATed → NATed reached after {t:.1f} s")
    assert swarm.reaches(x, a) and swarm.reaches(y, x) and swarm.reaches(a, y)
    # A remote signal from a public conductor reaches a NATed conductor's UI, and back.
    for sender, recipient in ((a, x), (y, a)):
        value = {"from": sender.name}
        sender.call(
            sender.app.call_zome(
                "a",
                "remote_signal",
                {"agents": [recipient.cell.agent.raw], "value": value},  # type: ignore[union-attr]
                role_name="main",
            )
        )

        recipient.call(wait_signal(recipient.app, value))


def test_recovery_after_churn_bootstrap_death_and_partition(swarm: Swarm) -> None:

    observer = swarm.nodes[0]
    public = [n for n in swarm.nodes if not n.host.natted and n is not observer]
    natted = [n for n in swarm.nodes if n.host.natted]

    # Churn: a NATed conductor restarts (new port, new relay registrations).
    moved = natted[-1]
    t0 = time.monotonic()
    swarm.restart(moved)
    t = swarm.wait_until("churn", lambda: swarm.reaches(observer, moved))
    report(
        f"churn: a restarted NATed conductor reached again {time.monotonic() - t0:.1f} s "
        f"after its stop ({t:.1f} s after it was ready)"
    )

    # The bootstrap (and its relay) dies; a public conductor moves while it is down.
    assert swarm.services is not None
    swarm.services.kill()
    mover = public[-1] if public else natted[0]
    t0 = time.monotonic()
    swarm.restart(mover)
    t = swarm.wait_until(
        "bootstrap death",
        lambda: swarm.reaches(observer, mover) and swarm.reaches(mover, natted[0]),
    )
    report(
        f"bootstrap dead, a conductor moved: reached again {time.monotonic() - t0:.1f} s "
        f"after its stop ({t:.1f} s after it was ready)"
    )

    # A partition: one NATed host is cut off the network, then joined again.
    cut = natted[0]
    swarm.net.partition(cut.host, True)
    assert not swarm.reaches(observer, cut, "cut off")
    swarm.net.partition(cut.host, False)
    t = swarm.wait_until(
        "partition", lambda: swarm.reaches(observer, cut) and swarm.reaches(cut, observer)
    )
    report(f"partition healed: reached again {t:.1f} s after the link came back")


def test_every_namespace_is_removed_even_when_a_test_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), Net() as net:
        net.public("p")
        net.natted("n")
        assert len(net.leftovers()) == 4
        raise RuntimeError("boom")
    assert net.leftovers() == []
