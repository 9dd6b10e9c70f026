"""Two conductors in separate processes, talking only through the encrypted peer transport.

Real ``zomehost run`` processes (and a real ``zomehost bootstrap`` process for discovery);
the test drives them through their admin and app interfaces with the Python client. Conductor
B advertises the address of a recording TCP relay, so every byte between A and B passes
through the test, which checks that no plaintext is on the wire.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call
from zomehost.network import protocol
from zomehost.network.transport import Transport

from .conftest import PASSPHRASE, make_home
from .procs import Proc, app_of, ok, remote, run, write_network
from .relay import RelayThread

pytestmark = pytest.mark.slow

client = pytest.importorskip("zomehost.client")
MARKER = "SECRET-PLAINTEXT-31337"
ZOMEHOST = Path(sys.executable).parent / "zomehost"


@dataclass
class Cluster:
    bootstrap_url: str
    relay: RelayThread
    a: Proc
    b: Proc
    cell_a: CellId
    cell_b: CellId
    b_network: dict[str, Any]


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, module_cache: Path, probe_bundle: bytes
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("mp")
    boot = Proc("bootstrap", root, ["bootstrap", "--port", "0"], root / "bootstrap.log")
    url = boot.start_service()

    relay = RelayThread()
    cells = {}
    for name in ("a", "b"):
        home = make_home(root / f"home-{name}", module_cache)
        c = Conductor.open(Home(home.path), PASSPHRASE)
        try:
            cells[name] = c.install_app(probe_bundle, "probe", None, None).cell_id("main")
        finally:
            c.close()
    common = {"bootstrap_url": url, "refresh_interval_s": 0.5, "call_timeout_ms": 15_000}
    b_network = {**common, "advertise": relay.address}  # peers reach B only through the relay
    write_network(root / "home-a", common)
    write_network(root / "home-b", b_network)
    a = Proc("a", root / "home-a", ["run", "--admin-port", "0"], root / "a.log")
    b = Proc("b", root / "home-b", ["run", "--admin-port", "0"], root / "b.log")
    a.start()
    b.start()
    try:
        a.wait_ready()
        b.wait_ready()
        relay.set_target(b.network_address)
        yield Cluster(url, relay, a, b, cells["a"], cells["b"], b_network)
    finally:
        for p in (a, b, boot):
            p.stop()
        relay.close()


def test_remote_call_results_across_processes(cluster: Cluster) -> None:
    async def main() -> None:
        app_a, ca = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        assert ca == cluster.cell_a and cb == cluster.cell_b
        # Unauthorized: B has granted nothing yet.
        res = await remote(app_a, cb.agent, "echo", MARKER)
        assert set(res) == {"Unauthorized"}
        assert res["Unauthorized"]["provenance"] == ca.agent.raw
        # Ok, with a transferable secret covering listed functions.
        secret = await app_b.call_zome("a", "new_secret", None, role_name="main")
        grant = {
            "tag": "friends",
            "access": {"Transferable": {"secret": secret}},
            "functions": {
                "Listed": [["a", "echo"], ["a", "spin"], ["a", "call_remote_fn"], ["a", "caller"]]
            },
        }
        await app_b.call_zome("a", "make_grant", grant, role_name="main")
        t0 = time.monotonic()
        assert ok(await remote(app_a, cb.agent, "echo", MARKER, cap_secret=secret)) == MARKER
        first_ms = (time.monotonic() - t0) * 1000
        t0 = time.monotonic()
        for _ in range(10):
            ok(await remote(app_a, cb.agent, "echo", MARKER, cap_secret=secret))
        rtt_ms = (time.monotonic() - t0) * 100
        print(
            f"\nfirst remote call {first_ms:.1f} ms, then {rtt_ms:.1f} ms per call "
            "(client → A → relay → B → A → client)"
        )
        # A wrong secret, and a function the grant does not list.
        bad = await remote(app_a, cb.agent, "echo", "x", cap_secret=os.urandom(64))
        assert set(bad) == {"Unauthorized"}
        assert set(await remote(app_a, cb.agent, "whoami", None, cap_secret=secret)) == {
            "Unauthorized"
        }
        # NetworkError, promptly, for an agent nobody knows.
        t0 = time.monotonic()
        stranger = AgentPubKey.from_core(os.urandom(32))
        res = await remote(app_a, stranger, "echo", "x")
        assert "unknown" in res["NetworkError"]
        assert time.monotonic() - t0 < 3
        # Nested A -> B -> A (A grants B in turn).
        await app_a.call_zome(
            "a",
            "make_grant",
            {"tag": "open", "access": "Unrestricted", "functions": "All"},
            role_name="main",
        )
        inner = {"agent": ca.agent.raw, "zome_name": "b", "fn_name": "echo", "payload": MARKER}
        nested = await asyncio.gather(
            *(remote(app_a, cb.agent, "call_remote_fn", inner, cap_secret=secret) for _ in range(8))
        )
        for res in nested:
            assert ok(ok(res)) == MARKER
        # The per-call timeout: B spins, A gives up after 1 s with a NetworkError.
        t0 = time.monotonic()
        res = await remote(app_a, cb.agent, "spin", None, cap_secret=secret, timeout_ms=1000)
        assert "timed out" in res.get("NetworkError", "") or "Timeout" in res.get("CallError", "")
        assert time.monotonic() - t0 < 4
        await app_a.close()
        await app_b.close()

    run(main())
    # Everything between A and B went through the relay, encrypted.
    wire = cluster.relay.recorded()
    assert len(wire) > 2000
    assert MARKER.encode() not in wire
    for plain in (b"echo", b"call_remote_fn", b"friends", b"provenance", b"Unauthorized"):
        assert plain not in wire, plain


def test_remote_signal_reaches_the_recipients_ui(cluster: Cluster) -> None:
    async def main() -> None:
        app_a, _ = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        await app_b.call_zome(
            "a",
            "make_grant",
            {
                "tag": "signals",
                "access": "Unrestricted",
                "functions": {"Listed": [["a", "recv_remote_signal"]]},
            },
            role_name="main",
        )
        value = {"note": MARKER, "n": 7}
        await app_a.call_zome(
            "a", "remote_signal", {"agents": [cb.agent.raw], "value": value}, role_name="main"
        )
        end = time.monotonic() + 10
        while True:
            sig = await app_b.next_signal(max(0.1, end - time.monotonic()))
            if sig.payload == value:
                break
        assert sig.cell_id == cb and sig.zome_name == "a"
        await app_a.close()
        await app_b.close()

    run(main())
    assert MARKER.encode() not in cluster.relay.recorded()


def test_forged_and_replayed_calls_across_processes(cluster: Cluster) -> None:
    """The test process as a third peer: it connects to B and sends signed calls by hand."""

    async def main() -> None:
        rogue = Transport(
            SigningKey.generate(),
            on_request=lambda c, r: asyncio.sleep(0),
            on_message=lambda c, m: asyncio.sleep(0),
        )
        # The wrong identity: B's address, but expecting A's transport key.
        from zomehost.network.errors import PeerUnreachable

        with pytest.raises(PeerUnreachable, match="identity"):
            await rogue.connect(cluster.b.network_address, cluster.a.transport_id)
        conn = await rogue.connect(cluster.b.network_address, cluster.b.transport_id)
        me = SigningKey.generate()
        agent = AgentPubKey.from_core(bytes(me.verify_key))
        params = ZomeCallParams(
            agent,
            cluster.cell_b,
            "a",
            "echo",
            None,
            pack("x"),
            new_nonce(),
            now_micros() + 60_000_000,
        )
        data, sig = sign_call(params, me)
        body = {"params": data, "signature": sig, "timeout_ms": 5000, "depth": 1}
        first = await conn.request(protocol.OP_CALL, body, 10)
        assert set(first) in ({"Ok"}, {"Unauthorized"})  # depends on B's grants so far
        replay = await conn.request(protocol.OP_CALL, body, 10)
        assert "nonce already used" in replay["AuthenticationFailed"]
        forged = await conn.request(
            protocol.OP_CALL,
            {"params": data, "signature": bytes(SigningKey.generate().sign(data).signature)},
            10,
        )
        assert set(forged) == {"AuthenticationFailed"}
        await rogue.stop()

    run(main())


def test_a_frozen_callee_is_a_network_error_the_calling_zome_handles(cluster: Cluster) -> None:
    """Issue 13.9: a peer that stops answering (SIGSTOP) must not take the caller's whole
    call down with its own deadline: the remote wait ends early enough for the zome to get
    ``NetworkError("… timed out …")`` as a value, even when it asked to wait longer."""

    async def scenario() -> tuple[Any, float]:
        app_a, _ = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        await app_b.call_zome(
            "a",
            "make_grant",
            {"tag": "frozen", "access": "Unrestricted", "functions": "All"},
            role_name="main",
        )
        await app_b.close()
        assert ok(await remote(app_a, cb.agent, "echo", "warm")) == "warm"  # connected
        assert cluster.b.proc is not None
        pid = cluster.b.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            res = await remote(app_a, cb.agent, "echo", "are you there", timeout_ms=60_000)
            elapsed = time.monotonic() - t0
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await app_a.call_zome("a", "echo", "alive", role_name="main") == "alive"
        await app_a.close()
        return res, elapsed

    res, elapsed = run(scenario())
    assert set(res) == {"NetworkError"}, res
    assert "timed out" in res["NetworkError"]
    assert elapsed < 10  # inside the calling function's own 10 s deadline


def test_killed_callee_gives_network_error_and_restarted_peer_is_reached(
    cluster: Cluster,
) -> None:
    async def call_spin() -> tuple[Any, float]:
        app_a, _ = await app_of(cluster.a)
        app_b, cb = await app_of(cluster.b)
        await app_b.call_zome(
            "a",
            "make_grant",
            {"tag": "open", "access": "Unrestricted", "functions": "All"},
            role_name="main",
        )
        await app_b.close()
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, cluster.b.kill)
        t0 = time.monotonic()
        res = await remote(app_a, cb.agent, "spin", None, timeout_ms=20_000)
        elapsed = time.monotonic() - t0
        # The caller's conductor keeps serving.
        assert await app_a.call_zome("a", "echo", "alive", role_name="main") == "alive"
        await app_a.close()
        return res, elapsed

    res, elapsed = run(call_spin())
    assert "NetworkError" in res, res
    assert elapsed < 5, elapsed  # the connection dropped: no waiting for the 20 s timeout

    # B comes back on a new port, without the relay: it republishes its agent info to the
    # bootstrap; A's record is stale (the relay now leads nowhere), so A looks B up again.
    relay_dead = cluster.relay
    relay_dead.set_target("127.0.0.1:1")
    b_network = {k: v for k, v in cluster.b_network.items() if k != "advertise"}
    write_network(cluster.b.home, b_network)
    cluster.b.start()
    cluster.b.wait_ready()

    async def after_restart() -> None:
        app_a, _ = await app_of(cluster.a)
        end = time.monotonic() + 10
        while True:
            res = await remote(app_a, cluster.cell_b.agent, "echo", "welcome back")
            if "Ok" in res or time.monotonic() > end:
                break
            await asyncio.sleep(0.3)
        assert ok(res) == "welcome back"
        await app_a.close()

    run(after_restart())
