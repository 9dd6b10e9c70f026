"""The peer directory: the verified agent infos a conductor (or the bootstrap) knows.

Only records that pass :func:`verify_agent_info` get in; for each (DNA, agent) the one
signed last wins, and expired ones are never returned and are pruned as they are met. The
directory is bounded: per DNA and in total. Used from the event loop only (not thread-safe),
except :meth:`Directory.peek`, which only reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from zomehost.core.clock import now_micros
from zomehost.core.hash import AgentPubKey, DnaHash
from zomehost.network.agent_info import SignedAgentInfo, verify_agent_info
from zomehost.network.errors import AgentInfoError

log = logging.getLogger("zomehost.network.directory")

MAX_PER_DNA = 1000
MAX_TOTAL = 20_000


class Directory:
    def __init__(self, *, max_per_dna: int = MAX_PER_DNA, max_total: int = MAX_TOTAL) -> None:
        self._by_dna: dict[bytes, dict[bytes, SignedAgentInfo]] = {}
        self._by_signature: dict[bytes, SignedAgentInfo] = {}
        self._count = 0
        self.version = 0
        """Bumped on every change: whoever keeps a copy (the peer store) knows when to save."""
        self.max_per_dna = max_per_dna
        self.max_total = max_total

    def __len__(self) -> int:
        return self._count

    def put(self, record: SignedAgentInfo, *, now: int | None = None) -> bool:
        """Keep a verified record if it is newer than what we have; True if it was kept."""
        t = now_micros() if now is None else now
        if record.expired(t):
            return False
        info = record.info
        per = self._by_dna.setdefault(info.dna_hash.raw, {})
        old = per.get(info.agent.raw)
        if old is not None and old.info.signed_at >= info.signed_at:
            return False
        if old is None:
            if len(per) >= self.max_per_dna or self._count >= self.max_total:
                self.prune(t)
            if len(per) >= self.max_per_dna or self._count >= self.max_total:
                return False
            self._count += 1
        else:
            self._by_signature.pop(old.signature, None)
        per[info.agent.raw] = record
        self._by_signature[record.signature] = record
        self.version += 1
        return True

    def known(self, wire: Any) -> SignedAgentInfo | None:
        """The record held if ``wire`` is byte for byte one already verified, and unexpired.

        Peers and the bootstrap send the same records again and again; those need no new
        signature check.
        """
        if not isinstance(wire, dict):
            return None
        signature = wire.get("signature")
        record = self._by_signature.get(signature) if isinstance(signature, bytes) else None
        if record is None or record.data != wire.get("info") or record.expired():
            return None
        return record

    def put_wire(self, wire: Any, *, now: int | None = None) -> SignedAgentInfo | None:
        """Verify then :meth:`put` a record from the wire; bad records are dropped (logged)."""
        if self.known(wire) is not None:
            return None  # held already: nothing new
        try:
            record = verify_agent_info(wire, now=now)
        except AgentInfoError as exc:
            log.info("agent info ignored: %s", exc.message)
            return None
        return record if self.put(record, now=now) else None

    def put_many_wire(
        self, wires: Iterable[Any], *, now: int | None = None
    ) -> list[SignedAgentInfo]:
        return [r for w in wires if (r := self.put_wire(w, now=now)) is not None]

    def get(
        self, dna_hash: DnaHash, agent: AgentPubKey, *, now: int | None = None
    ) -> SignedAgentInfo | None:
        per = self._by_dna.get(dna_hash.raw)
        record = per.get(agent.raw) if per else None
        if record is None:
            return None
        if record.expired(now):
            self._remove(dna_hash.raw, agent.raw)
            return None
        return record

    def peek(self, dna_hash: DnaHash, agent: AgentPubKey) -> SignedAgentInfo | None:
        """:meth:`get` without pruning: safe from a worker thread while the loop writes."""
        per = self._by_dna.get(dna_hash.raw)
        record = per.get(agent.raw) if per else None
        return None if record is None or record.expired() else record

    def remove(self, dna_hash: DnaHash, agent: AgentPubKey) -> None:
        self._remove(dna_hash.raw, agent.raw)

    def for_dna(
        self, dna_hash: DnaHash, *, now: int | None = None, limit: int | None = None
    ) -> list[SignedAgentInfo]:
        t = now_micros() if now is None else now
        out = [r for r in (self._by_dna.get(dna_hash.raw) or {}).values() if not r.expired(t)]
        out.sort(key=lambda r: -r.info.signed_at)
        return out if limit is None else out[:limit]

    def all(self, *, now: int | None = None, limit: int | None = None) -> list[SignedAgentInfo]:
        t = now_micros() if now is None else now
        out = [r for per in self._by_dna.values() for r in per.values() if not r.expired(t)]
        out.sort(key=lambda r: -r.info.signed_at)
        return out if limit is None else out[:limit]

    def prune(self, now: int | None = None) -> int:
        t = now_micros() if now is None else now
        gone = [
            (dna, agent)
            for dna, per in self._by_dna.items()
            for agent, r in per.items()
            if r.expired(t)
        ]
        for dna, agent in gone:
            self._remove(dna, agent)
        return len(gone)

    def _remove(self, dna: bytes, agent: bytes) -> None:
        per = self._by_dna.get(dna)
        record = per.pop(agent, None) if per is not None else None
        if per is not None and record is not None:
            self._by_signature.pop(record.signature, None)
            self._count -= 1
            self.version += 1
            if not per:
                del self._by_dna[dna]


__all__ = ["Directory"]
