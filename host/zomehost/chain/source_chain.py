"""One cell's source chain: reads from the store, and the scratch workspace of a call.

A :class:`Workspace` starts from a snapshot of the chain head. The call's writes are signed
actions kept in memory; reads see them on top of the stored chain. ``commit`` appends all
of them in one write transaction if the head is still where the workspace started, and
raises :class:`HeadMoved` otherwise, so a chain is never silently forked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmdb

from zomehost.chain.store import Store, seq_key
from zomehost.core.action import (
    Action,
    ActionType,
    Entry,
    Record,
    Signer,
    SystemEntryType,
    decode_action,
    sign_action,
    verify_links,
    verify_record,
)
from zomehost.core.capability import CapClaim, StoredGrant, ZomeCallCapGrant
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, HashType, HoloHash
from zomehost.core.query import ChainQueryFilter
from zomehost.errors import (
    ChainError,
    HeadMoved,
    IntegrityError,
    InvalidInput,
    NotFound,
    ZomehostError,
)


@dataclass(frozen=True, slots=True)
class ChainHead:
    action: ActionHash
    seq: int
    timestamp: int

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action.raw, "seq": self.seq, "timestamp": self.timestamp}


def _decode_record(raw: bytes, entry_bytes: bytes | None) -> Record:
    """Decode a stored record; any damage is an :class:`IntegrityError`, never a crash."""
    try:
        doc = unpack(raw, what="stored record")
        action_bytes = doc["action"]
        entry = Entry.from_wire(unpack(entry_bytes, what="stored entry")) if entry_bytes else None
        signature = doc["signature"]
        if not isinstance(action_bytes, bytes) or not isinstance(signature, bytes):
            raise InvalidInput("stored record fields have the wrong types")
        return Record(
            action=decode_action(action_bytes),
            action_hash=ActionHash(bytes(doc["hash"])),
            signature=signature,
            entry=entry,
            action_bytes=action_bytes,
        )
    except IntegrityError:
        raise
    except (ZomehostError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise IntegrityError(f"a stored record is damaged: {exc}") from None


class SourceChain:
    """Read access to one cell's committed chain."""

    def __init__(self, store: Store, cell: CellId) -> None:
        self.store = store
        self.cell = cell
        self.key = cell.key
        # (stored head bytes, decoded head): a head is re-decoded only when it moved
        self._head_cache: tuple[bytes, ChainHead] | None = None
        self._grants_cache: tuple[tuple[bytes, bool], tuple[StoredGrant, ...]] | None = None

    def _head(self, txn: lmdb.Transaction) -> ChainHead | None:
        raw = txn.get(self.key, db=self.store.db["heads"])
        if raw is None:
            return None
        raw = bytes(raw)
        cached = self._head_cache
        if cached is not None and cached[0] == raw:  # seq + action hash: the same head
            return cached[1]
        seq = int.from_bytes(raw[:8], "big")
        rec = self._record(txn, seq, include_entry=False)
        assert rec is not None
        head = ChainHead(ActionHash(raw[8:]), seq, rec.action.timestamp)
        self._head_cache = (raw, head)
        return head

    def head(self) -> ChainHead | None:
        with self.store.read() as txn:
            return self._head(txn)

    def _record(self, txn: lmdb.Transaction, seq: int, *, include_entry: bool) -> Record | None:
        raw = txn.get(seq_key(self.key, seq), db=self.store.db["records"])
        if raw is None:
            return None
        entry_bytes = None
        if include_entry:
            try:
                doc_entry = unpack(bytes(raw), what="stored record").get("entry_hash")
            except (ZomehostError, AttributeError) as exc:
                raise IntegrityError(f"record {seq} is damaged: {exc}") from None
            if isinstance(doc_entry, bytes):
                found = txn.get(self.key + doc_entry, db=self.store.db["entries"])
                entry_bytes = None if found is None else bytes(found)
        return _decode_record(bytes(raw), entry_bytes)

    def records(self, flt: ChainQueryFilter | None = None) -> list[Record]:
        flt = flt or ChainQueryFilter(include_entries=True)
        with self.store.read() as txn:
            head = self._head(txn)
            if head is None:
                return []
            start, end = flt.seq_bounds(head.seq)
            out = [
                r
                for seq in range(start, end)
                if (r := self._record(txn, seq, include_entry=flt.include_entries)) is not None
                and flt.matches(r)
            ]
        if flt.descending:
            out.reverse()
        return out

    def get(self, hash_: HoloHash) -> Record | None:
        """A record by action hash, or the first record that created an entry hash."""
        with self.store.read() as txn:
            if hash_.hash_type is HashType.ACTION:
                loc = txn.get(hash_.raw, db=self.store.db["by_hash"])
                if loc is None or loc[:78] != self.key:
                    return None
                return self._record(txn, int.from_bytes(loc[78:], "big"), include_entry=True)
            if hash_.hash_type is HashType.ENTRY:
                raw = txn.get(self.key + hash_.raw, db=self.store.db["entries"])
                if raw is None:
                    return None
                loc = txn.get(b"e" + self.key + hash_.raw, db=self.store.db["by_hash"])
                if loc is None:
                    return None
                return self._record(txn, int.from_bytes(loc, "big"), include_entry=True)
        raise InvalidInput("get takes an action hash or an entry hash")

    def verify(self) -> int:
        """Walk every stored record: hashes, signatures, entries, links, sequence, head.

        Returns the number of records checked; raises :class:`IntegrityError` at the first fault.
        """
        with self.store.read() as txn:
            head = self._head(txn)
            if head is None:
                return 0
            records = []
            for seq in range(head.seq + 1):
                r = self._record(txn, seq, include_entry=True)
                if r is None:
                    raise IntegrityError(f"record {seq} is missing")
                if r.action.entry_hash is not None and r.entry is None:
                    raise IntegrityError(f"record {seq}: its entry is missing")
                verify_record(r)
                records.append(r)
            extra = txn.get(seq_key(self.key, head.seq + 1), db=self.store.db["records"])
        if extra is not None:
            raise IntegrityError(f"a record past the head ({head.seq + 1}) exists")
        verify_links(records)
        if records[-1].action_hash != head.action:
            raise IntegrityError("the head does not point at the last record")
        if (
            records[0].action.author != self.cell.agent
            or records[0].action.dna_hash != self.cell.dna_hash
        ):
            raise IntegrityError("the chain does not belong to this cell")
        return len(records)

    def grants(self, *, include_revoked: bool = False) -> list[StoredGrant]:
        """The cell's grants (live ones unless ``include_revoked``).

        The grant index changes only in a commit, and every commit moves the head: the
        decoded list is kept with the head it was read at and reused while the head stays.
        """
        with self.store.read() as txn:
            head = txn.get(self.key, db=self.store.db["heads"])
            key = (bytes(head) if head is not None else b"", include_revoked)
            cached = self._grants_cache
            if cached is not None and cached[0] == key:
                return list(cached[1])
            out = self._read_grants(txn, include_revoked)
        self._grants_cache = (key, tuple(out))
        return out

    def _read_grants(self, txn: lmdb.Transaction, include_revoked: bool) -> list[StoredGrant]:
        found: list[tuple[int, StoredGrant]] = []
        cur = txn.cursor(db=self.store.db["grants"])
        if cur.set_range(self.key):
            for key, value in cur:
                if key[:78] != self.key:
                    break
                doc = unpack(bytes(value), what="grant index")
                if doc["revoked"] and not include_revoked:
                    continue
                grant = StoredGrant(
                    ActionHash(bytes(key[78:])),
                    ZomeCallCapGrant.from_wire(doc["grant"]),
                    bool(doc["revoked"]),
                )
                found.append((int(doc.get("seq", 0)), grant))
        found.sort(key=lambda sg: sg[0])  # chain order, oldest grant first
        return [g for _, g in found]

    def claims(self) -> list[tuple[ActionHash, CapClaim]]:
        flt = ChainQueryFilter(
            entry_type=frozenset({SystemEntryType.CAP_CLAIM.value}), include_entries=True
        )
        return [
            (r.action_hash, CapClaim.from_wire(unpack(r.entry.content)))
            for r in self.records(flt)
            if r.entry is not None
        ]


