"""Session bindings (p2p/binding.py): a remote call's agent proven once per connection.

Two real conductors over the encrypted transport; the attacker is a third connection from
A's node that writes requests by hand. Each rule a binding stands on is tried: the agent's
key, this session (not another one to the same peer), this direction, the call's own nonce.
"""

from __future__ import annotations

from typing import Any

import nacl.signing
import pytest

from zomehost.core.clock import now_micros
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCallParams, new_nonce
from zomehost.network import protocol
from zomehost.network.transport import Connection
from zomehost.p2p import binding

from .conftest import Peer, ok_value
from .test_node import connect_to, run_pair, wait_for


def _params(
    provenance: AgentPubKey, cb: CellId, fn: str = "echo", payload: bytes = b"\xa2hi"
) -> bytes:
    return ZomeCallParams(
        provenance, cb, "a", fn, None, payload, new_nonce(), now_micros() + 60_000_000
    ).encode()


def _proof(conn: Connection, key: nacl.signing.SigningKey, sender: bytes | None = None) -> bytes:
    hh = conn.session.handshake_hash
    assert hh is not None
    message = binding.message(hh, conn.manager.identity if sender is None else sender)
    return bytes(key.sign(message).signature)


async def _call(conn: Connection, data: bytes, proof: Any) -> Any:
    body = {"params": data, "binding": proof, "timeout_ms": 5000, "depth": 1}
    return await conn.request(protocol.OP_CALL, body, 5)


def test_a_binding_authenticates_its_agent_on_its_connection_only(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        conn = await connect_to(a, cb)
        key = a.conductor.keystore.signing_key(ca.agent)
        proof = _proof(conn, key)
        assert ok_value(await _call(conn, _params(ca.agent, cb), proof)) == "hi"
        # cached now: the same bytes pass again, each call with its own nonce
        assert ok_value(await _call(conn, _params(ca.agent, cb), proof)) == "hi"
        # the same call bytes again: the nonce window still holds
        data = _params(ca.agent, cb)
        assert ok_value(await _call(conn, data, proof)) == "hi"
        replay = await _call(conn, data, proof)
        assert "nonce already used" in replay["AuthenticationFailed"]

        # a binding signed by a key that is not the provenance's
        stranger = nacl.signing.SigningKey.generate()
        res = await _call(conn, _params(ca.agent, cb), _proof(conn, stranger))
        assert "bad session binding" in res["AuthenticationFailed"]
        # the agent's valid binding presented for another provenance
        other = AgentPubKey.from_core(bytes(stranger.verify_key))
        res = await _call(conn, _params(other, cb), proof)
        assert "bad session binding" in res["AuthenticationFailed"]
        # signed for the other direction of this session (what a peer reflecting our own
        # binding back at us would hold)
        res = await _call(conn, _params(ca.agent, cb), _proof(conn, key, conn.remote_identity))
        assert set(res) == {"AuthenticationFailed"}
        # a valid binding of this session does not work on another session to the same peer
        # (a peer that forwarded it to a third conductor would hold just that)
        node = a.node
        assert node is not None
        second = await node.transport.connect(conn.remote_address)  # a new handshake
        assert second.session.handshake_hash != conn.session.handshake_hash
        res = await _call(second, _params(ca.agent, cb), proof)
        assert "bad session binding" in res["AuthenticationFailed"]
        assert ok_value(await _call(second, _params(ca.agent, cb), _proof(second, key))) == "hi"
        # malformed bindings, and no proof at all
        for bad in (b"", proof[:63], proof + b"x", "text", 7):
            res = await _call(conn, _params(ca.agent, cb), bad)
            assert set(res) == {"AuthenticationFailed"}, bad
        res = await conn.request(protocol.OP_CALL, {"params": _params(ca.agent, cb)}, 5)
        assert "session binding" in res["AuthenticationFailed"]
        # a tampered call under a valid binding is still the call's own problem: its
        # params are what the callee runs, so a garbled one fails to decode
        res = await _call(conn, _params(ca.agent, cb)[:-5], proof)
        assert set(res) == {"AuthenticationFailed"}
        # none of it broke the connection, and the good binding still works
        assert not conn.closed
        assert ok_value(await _call(conn, _params(ca.agent, cb), proof)) == "hi"

    run_pair(peer_factory, probe_bundle, scenario)


def test_call_remote_binds_once_and_keeps_working(
    peer_factory: Any, probe_bundle: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zome's own call_remote goes with a binding, and the callee's cache stays correct
    past its bound (an evicted binding is verified again, a wrong one never passes)."""
    monkeypatch.setattr(binding, "MAX_AGENTS_PER_CONNECTION", 1)

    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        for i in range(5):
            assert ok_value(await a.call_remote(ca, cb.agent, "echo", f"x{i}")) == f"x{i}"
        conn = await connect_to(a, cb)
        key = a.conductor.keystore.signing_key(ca.agent)
        other = nacl.signing.SigningKey.generate()
        other_agent = AgentPubKey.from_core(bytes(other.verify_key))
        # two agents take turns in a cache of one: each is verified again, both pass
        for _ in range(2):
            assert ok_value(await _call(conn, _params(ca.agent, cb), _proof(conn, key))) == "hi"
            res = await _call(conn, _params(other_agent, cb), _proof(conn, other))
            assert set(res) == {"Unauthorized"} or ok_value(res) == "hi"
            res = await _call(conn, _params(other_agent, cb), _proof(conn, key))
            assert "bad session binding" in res["AuthenticationFailed"]
        assert ok_value(await a.call_remote(ca, cb.agent, "echo", "after")) == "after"

    run_pair(peer_factory, probe_bundle, scenario)


def test_remote_signals_go_with_a_binding_and_a_bad_one_is_dropped(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def scenario(a: Peer, ca: CellId, b: Peer, cb: CellId) -> None:
        await b.grant(cb)
        # the zome's own send_remote_signal: bound to the connection, delivered
        await a.call(ca, "remote_signal", {"agents": [cb.agent.raw], "value": "bound"})
        await wait_for(lambda: any(unpack(x.payload) == "bound" for x in b.signals))
        conn = await connect_to(a, cb)
        key = a.conductor.keystore.signing_key(ca.agent)

        def signal(value: str) -> bytes:
            return _params(ca.agent, cb, "recv_remote_signal", pack(value))

        stranger = nacl.signing.SigningKey.generate()
        for bad in (_proof(conn, stranger), _proof(conn, key, conn.remote_identity), b"x"):
            await conn.send_message(
                protocol.OP_SIGNAL, {"params": signal("forged"), "binding": bad}
            )
        await conn.send_message(protocol.OP_SIGNAL, {"params": signal("unproven")})
        await conn.send_message(
            protocol.OP_SIGNAL, {"params": signal("by hand"), "binding": _proof(conn, key)}
        )
        await wait_for(lambda: any(unpack(x.payload) == "by hand" for x in b.signals))
        payloads = [unpack(x.payload) for x in b.signals]
        assert "forged" not in payloads and "unproven" not in payloads

    run_pair(peer_factory, probe_bundle, scenario)
