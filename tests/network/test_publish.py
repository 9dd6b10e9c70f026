"""Publishing on install and enable (issue 15.3): an app installed into a running conductor
is reachable by its peers as soon as the admin call that enabled it returns.

Real ``zomehost run`` processes whose periodic refresh is ten minutes away: only the
publishing the app change itself triggers can make the first remote call succeed. Once
with a bootstrap service (the record is published there), once with none (B dials A as a
static peer before it is ready, and the record is pushed over that connection).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home

from .conftest import PASSPHRASE, make_home
from .procs import Proc, app_of, client, ok, remote, run, write_network

pytestmark = pytest.mark.slow

NEVER = {"refresh_interval_s": 600, "call_timeout_ms": 10_000}


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


@pytest.mark.parametrize("discovery", ["bootstrap", "static peers"])
def test_an_app_installed_at_run_time_is_called_at_once(
    discovery: str,
    procs: list[Proc],
    tmp_path: Path,
    module_cache: Path,
    probe_bundle: bytes,
) -> None:
    for name in ("a", "b"):
        make_home(tmp_path / f"home-{name}", module_cache)
    c = Conductor.open(Home(tmp_path / "home-b"), PASSPHRASE)
    try:
        c.install_app(probe_bundle, "probe", None, None)
    finally:
        c.close()
    a = Proc("a", tmp_path / "home-a", ["run", "--admin-port", "0"], tmp_path / "a.log")
    b = Proc("b", tmp_path / "home-b", ["run", "--admin-port", "0"], tmp_path / "b.log")
    if discovery == "bootstrap":
        boot = Proc("boot", tmp_path, ["bootstrap", "--port", "0"], tmp_path / "boot.log")
        procs.append(boot)
        url = boot.start_service()
        write_network(a.home, {**NEVER, "bootstrap_url": url})
        write_network(b.home, {**NEVER, "bootstrap_url": url})
    else:
        write_network(a.home, NEVER)
    procs.append(a)
    a.start()
    a.wait_ready()
    if discovery != "bootstrap":
        write_network(b.home, {**NEVER, "peers": [a.network_address]})
    procs.append(b)
    b.start()
    b.wait_ready()

    async def main() -> None:
        app_b, _ = await app_of(b)
        admin = await client.AdminClient.connect(a.admin_url)
        await admin.install_app(bundle=probe_bundle, installed_app_id="fresh")
        await admin.enable_app("fresh")
        await admin.close()
        app_a, cell = await app_of(a, "fresh")
        grant = {"tag": "open", "access": "Unrestricted", "functions": "All"}
        await app_a.call_zome("a", "make_grant", grant, role_name="main")
        # The very first call from B to the new agent: no retry, no waiting.
        assert ok(await remote(app_b, cell.agent, "echo", "first")) == "first"
        # Disabling takes it off this conductor at once (the stale record leads nowhere).
        admin = await client.AdminClient.connect(a.admin_url)
        await admin.disable_app("fresh")
        await admin.close()
        gone = await remote(app_b, cell.agent, "echo", "after")
        assert "does not run" in gone["NetworkError"]
        await app_a.close()
        await app_b.close()

    run(main())
