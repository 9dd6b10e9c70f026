"""Gossip of agent infos (issue 15.2): records are passed on between connected peers every
round, the newest per agent wins, what a peer may make us store is bounded per DNA, and a
restarted conductor starts from what it knew (the peer store in its home).

Real daemons on one event loop over loopback TCP, with no bootstrap service at all.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from zomehost.conductor.home import Home
from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, DnaHash
from zomehost.network import peer_store, protocol
from zomehost.network.agent_info import AgentInfo
from zomehost.network.errors import PeerUnreachable
from zomehost.network.transport import Transport

from .conftest import Peer, ok_value
from .test_node import wait_for

ISOLATED = {"gossip_peers": 0}
"""No dialling to fill the mesh: records can only travel along the static links."""


def knows(peer: Peer, dna: DnaHash, agent: AgentPubKey, address: str | None = None) -> bool:
    assert peer.node is not None
    record = peer.node.directory.get(dna, agent)
    return record is not None and (address is None or record.info.address == address)


def stranger(dna: DnaHash) -> Any:
    """A valid record of a fresh agent, somewhere nobody listens."""
    return AgentInfo.create(nacl.signing.SigningKey.generate(), dna, "10.0.0.1:1", b"\1" * 32)


def test_records_are_passed_on_along_a_chain_and_a_moved_agent_is_found(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    """A — B — C, A and C never linked: C (started after A—B opened) reaches A through B;
    then C moves to a new address and A finds it there through B, with no bootstrap."""

    async def main() -> None:
        a = peer_factory("a", ISOLATED)
        ca = a.install(probe_bundle)
        await a.start()
        assert a.node is not None
        b = peer_factory("b", {**ISOLATED, "peers": [a.node.address]})
        cb = b.install(probe_bundle)
        await b.start()
        await wait_for(lambda: knows(a, cb.dna_hash, cb.agent))
        c = peer_factory("c", {**ISOLATED, "peers": [b.node.address]})  # type: ignore[union-attr]
        cc = c.install(probe_bundle)
        await c.start()
        await wait_for(lambda: knows(a, cc.dna_hash, cc.agent))
        await wait_for(lambda: knows(c, ca.dna_hash, ca.agent))
        assert a.node.transport.connection_for(c.node.identity) is None  # type: ignore[union-attr]
        await c.grant(cc)
        assert ok_value(await a.call_remote(ca, cc.agent, "echo", "via gossip")) == "via gossip"

        # C moves: same home, new port; only B is told (C dials it).
        old = c.node.address  # type: ignore[union-attr]
        await c.stop()
        c2 = Peer("c2", Home(c.daemon.home.path))
        c2.network.update({"listen": "127.0.0.1:0", "peers": [b.node.address]})  # type: ignore[union-attr]
        try:
            await c2.start()
            assert c2.node is not None and c2.node.address != old
            await wait_for(lambda: knows(b, cc.dna_hash, cc.agent, c2.node.address))  # type: ignore[union-attr]
            res = await a.call_remote(ca, cc.agent, "echo", "moved")
            assert ok_value(res) == "moved"
            assert knows(a, cc.dna_hash, cc.agent, c2.node.address)  # the newest record won
        finally:
            await c2.stop()
            await b.stop()
            await a.stop()

    asyncio.run(main())


def test_a_restarted_conductor_still_knows_its_peers(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def main() -> None:
        b = peer_factory("b")
        cb = b.install(probe_bundle)
        await b.start()
        await b.grant(cb)
        a = peer_factory("a", {"peers": [b.node.address]})  # type: ignore[union-attr]
        ca = a.install(probe_bundle)
        await a.start()
        await wait_for(lambda: knows(a, cb.dna_hash, cb.agent))
        await a.stop()
        store = a.daemon.home.path / peer_store.PEER_STORE_NAME
        saved = unpack(store.read_bytes())
        assert len(saved) == 1  # B's record; A's own are signed afresh at start
        # A again, with no static peer and no bootstrap: it starts from the peer store.
        a2 = Peer("a2", Home(a.daemon.home.path))
        a2.network["peers"] = []
        try:
            await a2.start()
            assert knows(a2, cb.dna_hash, cb.agent)
            assert ok_value(await a2.call_remote(ca, cb.agent, "echo", "remembered")) == (
                "remembered"
            )
        finally:
            await a2.stop()
            await b.stop()

    asyncio.run(main())


def test_a_damaged_peer_store_is_read_as_empty(tmp_path: Path) -> None:
    from zomehost.network.directory import Directory

    path = tmp_path / peer_store.PEER_STORE_NAME
    key = nacl.signing.SigningKey.generate()
    dna = DnaHash.from_core(bytes(32))
    good = AgentInfo.create(key, dna, "127.0.0.1:7", bytes(32))
    expired = AgentInfo.create(key, dna, "127.0.0.1:8", bytes(32), ttl_s=10, now=1_000_000)
    peer_store.save(path, [good, expired])
    directory = Directory()
    assert peer_store.load(path, directory) == 1
    assert directory.get(dna, good.info.agent) == good
    for damage in (b"\xc1garbage", b"\x92\x01\x02", b"not msgpack at all" * 3):
        path.write_bytes(damage)
        assert peer_store.load(path, Directory()) == 0
    assert peer_store.load(tmp_path / "missing", Directory()) == 0
    path.unlink()
    path.symlink_to("/dev/zero")  # bounded: refused by size, not read forever
    assert peer_store.load(path, Directory()) == 0


def test_what_a_peer_can_make_us_store_is_bounded_per_dna(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    """A peer floods valid, signed records for our DNA (and for DNAs we do not run): we keep
    at most ``max_agent_infos_per_dna`` of ours, pass on none of the others, and answer
    queries only for DNAs run here."""

    async def main() -> None:
        a = peer_factory("a", {**ISOLATED, "max_agent_infos_per_dna": 10})
        ca = a.install(probe_bundle)
        await a.start()
        assert a.node is not None
        rogue = Transport(
            nacl.signing.SigningKey.generate(),
            on_request=lambda c, r: asyncio.sleep(0),
            on_message=lambda c, m: asyncio.sleep(0),
        )
        conn = await rogue.connect(a.node.address, a.node.identity)
        try:
            flood = [
                AgentInfo.create(
                    nacl.signing.SigningKey.generate(), ca.dna_hash, "10.0.0.1:1", b"\1" * 32
                )
                for _ in range(40)
            ]
            await conn.send_message(protocol.OP_AGENT_INFOS, [r.to_wire() for r in flood])
            other = DnaHash.from_core(b"\7" * 32)
            foreign = AgentInfo.create(
                nacl.signing.SigningKey.generate(), other, "10.0.0.1:2", b"\2" * 32
            )
            await conn.send_message(protocol.OP_AGENT_INFOS, [foreign.to_wire()])
            await wait_for(lambda: len(a.node.directory.for_dna(ca.dna_hash)) >= 10)  # type: ignore[union-attr]
            await asyncio.sleep(0.3)
            assert len(a.node.directory.for_dna(ca.dna_hash)) == 10  # ours among them
            assert knows(a, ca.dna_hash, ca.agent)
            # A query for a DNA A does not run gets nothing; for its own DNA, the record.
            q = {"dna": other.raw, "agent": foreign.info.agent.raw}
            assert await conn.request(protocol.OP_AGENT_INFO_QUERY, q, 5) == []
            q = {"dna": ca.dna_hash.raw, "agent": ca.agent.raw}
            (answer,) = await conn.request(protocol.OP_AGENT_INFO_QUERY, q, 5)
            assert answer["info"] == a.node.directory.get(ca.dna_hash, ca.agent).info.encode()  # type: ignore[union-attr]
            assert a.node.directory.get(other, foreign.info.agent) is None
            # Junk signatures are not remembered as "held by the peer" (memory bound).
            junk = [{"info": os.urandom(90), "signature": os.urandom(64)} for _ in range(300)]
            await conn.send_message(protocol.OP_AGENT_INFOS, junk)
            await conn.request(protocol.OP_AGENT_INFO_QUERY, q, 5)  # the junk was handled
            mine = a.node.transport.connection_for(rogue.identity)
            assert mine is not None
            held = a.node.gossip._held.get(mine, set())
            assert len(held) <= 10 and not held & {j["signature"] for j in junk}
            with pytest.raises(PeerUnreachable, match="refused"):
                await conn.request(protocol.OP_AGENT_INFO_QUERY, {"dna": 1}, 5)
        finally:
            await rogue.stop()
            await a.stop()

    asyncio.run(main())
