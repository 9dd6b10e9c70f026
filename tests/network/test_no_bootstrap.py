"""The bootstrap as an accelerator, not a requirement (issue 15.2), with real processes.

Three ``zomehost run`` conductors configured with two bootstrap URLs, one of which never
answers. Once they know each other, the live bootstrap is killed; C then restarts on a new
address. C starts from its peer store, dials its peers and gossips its new record: A and B
reach C at the new address, and C reaches them, with no bootstrap alive.
"""

from __future__ import annotations

import socket
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


def dead_url() -> str:
    """An http URL on a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def test_a_moved_agent_is_found_after_the_bootstrap_died(
    procs: list[Proc], tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    boot = Proc("boot", tmp_path, ["bootstrap", "--port", "0"], tmp_path / "boot.log")
    procs.append(boot)
    url = boot.start_service()
    network = {"bootstrap_urls": [dead_url(), url], "refresh_interval_s": 0.5}
    cells: dict[str, CellId] = {}
    nodes: dict[str, Proc] = {}
    for name in ("a", "b", "c"):
        home = make_home(tmp_path / f"home-{name}", module_cache)
        c = Conductor.open(Home(home.path), PASSPHRASE)
        try:
            cells[name] = c.install_app(probe_bundle, "probe", None, None).cell_id("main")
        finally:
            c.close()
        write_network(home.path, network)
        nodes[name] = Proc(name, home.path, ["run", "--admin-port", "0"], tmp_path / f"{name}.log")
        procs.append(nodes[name])
        nodes[name].start()
    for p in nodes.values():
        p.wait_ready()
    c = nodes["c"]

    async def grant_all() -> None:
        for x in nodes.values():
            app, _ = await app_of(x)
            await app.call_zome("a", "make_grant", OPEN, role_name="main")
            await app.close()

    async def all_pairs(tag: str) -> None:
        for x in nodes.values():
            app, _ = await app_of(x)
            for name, cell in cells.items():
                if nodes[name] is not x:
                    assert ok(await remote(app, cell.agent, "echo", tag)) == tag, (x.name, name)
            await app.close()

    run(grant_all())
    run(all_pairs("through the bootstrap"))
    boot.kill()
    old = c.network_address
    c.stop()
    c.start()
    c.wait_ready()
    assert c.network_address != old
    run(all_pairs("through gossip"))