class Workspace:
    """The scratch space of one call (shared by its inter-zome calls)."""

    def __init__(self, chain: SourceChain, sign: Signer) -> None:
        self.chain = chain
        self.sign = sign
        self.base = chain.head()
        self.pending: list[Record] = []

    @property
    def author(self) -> AgentPubKey:
        return self.chain.cell.agent

    def head(self) -> ChainHead | None:
        if self.pending:
            last = self.pending[-1]
            return ChainHead(last.action_hash, last.action.action_seq, last.action.timestamp)
        return self.base

    def append(
        self, action_type: ActionType, now: int, entry: Entry | None = None, **fields: Any
    ) -> Record:
        head = self.head()
        ts = now if head is None else max(now, head.timestamp)
        action = Action(
            type=action_type,
            author=self.author,
            timestamp=ts,
            action_seq=0 if head is None else head.seq + 1,
            prev_action=None if head is None else head.action,
            entry_hash=entry.hash if entry is not None else None,
            entry_type=entry.entry_type if entry is not None else None,
            **fields,
        )
        record = sign_action(action, self.sign, entry)
        self.pending.append(record)
        return record

    def create(self, entry: Entry, now: int) -> Record:
        return self.append(ActionType.CREATE, now, entry)

    def update(self, original: ActionHash, entry: Entry, now: int) -> Record:
        orig = self.get(original)
        if orig is None or orig.action.type not in (ActionType.CREATE, ActionType.UPDATE):
            raise NotFound(f"no create or update action {original} on this chain")
        if orig.action.entry_type != entry.entry_type and orig.action.entry_type in (
            SystemEntryType.CAP_GRANT.value,
            SystemEntryType.CAP_CLAIM.value,
        ):
            raise InvalidInput("a capability entry can only be updated with the same type")
        return self.append(
            ActionType.UPDATE,
            now,
            entry,
            original_action_address=original,
            original_entry_address=orig.action.entry_hash,
        )

    def delete(self, target: ActionHash, now: int) -> Record:
        orig = self.get(target)
        if orig is None or orig.action.type not in (ActionType.CREATE, ActionType.UPDATE):
            raise NotFound(f"no create or update action {target} on this chain")
        return self.append(
            ActionType.DELETE,
            now,
            deletes_address=target,
            deletes_entry_address=orig.action.entry_hash,
        )

    def get(self, hash_: HoloHash) -> Record | None:
        for r in reversed(self.pending):
            if r.action_hash == hash_ or (
                hash_.hash_type is HashType.ENTRY and r.action.entry_hash == hash_
            ):
                return r
        return self.chain.get(hash_)

    def query(self, flt: ChainQueryFilter) -> list[Record]:
        committed = self.chain.records(
            ChainQueryFilter(
                flt.sequence_range, flt.entry_type, flt.action_type, flt.include_entries
            )
        )
        lo, hi = flt.sequence_range or (0, 1 << 62)
        extra = [
            r if flt.include_entries else _without_entry(r)
            for r in self.pending
            if lo <= r.action.action_seq < hi and flt.matches(r)
        ]
        out = committed + extra
        if flt.descending:
            out.reverse()
        return out

    def commit(self) -> list[Record]:
        """Append the pending records in one transaction; nothing is written on failure."""
        if not self.pending:
            return []
        self.chain.store.write_group(self.write_into)  # shares a sync with concurrent commits
        return self.committed()

    def write_into(self, txn: lmdb.Transaction) -> None:
        """Put the pending records into an open write transaction (the caller commits it)."""
        store, key = self.chain.store, self.chain.key
        current = self.chain._head(txn)
        if (current is None) != (self.base is None) or (
            current is not None and self.base is not None and current.action != self.base.action
        ):
            raise HeadMoved(
                f"chain head of {self.chain.cell.agent} moved during the call: "
                "its writes were not committed"
            )
        for r in self.pending:
            _put_record(txn, store, key, r)
        last = self.pending[-1]
        txn.put(
            key,
            last.action.action_seq.to_bytes(8, "big") + last.action_hash.raw,
            db=store.db["heads"],
        )

    def committed(self) -> list[Record]:
        """Mark the pending records committed, once their transaction has committed."""
        committed, self.pending = self.pending, []
        last = committed[-1]
        self.base = ChainHead(last.action_hash, last.action.action_seq, last.action.timestamp)
        # the next call's workspace finds this head without decoding its record again
        raw = last.action.action_seq.to_bytes(8, "big") + last.action_hash.raw
        self.chain._head_cache = (raw, self.base)
        return committed


