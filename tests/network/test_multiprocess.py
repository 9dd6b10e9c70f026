"""Two conductors in separate processes, talking only through the encrypted peer transport.

Real ``zomehost run`` processes (and a real ``zomehost bootstrap`` process for discovery);
the test drives them through their admin and app interfaces with the Python client. Conductor
B advertises the address of a recording TCP relay, so every byte between A and B passes
through the test, which checks that no plaintext is on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from nacl.signing import SigningKey

from zomehost.conductor.home import Home
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call
from zomehost.network import protocol
from zomehost.network.errors import PeerUnreachable
from zomehost.network.transport import Transport
from zomehost.testing import Player, Scenario
from zomehost.testing.process import set_network

from .players import ok, remote, remote_arg
from .relay import RelayThread

pytestmark = pytest.mark.slow

MARKER = "SECRET-PLAINTEXT-31337"


@dataclass
class Cluster:
    scenario: Scenario
    relay: RelayThread
    a: Player
    b: Player


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, module_cache: Path, probe_bundle: bytes
) -> Iterator[Cluster]:
    relay = RelayThread()
    root = tmp_path_factory.mktemp("mp")
    network = {"call_timeout_ms": 15_000}
    try:
        with Scenario(root, module_cache=module_cache, network_config=network) as s:
            (a,) = s.add_players(probe_bundle, ["a"])
            # peers reach B only through the relay
            (b,) = s.add_players(probe_bundle, ["b"], network={"advertise": relay.address})
            relay.set_target(b.peer.process.network_address)
            yield Cluster(s, relay, a, b)
    finally:
        relay.close()


def test_remote_call_results_across_processes(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    # Unauthorized: B has granted nothing yet.
    res = remote(a, b.agent, "echo", MARKER)
    assert set(res) == {"Unauthorized"}
    assert res["Unauthorized"]["provenance"] == a.agent
    # Ok, with a transferable secret covering listed functions.
    secret = b.call("a", "new_secret")
    grant = {
        "tag": "friends",
        "access": {"Transferable": {"secret": secret}},
        "functions": {
            "Listed": [["a", "echo"], ["a", "spin"], ["a", "call_remote_fn"], ["a", "caller"]]
        },
    }
    b.call("a", "make_grant", grant)
    t0 = time.monotonic()
    assert ok(remote(a, b.agent, "echo", MARKER, cap_secret=secret)) == MARKER
    first_ms = (time.monotonic() - t0) * 1000
    t0 = time.monotonic()
    for _ in range(10):
        ok(remote(a, b.agent, "echo", MARKER, cap_secret=secret))
    rtt_ms = (time.monotonic() - t0) * 100
    print(
        f"\nfirst remote call {first_ms:.1f} ms, then {rtt_ms:.1f} ms per call "
        "(client → A → relay → B → A → client)"
    )
    # A wrong secret, and a function the grant does not list.
    bad = remote(a, b.agent, "echo", "x", cap_secret=os.urandom(64))
    assert set(bad) == {"Unauthorized"}
    assert set(remote(a, b.agent, "whoami", None, cap_secret=secret)) == {"Unauthorized"}
    # NetworkError, promptly, for an agent nobody knows.
    t0 = time.monotonic()
    stranger = AgentPubKey.from_core(os.urandom(32))
    res = remote(a, stranger, "echo", "x")
    assert "unknown" in res["NetworkError"]
    assert time.monotonic() - t0 < 3
    # Nested A -> B -> A (A grants B in turn), eight at once.
    a.call("a", "make_grant", {"tag": "open", "access": "Unrestricted", "functions": "All"})
    inner = {"agent": a.agent, "zome_name": "b", "fn_name": "echo", "payload": MARKER}
    with ThreadPoolExecutor(8) as pool:
        nested = list(
            pool.map(
                lambda _: remote(a, b.agent, "call_remote_fn", inner, cap_secret=secret), range(8)
            )
        )
    for res in nested:
        assert ok(ok(res)) == MARKER
    # The per-call timeout: B spins, A gives up after 1 s with a NetworkError.
    t0 = time.monotonic()
    res = remote(a, b.agent, "spin", None, cap_secret=secret, timeout_ms=1000)
    assert "timed out" in res.get("NetworkError", "") or "Timeout" in res.get("CallError", "")
    assert time.monotonic() - t0 < 4

    # Everything between A and B went through the relay, encrypted.
    wire = cluster.relay.recorded()
    assert len(wire) > 2000
    assert MARKER.encode() not in wire
    for plain in (b"echo", b"call_remote_fn", b"friends", b"provenance", b"Unauthorized"):
        assert plain not in wire, plain


def test_calls_both_ways_and_back_again_share_one_connection(cluster: Cluster) -> None:
    """Remote calls A -> B and B -> A at once, chains A -> B -> A -> B coming back over the
    same connection, and answers of 1 MiB (split across reads, through the relay): each
    call gets its own answer, nothing deadlocks, and the conductors keep one connection."""
    a, b = cluster.a, cluster.b
    for p in (a, b):
        p.call("a", "make_grant", {"tag": "both", "access": "Unrestricted", "functions": "All"})
    big = "m" * (1 << 20)

    def one(i: int) -> None:
        caller, callee = (a, b) if i % 2 else (b, a)
        if i % 3 == 0:  # caller -> callee -> caller -> callee
            inner = remote_arg(callee.agent, "echo", f"deep {i}")
            arg = remote_arg(caller.agent, "call_remote_fn", inner)
            assert ok(ok(ok(remote(caller, callee.agent, "call_remote_fn", arg)))) == f"deep {i}"
        else:
            payload = big if i % 5 == 0 else f"flat {i}"
            assert ok(remote(caller, callee.agent, "echo", payload)) == payload

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(one, range(36)))
    for p in (a, b):
        admin = p.peer.admin
        assert admin is not None
        stats = cluster.scenario.run(admin.dump_network_stats())
        assert len(stats["transport_stats"]["connections"]) == 1, stats


def test_remote_signal_reaches_the_recipients_ui(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    b.call(
        "a",
        "make_grant",
        {
            "tag": "signals",
            "access": "Unrestricted",
            "functions": {"Listed": [["a", "recv_remote_signal"]]},
        },
    )
    value = {"note": MARKER, "n": 7}
    a.call("a", "remote_signal", {"agents": [b.agent], "value": value})
    assert b.signal(lambda p: p == value) == value
    [sig] = [s for s in b.signals if s.payload == value]
    assert sig.cell_id == b.cell_id() and sig.zome_name == "a"
    assert MARKER.encode() not in cluster.relay.recorded()


def test_forged_and_replayed_calls_across_processes(cluster: Cluster) -> None:
    """The test process as a third peer: it connects to B and sends signed calls by hand."""
    b_process = cluster.b.peer.process

    async def main() -> None:
        rogue = Transport(
            SigningKey.generate(),
            on_request=lambda c, r: asyncio.sleep(0),
            on_message=lambda c, m: asyncio.sleep(0),
        )
        # The wrong identity: B's address, but expecting A's transport key.
        with pytest.raises(PeerUnreachable, match="identity"):
            await rogue.connect(b_process.network_address, cluster.a.peer.process.transport_id)
        conn = await rogue.connect(b_process.network_address, b_process.transport_id)
        me = SigningKey.generate()
        agent = AgentPubKey.from_core(bytes(me.verify_key))
        params = ZomeCallParams(
            agent,
            cluster.b.cell_id(),
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

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_frozen_callee_is_a_network_error_the_calling_zome_handles(cluster: Cluster) -> None:
    """Issue 13.9: a peer that stops answering (SIGSTOP) must not take the caller's whole
    call down with its own deadline: the remote wait ends early enough for the zome to get
    ``NetworkError("… timed out …")`` as a value, even when it asked to wait longer."""
    a, b = cluster.a, cluster.b
    b.call("a", "make_grant", {"tag": "frozen", "access": "Unrestricted", "functions": "All"})
    assert ok(remote(a, b.agent, "echo", "warm")) == "warm"  # connected
    pid = b.peer.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        res = remote(a, b.agent, "echo", "are you there", timeout_ms=60_000)
        elapsed = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert a.call("a", "echo", "alive") == "alive"
    assert set(res) == {"NetworkError"}, res
    assert "timed out" in res["NetworkError"]
    assert elapsed < 10  # inside the calling function's own 10 s deadline


def test_killed_callee_gives_network_error_and_restarted_peer_is_reached(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    b.call("a", "make_grant", {"tag": "open", "access": "Unrestricted", "functions": "All"})
    killer = threading.Timer(1.0, b.peer.process.kill)  # while A waits for B's spin
    killer.start()
    t0 = time.monotonic()
    res = remote(a, b.agent, "spin", None, timeout_ms=20_000)
    elapsed = time.monotonic() - t0
    killer.join()
    # The caller's conductor keeps serving.
    assert a.call("a", "echo", "alive") == "alive"
    assert "NetworkError" in res, res
    assert elapsed < 5, elapsed  # the connection dropped: no waiting for the 20 s timeout

    # B comes back on a new port, without the relay: it republishes its agent info to the
    # bootstrap; A's record is stale (the relay now leads nowhere), so A looks B up again.
    cluster.relay.set_target("127.0.0.1:1")
    config = yaml.safe_load(Home(b.peer.home).config_path.read_text())
    set_network(b.peer.home, {k: v for k, v in config["network"].items() if k != "advertise"})
    b.peer.restart()
    for _ in range(30):
        res = remote(a, b.agent, "echo", "welcome back")
        if "Ok" in res:
            break
        time.sleep(0.3)
    assert ok(res) == "welcome back"


def test_network_stats_count_the_bytes_of_remote_calls(cluster: Cluster) -> None:
    """``dump_network_stats`` of both conductors: the connection between them counts at least
    the bytes of the payloads sent each way, on both ends."""
    a, b = cluster.a, cluster.b
    size, calls = 200_000, 3
    grant = {"tag": "stats", "access": "Unrestricted", "functions": {"Listed": [["a", "echo"]]}}
    b.call("a", "make_grant", grant)
    ok(remote(a, b.agent, "echo", "warm-up"))  # the connection exists now

    def connection(player: Player, other: Player) -> dict[str, Any]:
        admin = player.peer.admin
        assert admin is not None
        stats = cluster.scenario.run(admin.dump_network_stats())
        key = base64.b64encode(other.peer.process.transport_id).decode()
        conns = [c for c in stats["transport_stats"]["connections"] if c["pub_key"] == key]
        assert len(conns) == 1, stats
        return conns[0]

    a0, b0 = connection(a, b), connection(b, a)
    blob = os.urandom(size // 2).hex()  # echo takes a string
    for _ in range(calls):
        assert ok(remote(a, b.agent, "echo", blob)) == blob
    a1, b1 = connection(a, b), connection(b, a)
    for key in ("send_bytes", "recv_bytes"):  # the payload went out and came back
        assert a1[key] - a0[key] >= calls * size, (key, a0, a1)
        assert b1[key] - b0[key] >= calls * size, (key, b0, b1)
    for key in ("send_message_count", "recv_message_count"):
        assert a1[key] - a0[key] >= calls and b1[key] - b0[key] >= calls
    assert a1["opened_at_s"] == a0["opened_at_s"] <= time.time()
