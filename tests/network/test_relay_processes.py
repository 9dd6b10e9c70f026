"""Relays with real processes: ``zomehost bootstrap --relay-port`` and ``zomehost relay``.

Conductor B advertises a dead address and registers with both relays; A finds B through
the bootstrap and calls it (and signals it) through the first relay. Then the bootstrap
process, and its relay with it, is killed: A's next call goes through the second relay.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.hash import CellId

from .conftest import PASSPHRASE, make_home
from .procs import Proc, app_of, ok, remote, run, write_network

pytestmark = pytest.mark.slow

OPEN = {"tag": "open", "access": "Unrestricted", "functions": "All"}


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def test_calls_and_signals_through_relay_processes_and_fallback(
    procs: list[Proc], tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    boot = Proc(
        "boot", tmp_path, ["bootstrap", "--port", "0", "--relay-port", "0"], tmp_path / "b.log"
    )
    relay2 = Proc("relay2", tmp_path, ["relay", "--port", "0"], tmp_path / "r2.log")
    procs += [boot, relay2]
    url = boot.start_service()
    relay1 = boot.announced("relay listening on")
    address2 = relay2.start_service()
    cells: dict[str, CellId] = {}
    for name in ("a", "b"):
        home = make_home(tmp_path / f"home-{name}", module_cache)
        c = Conductor.open(Home(home.path), PASSPHRASE)
        try:
            cells[name] = c.install_app(probe_bundle, "probe", None, None).cell_id("main")
        finally:
            c.close()
    common = {"bootstrap_url": url, "refresh_interval_s": 0.5}
    write_network(tmp_path / "home-a", common)
    write_network(
        tmp_path / "home-b",
        {**common, "advertise": "127.0.0.1:1", "reachable": False, "relays": [relay1, address2]},
    )
    a = Proc("a", tmp_path / "home-a", ["run", "--admin-port", "0"], tmp_path / "a.log")
    b = Proc("b", tmp_path / "home-b", ["run", "--admin-port", "0"], tmp_path / "b-run.log")
    procs += [a, b]
    a.start()
    b.start()
    a.wait_ready()
    b.wait_ready()
    assert b.endpoints["network"]["relays"] == [relay1, address2]

    async def through_first() -> None:
        app_a, _ = await app_of(a)
        app_b, cb = await app_of(b)
        await app_b.call_zome("a", "make_grant", OPEN, role_name="main")
        assert ok(await remote(app_a, cb.agent, "echo", "relayed")) == "relayed"
        value = {"via": "relay"}
        await app_a.call_zome(
            "a", "remote_signal", {"agents": [cb.agent.raw], "value": value}, role_name="main"
        )
        end = time.monotonic() + 10
        while (await app_b.next_signal(max(0.1, end - time.monotonic()))).payload != value:
            pass
        await app_a.close()
        await app_b.close()

    async def through_second() -> None:
        app_a, _ = await app_of(a)
        assert ok(await remote(app_a, cells["b"].agent, "echo", "fallback")) == "fallback"
        await app_a.close()

    run(through_first())
    boot.kill()
    run(through_second())