def _without_entry(r: Record) -> Record:
    return Record(r.action, r.action_hash, r.signature, None, r.action_bytes)


def _put_record(txn: lmdb.Transaction, store: Store, key: bytes, r: Record) -> None:
    a = r.action
    doc: dict[str, Any] = {
        "action": r.action_bytes,
        "signature": r.signature,
        "hash": r.action_hash.raw,
        "entry_hash": a.entry_hash.raw if a.entry_hash else None,
    }
    seq_bytes = a.action_seq.to_bytes(8, "big")
    if not txn.put(seq_key(key, a.action_seq), pack(doc), db=store.db["records"], overwrite=False):
        raise ChainError(f"record {a.action_seq} already exists: refusing to fork the chain")
    txn.put(r.action_hash.raw, key + seq_bytes, db=store.db["by_hash"])
    if r.entry is not None and a.entry_hash is not None:
        txn.put(key + a.entry_hash.raw, r.entry.encode(), db=store.db["entries"])
        txn.put(b"e" + key + a.entry_hash.raw, seq_bytes, db=store.db["by_hash"], overwrite=False)
    _index_grants(txn, store, key, r)


def _index_grants(txn: lmdb.Transaction, store: Store, key: bytes, r: Record) -> None:
    """Keep the live-grant index: created, replaced by update, revoked by delete."""
    a, grants = r.action, store.db["grants"]
    if a.type is ActionType.DELETE and a.deletes_address is not None:
        _revoke(txn, grants, key + a.deletes_address.raw)
    if a.type is ActionType.UPDATE and a.original_action_address is not None:
        _revoke(txn, grants, key + a.original_action_address.raw)
    if a.entry_type == SystemEntryType.CAP_GRANT.value and r.entry is not None:
        grant = ZomeCallCapGrant.from_wire(unpack(r.entry.content))
        txn.put(
            key + r.action_hash.raw,
            pack({"grant": grant.to_wire(), "revoked": False, "seq": a.action_seq}),
            db=grants,
        )


def _revoke(txn: lmdb.Transaction, grants: Any, gkey: bytes) -> None:
    raw = txn.get(gkey, db=grants)
    if raw is not None:
        doc = unpack(bytes(raw))
        doc["revoked"] = True
        txn.put(gkey, pack(doc), db=grants)
