"""Remote calls and remote signals between two real conductors over the encrypted transport.

In-process: two daemons on one event loop, talking over loopback TCP. Every outcome of a
remote call is a value (Ok, Unauthorized, AuthenticationFailed, NetworkError); failures that
are known (unknown agent, peer down) come back at once, not after the timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nacl.signing

from zomehost.core.clock import now_micros
from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call
from zomehost.network import protocol
from zomehost.network.agent_info import AgentInfo
from zomehost.network.bootstrap import BootstrapServer
from zomehost.network.transport import Connection

from .conftest import UNRESTRICTED_ALL, Peer, ok_value

Scenario = Callable[[Peer, CellId, Peer, CellId], Awaitable[None]]


def run_pair(
    peer_factory: Any,
    probe_bundle: bytes,
    scenario: Scenario,
    *,
    link: str = "static",
    network: dict[str, Any] | None = None,
) -> None:
    """Two conductors, each with the probe app for one agent, linked by a static peer
    entry (``link="static"``) or an in-process bootstrap service (``"bootstrap"``)."""

    async def main() -> None:
        bootstrap = None
        extra = dict(network or {})
        if link == "bootstrap":
            bootstrap = BootstrapServer()
            extra["bootstrap_url"] = await bootstrap.start()
        a = peer_factory("a", extra)
        b = peer_factory("b", extra)
        ca, cb = a.install(probe_bundle), b.install(probe_bundle)
        try:
            await b.start()
            assert b.node is not None
            if link == "static":
                a.network["peers"] = [b.node.address]
            elif link == "agent_info":  # B's signed record itself, pasted into A's config
                record = b.node.directory.get(cb.dna_hash, cb.agent)
                assert record is not None
                forged = AgentInfo.create(
                    nacl.signing.SigningKey.generate(), cb.dna_hash, "127.0.0.1:9", b"\0" * 32
                ).to_text()
                a.network["peers"] = [
                    {"agent_info": "not-a-record"},
                    {"agent_info": forged[:-8] + "AAAAAAAA"},  # signature broken
                    {"nothing": "useful"},
                    {"agent_info": record.to_text()},
                ]
            await a.start()
            await wait_for(lambda: a.node.directory.get(cb.dna_hash, cb.agent) is not None)
            await scenario(a, ca, b, cb)
        finally:
            await a.stop()
            await b.stop()
            if bootstrap is not None:
                await bootstrap.stop()

    asyncio.run(main())


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_remote_call_ok_with_an_unrestricted_grant(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        res = await a.call_remote(ca, cb.agent, "echo", "hello over noise")
        assert ok_value(res) == "hello over noise"
        # The callee saw the caller's agent as provenance.
        info = ok_value(await a.call_remote(ca, cb.agent, "caller"))
        assert info["provenance"] == ca.agent.raw
        assert "RemoteAgent" in info["cap_grant"]
        # One connection each way, reused by every call.
        assert len(a.node.transport.connections) == 1  # type: ignore[union-attr]
        assert len(b.node.transport.connections) == 1  # type: ignore[union-attr]

    run_pair(peer_factory, probe_bundle, scenario)


def test_remote_call_without_a_grant_is_unauthorized(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        res = await a.call_remote(ca, cb.agent, "echo", "nope")
        assert set(res) == {"Unauthorized"}
        body = res["Unauthorized"]
        assert body["fn_name"] == "echo" and body["zome_name"] == "a"
        assert body["provenance"] == ca.agent.raw
        assert body["cell_id"] == cb.to_wire()

    run_pair(peer_factory, probe_bundle, scenario)


def test_remote_call_with_transferable_secret(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        secret = bytes(await b.call(cb, "new_secret"))
        grant = {
            "tag": "secret",
            "access": {"Transferable": {"secret": secret}},
            "functions": {"Listed": [["a", "echo"]]},
        }
        await b.grant(cb, grant)
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "x", secret=secret)) == "x"
        wrong = await a.call_remote(ca, cb.agent, "echo", "x", secret=os.urandom(64))
        assert set(wrong) == {"Unauthorized"}
        unlisted = await a.call_remote(ca, cb.agent, "whoami", None, secret=secret)
        assert set(unlisted) == {"Unauthorized"}

    run_pair(peer_factory, probe_bundle, scenario)


async def connect_to(a: Peer, cb: CellId) -> Connection:
    """``a``'s connection to the conductor running ``cb`` (an attacker writes on it by hand)."""
    node = a.node
    assert node is not None
    record = node.directory.get(cb.dna_hash, cb.agent)
    assert record is not None
    return await node.transport.connect(record.info.address, record.info.transport_id)


