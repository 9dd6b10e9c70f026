"""Gossip of agent infos between connected conductors: how peers find each other without
(or beyond) a bootstrap service.

Every round (and whenever a connection opens or a peer sends what it knows), each
conductor sends every connected peer the signed agent infos it holds for the DNAs the two
share, except those the peer is known to hold already (sent to it, or received from it, on
this connection). What a peer runs is learned from the records whose transport identity is
the peer's own. A conductor's own records go to everyone it connects to: that is how a peer
learns which DNAs it shares with us. Records are verified on arrival
(:meth:`Directory.put_wire`), so a peer can pass records on but never forge one.

To keep the mesh connected, each round dials known conductors of our DNAs until at least
``fanout`` of them are connected per DNA. A caller that does not know an agent asks its
connected peers (``agent_info_query``) before giving up.

Knows nothing of cells or zomes: the peer service hands it the DNAs run here and the way to
reach a record's conductor (directly or through a relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, DnaHash
from zomehost.errors import ZomehostError
from zomehost.network import protocol
from zomehost.network.agent_info import MAX_INFO_BYTES, SignedAgentInfo
from zomehost.network.directory import Directory
from zomehost.network.errors import PeerUnreachable, ProtocolError
from zomehost.network.transport import Connection, Transport

log = logging.getLogger("zomehost.network.gossip")

MAX_BATCH = 500
"""Records in one ``agent_infos`` message, sent or accepted."""
DEFAULT_FANOUT = 3
MAX_DIALS_PER_ROUND = 8
MAX_HELD = 20_000
"""Signatures remembered per connection as held by the peer (the directory's size)."""
QUERY_PEERS = 8
"""Connected peers asked at once for an agent nobody told us about."""

Connector = Callable[[SignedAgentInfo, float], Awaitable[Connection]]
"""Reach the conductor of a record (directly or through one of its relays) within a time."""


class Gossip:
    def __init__(
        self,
        directory: Directory,
        transport: Transport,
        *,
        local_dnas: Callable[[], set[bytes]],
        connect: Connector,
        fanout: int = DEFAULT_FANOUT,
    ) -> None:
        self.directory = directory
        self.transport = transport
        self.local_dnas = local_dnas
        self.connect = connect
        self.fanout = fanout
        self._held: dict[Connection, set[bytes]] = {}
        """Per connection: signatures of the records the peer is known to hold."""
        self._pushing: set[Connection] = set()

    # -- sending ----------------------------------------------------------------------------
    def _peer_dnas(self) -> dict[bytes, set[bytes]]:
        """Transport identity → the DNAs its conductor runs (by the records we hold)."""
        out: dict[bytes, set[bytes]] = {}
        for record in self.directory.all():
            out.setdefault(record.info.transport_id, set()).add(record.info.dna_hash.raw)
        return out

    def _due(self, conn: Connection, peer_dnas: dict[bytes, set[bytes]]) -> list[SignedAgentInfo]:
        """What ``conn``'s peer should get: our own records, then those of shared DNAs."""
        held = self._held.setdefault(conn, set())
        ours = self.local_dnas()
        shared = ours & peer_dnas.get(conn.remote_identity, set())
        out: list[SignedAgentInfo] = []
        for dna in sorted(ours):
            for record in self.directory.for_dna(DnaHash(dna)):
                if record.signature in held:
                    continue
                mine = record.info.transport_id == self.transport.identity
                if mine or (dna in shared and record.info.transport_id != conn.remote_identity):
                    out.append(record)
        return out

    async def push(self, conn: Connection, peer_dnas: dict[bytes, set[bytes]] | None = None) -> int:
        """Send ``conn`` what it lacks (in batches); the number of records sent."""
        if conn in self._pushing or not conn.usable:
            return 0
        self._pushing.add(conn)
        try:
            due = self._due(conn, self._peer_dnas() if peer_dnas is None else peer_dnas)
            held = self._held.setdefault(conn, set())
            for i in range(0, len(due), MAX_BATCH):
                batch = due[i : i + MAX_BATCH]
                try:
                    await conn.send_message(protocol.OP_AGENT_INFOS, [r.to_wire() for r in batch])
                except PeerUnreachable:
                    return i
                held.update(r.signature for r in batch)
            return len(due)
        finally:
            self._pushing.discard(conn)

    async def announce(self, records: list[SignedAgentInfo]) -> None:
        """New records of our own: to every connected peer now (not at the next round)."""
        await asyncio.gather(
            *(self.push(conn) for conn in self.transport.connections if conn.usable),
            return_exceptions=True,
        )

    async def round(self) -> None:
        """One gossip round: forget closed connections, push to every peer, keep the mesh."""
        live = set(self.transport.connections)
        for conn in [c for c in self._held if c not in live]:
            del self._held[conn]
        peer_dnas = self._peer_dnas()
        await asyncio.gather(
            *(self.push(conn, peer_dnas) for conn in live if conn.usable), return_exceptions=True
        )
        await self._fill(peer_dnas)

    async def _fill(self, peer_dnas: dict[bytes, set[bytes]]) -> None:
        """Dial known conductors of each local DNA until ``fanout`` of them are connected."""
        connected = {c.remote_identity for c in self.transport.connections if c.usable}
        me = self.transport.identity
        wanted: dict[bytes, SignedAgentInfo] = {}
        for dna in self.local_dnas():
            have = sum(1 for t in connected if dna in peer_dnas.get(t, ()))
            candidates = [
                r
                for r in self.directory.for_dna(DnaHash(dna))
                if r.info.transport_id not in connected
                and r.info.transport_id != me
                and r.info.transport_id not in wanted
            ]
            random.shuffle(candidates)
            for record in candidates[: max(0, self.fanout - have)]:
                wanted[record.info.transport_id] = record
        dials = list(wanted.values())[:MAX_DIALS_PER_ROUND]
        if dials:
            await asyncio.gather(*(self._dial(r) for r in dials), return_exceptions=True)

    async def _dial(self, record: SignedAgentInfo) -> None:
        with contextlib.suppress(PeerUnreachable, TimeoutError):
            conn = await self.connect(record, 5.0)
            await self.push(conn)

    # -- receiving --------------------------------------------------------------------------
    def received(self, conn: Connection | None, body: Any) -> list[SignedAgentInfo]:
        """An ``agent_infos`` message: keep what verifies, is newer and belongs to a DNA run
        here (a peer cannot make us store other networks' records); note what it holds."""
        if not isinstance(body, list):
            return []
        ours = self.local_dnas()
        wires = [w for w in body[:MAX_BATCH] if _dna(w) in ours]
        kept = self.directory.put_many_wire(wires)
        if conn is not None:  # only records we hold (verified): a peer cannot grow this set
            held = self._held.setdefault(conn, set())
            if len(held) > MAX_HELD:
                held.clear()  # forgetting only means sending some records again
            held.update(r.signature for w in wires if (r := self.directory.known(w)) is not None)
        return kept

    def answer_query(self, body: Any) -> list[dict[str, bytes]]:
        """``agent_info_query`` ``{dna, agent}``: the record held, for a DNA run here."""
        if not isinstance(body, dict):
            raise ProtocolError("an agent info query is a map {dna, agent}")
        dna, agent = body.get("dna"), body.get("agent")
        if not isinstance(dna, bytes) or not isinstance(agent, bytes):
            raise ProtocolError("an agent info query names a dna and an agent (bytes)")
        if dna not in self.local_dnas():
            return []
        try:
            record = self.directory.get(DnaHash(dna), AgentPubKey(agent))
        except ZomehostError:  # not a well-formed hash: nothing to answer
            return []
        return [] if record is None else [record.to_wire()]

    async def query(
        self, dna: DnaHash, agent: AgentPubKey, timeout: float
    ) -> SignedAgentInfo | None:
        """Ask connected peers for ``agent``'s record; the newest verified answer, if any."""
        conns = [c for c in self.transport.connections if c.usable][:QUERY_PEERS]
        if not conns or timeout <= 0:
            return None
        body = {"dna": dna.raw, "agent": agent.raw}
        answers = await asyncio.gather(
            *(c.request(protocol.OP_AGENT_INFO_QUERY, body, timeout) for c in conns),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, list):
                self.directory.put_many_wire(answer[:1])
        return self.directory.get(dna, agent)


def _dna(wire: Any) -> bytes | None:
    """The DNA a record names, read without verifying it (only to filter: verified later)."""
    data = wire.get("info") if isinstance(wire, dict) else None
    if not isinstance(data, bytes) or len(data) > MAX_INFO_BYTES:
        return None
    try:
        doc = unpack(data, max_len=MAX_INFO_BYTES, what="agent info")
    except ZomehostError:
        return None
    dna = doc.get("dna") if isinstance(doc, dict) else None
    return dna if isinstance(dna, bytes) else None


__all__ = ["Gossip"]