def test_forged_and_replayed_calls_fail_authentication(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        conn = await connect_to(a, cb)
        key = a.conductor.keystore.signing_key(ca.agent)

        def params(provenance: AgentPubKey = ca.agent) -> ZomeCallParams:
            return ZomeCallParams(
                provenance, cb, "a", "echo", None, b"\xa2hi", new_nonce(), now_micros() + 60_000_000
            )

        data, sig = sign_call(params(), key)
        body = {"params": data, "signature": sig, "timeout_ms": 5000, "depth": 1}
        assert ok_value(await conn.request(protocol.OP_CALL, body, 5)) == "hi"
        # The same signed call again: the nonce was used.
        replay = await conn.request(protocol.OP_CALL, body, 5)
        assert "nonce already used" in replay["AuthenticationFailed"]
        # Signed by a key that is not the provenance's.
        data, sig = sign_call(params(), nacl.signing.SigningKey.generate())
        forged = await conn.request(protocol.OP_CALL, {"params": data, "signature": sig}, 5)
        assert set(forged) == {"AuthenticationFailed"}
        # Altered after signing.
        data, sig = sign_call(params(), key)
        tampered = data.replace(b"echo", b"ecHo")
        res = await conn.request(protocol.OP_CALL, {"params": tampered, "signature": sig}, 5)
        assert set(res) == {"AuthenticationFailed"}
        # Expired.
        expired = dataclasses.replace(params(), expires_at=now_micros() - 1)
        data, sig = sign_call(expired, key)
        res = await conn.request(protocol.OP_CALL, {"params": data, "signature": sig}, 5)
        assert "expired" in res["AuthenticationFailed"]
        # The connection survived all of it (these are answers, not transport failures).
        assert not conn.closed

    run_pair(peer_factory, probe_bundle, scenario)


def test_unknown_agent_is_a_prompt_network_error(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        stranger = AgentPubKey.from_core(os.urandom(32))
        t0 = time.monotonic()
        res = await a.call_remote(ca, stranger, "echo", "x", timeout_ms=20_000)
        assert "unknown" in res["NetworkError"]
        assert time.monotonic() - t0 < 2

    run_pair(peer_factory, probe_bundle, scenario)


def test_unknown_agent_with_bootstrap_is_prompt_too(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        stranger = AgentPubKey.from_core(os.urandom(32))
        t0 = time.monotonic()
        res = await a.call_remote(ca, stranger, "echo", "x", timeout_ms=20_000)
        assert "unknown" in res["NetworkError"]
        assert time.monotonic() - t0 < 2

    run_pair(peer_factory, probe_bundle, scenario, link="bootstrap")


def test_peer_down_is_a_prompt_network_error(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "up")) == "up"
        await b.stop()
        t0 = time.monotonic()
        res = await a.call_remote(ca, cb.agent, "echo", "down", timeout_ms=20_000)
        assert "unreachable" in res["NetworkError"] or "lost" in res["NetworkError"]
        assert time.monotonic() - t0 < 2
        # The caller's conductor is fine.
        assert await a.call(ca, "echo", "still here") == "still here"

    run_pair(peer_factory, probe_bundle, scenario)


def test_timeout_override_gives_network_error(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        t0 = time.monotonic()
        res = await a.call_remote(ca, cb.agent, "spin", None, timeout_ms=800)
        elapsed = time.monotonic() - t0
        assert set(res) in ({"NetworkError"}, {"CallError"}), res
        assert "timed out" in next(iter(res.values())).lower() or "timeout" in str(res).lower()
        assert 0.7 < elapsed < 3
        # Both conductors keep serving.
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "after")) == "after"

    run_pair(peer_factory, probe_bundle, scenario)


def test_config_default_timeout(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        t0 = time.monotonic()
        res = await a.call_remote(ca, cb.agent, "spin", None)
        assert "timed out" in res.get("NetworkError", "") or "Timeout" in res.get("CallError", "")
        assert 0.5 < time.monotonic() - t0 < 3

    run_pair(peer_factory, probe_bundle, scenario, network={"call_timeout_ms": 700})


def test_nested_remote_calls_a_to_b_to_a(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await a.grant(ca)
        await b.grant(cb)
        await wait_for(lambda: b.node.directory.get(ca.dna_hash, ca.agent) is not None)  # type: ignore[union-attr]
        inner = {"agent": ca.agent.raw, "zome_name": "b", "fn_name": "echo", "payload": "ping"}

        async def one(i: int) -> Any:
            return await a.call_remote(ca, cb.agent, "call_remote_fn", inner)

        # Many at once: each holds a worker on A while B calls back into A.
        results = await asyncio.gather(*(one(i) for i in range(20)))
        for res in results:
            assert ok_value(ok_value(res)) == "ping"

    run_pair(peer_factory, probe_bundle, scenario)


def test_runaway_remote_recursion_is_bounded(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await a.grant(ca)
        await b.grant(cb)
        await wait_for(lambda: b.node.directory.get(ca.dna_hash, ca.agent) is not None)  # type: ignore[union-attr]
        # Build a ping-pong 40 hops deep: A→B→A→… must stop at the depth limit (16).
        arg: Any = {"agent": cb.agent.raw, "zome_name": "a", "fn_name": "echo", "payload": "end"}
        for hop in range(40):
            target = ca if hop % 2 == 0 else cb
            arg = {
                "agent": target.agent.raw,
                "zome_name": "a",
                "fn_name": "call_remote_fn",
                "payload": arg,
            }
        res = await a.call(ca, "call_remote_fn", arg)
        text = repr(res)
        assert "depth" in text and "limit" in text, text[:500]

    run_pair(peer_factory, probe_bundle, scenario)


def test_remote_signal_runs_the_recipients_callback(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        await a.call(ca, "remote_signal", {"agents": [cb.agent.raw], "value": {"hi": "bob"}})
        await wait_for(lambda: any(unpack(s.payload) == {"hi": "bob"} for s in b.signals))
        sig = next(s for s in b.signals if unpack(s.payload) == {"hi": "bob"})
        assert sig.cell == cb and sig.zome_name == "a"

    run_pair(peer_factory, probe_bundle, scenario)


def test_remote_signal_without_grant_is_dropped(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await a.call(ca, "remote_signal", {"agents": [cb.agent.raw], "value": "ignored"})
        await asyncio.sleep(0.5)
        assert not [s for s in b.signals if unpack(s.payload) == "ignored"]
        # A granted signal afterwards still arrives: the drop did not break anything.
        await b.grant(
            cb,
            {
                "tag": "sig",
                "access": "Unrestricted",
                "functions": {"Listed": [["a", "recv_remote_signal"]]},
            },
        )
        await a.call(ca, "remote_signal", {"agents": [cb.agent.raw], "value": "granted"})
        await wait_for(lambda: any(unpack(s.payload) == "granted" for s in b.signals))

    run_pair(peer_factory, probe_bundle, scenario)


def test_bootstrap_links_conductors_without_static_peers(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        res = await a.call_remote(ca, cb.agent, "echo", "via bootstrap")
        assert ok_value(res) == "via bootstrap"

    run_pair(peer_factory, probe_bundle, scenario, link="bootstrap")


def test_static_peer_given_as_a_signed_agent_info(peer_factory: Any, probe_bundle: bytes) -> None:
    """No bootstrap, no address: A's config holds B's signed agent info (bad entries beside
    it are ignored), and A reaches B with it; B learns A from the exchange on connect."""

    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await a.grant(ca)
        await b.grant(cb)
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "pasted")) == "pasted"
        await wait_for(lambda: b.node.directory.get(ca.dna_hash, ca.agent) is not None)  # type: ignore[union-attr]
        assert ok_value(await b.call_remote(cb, ca.agent, "echo", "back")) == "back"

    run_pair(peer_factory, probe_bundle, scenario, link="agent_info")


def test_agent_info_with_the_wrong_transport_identity_is_refused(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    """An agent info pointing at B's address but naming another transport key: the handshake
    proves B's real key, which is not the expected one, so nothing is sent."""

    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        node = a.node
        assert node is not None
        # A second agent on B's conductor, whose info we forge (signed by that agent, but
        # naming a transport identity B does not hold).
        cb2 = b.install(probe_bundle, "second")
        await b.grant(cb2)
        real = node.directory.get(cb.dna_hash, cb.agent)
        assert real is not None
        bogus = AgentInfo.create(
            b.conductor.keystore.signing_key(cb2.agent),
            cb2.dna_hash,
            real.info.address,
            bytes(nacl.signing.SigningKey.generate().verify_key),
            now=now_micros() + 60_000_000,  # newer than anything B publishes during the test
        )
        assert node.directory.put(bogus)
        res = await a.call_remote(ca, cb2.agent, "echo", "x", timeout_ms=10_000)
        assert "NetworkError" in res and "identity" in res["NetworkError"], res

    run_pair(peer_factory, probe_bundle, scenario)


def test_calls_run_concurrently_on_one_connection(peer_factory: Any, probe_bundle: bytes) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        ok_value(await a.call_remote(ca, cb.agent, "echo", "warm"))
        t0 = time.monotonic()
        n = 50
        results = await asyncio.gather(
            *(a.call_remote(ca, cb.agent, "echo", f"m{i}") for i in range(n))
        )
        assert [ok_value(r) for r in results] == [f"m{i}" for i in range(n)]
        assert len(a.node.transport.connections) == 1  # type: ignore[union-attr]
        print(f"{n} concurrent remote calls in {(time.monotonic() - t0) * 1000:.0f} ms")
        t0 = time.monotonic()
        for _ in range(20):
            ok_value(await a.call_remote(ca, cb.agent, "echo", "seq"))
        print(f"sequential remote call round trip: {(time.monotonic() - t0) * 1000 / 20:.1f} ms")

    run_pair(peer_factory, probe_bundle, scenario)


def test_unauthorized_and_ok_shapes_match_local_calls(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    """Two agents on the SAME conductor take the local route; the wire shapes must agree."""

    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        local = a.install(probe_bundle, "local-second")
        res_local = await a.call_remote(ca, local.agent, "echo", "x")
        res_remote = await a.call_remote(ca, cb.agent, "echo", "x")
        assert set(res_local) == set(res_remote) == {"Unauthorized"}
        assert set(res_local["Unauthorized"]) == set(res_remote["Unauthorized"])
        await a.grant(local, UNRESTRICTED_ALL)
        await b.grant(cb, UNRESTRICTED_ALL)
        assert ok_value(await a.call_remote(ca, local.agent, "echo", "y")) == "y"
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "y")) == "y"

    run_pair(peer_factory, probe_bundle, scenario)


def test_a_worker_waiting_on_a_peer_gives_its_running_place_away(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    """A's worker reads B's answer itself while it waits, and announces the wait, so the
    daemon's pool counts it out (another call may run) until the answer comes."""

    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "connected")) == "connected"
        assert a.node is not None
        (conn,) = a.node.transport.connections
        pool = a.daemon.executor
        slow = asyncio.ensure_future(a.call_remote(ca, cb.agent, "spin", None, timeout_ms=1500))
        await wait_for(lambda: bool(conn._pending))  # sent: A's worker waits for B
        assert pool._running == 0
        res = await slow
        assert "timed out" in res.get("NetworkError", "") or "Timeout" in res.get("CallError", "")
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "after")) == "after"

    run_pair(peer_factory, probe_bundle, scenario)
