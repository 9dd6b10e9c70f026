"""One cell's source chain: reads from the store, and the scratch workspace of a call.

A :class:`Workspace` starts from a snapshot of the chain head. The call's writes are
actions kept in memory (signed; a relaxed one when its place is final, at commit); reads
see them on top of the stored chain. ``commit`` appends all of them in one write
transaction if the head is still where the workspace started. If it moved, a call whose
every write chose relaxed ordering (Holochain's ``ChainTopOrdering::Relaxed``: the write
does not depend on the head) is rebased onto the new head and signed in that transaction;
any other call raises :class:`HeadMoved`, so a chain is never silently forked.

Hash lookups: a commit writes only its records and the head, keys that grow in order (the
B-tree pages they touch are the same few hot ones whatever the chain's length). The hashes
of the newest records (at most :data:`INDEX_BATCH` + the current batch) are found through
an in-memory map rebuilt from those records; every :data:`INDEX_BATCH` records, the commit
moves them into the hash-keyed index in one sorted batch. Random-key index inserts are what
made a commit on a long chain slower (docs/performance.md): batched, they share one sync.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import lmdb

from zomehost.chain import index, schedules
from zomehost.chain.store import Store, seq_key
from zomehost.core import on_loop
from zomehost.core.action import (
    Action,
    ActionType,
    ChainHead,
    Entry,
    Record,
    Signer,
    SystemEntryType,
    decode_action,
    sign_action,
    signed,
    verify_links,
    verify_record,
)
from zomehost.core.capability import CapClaim, StoredGrant, ZomeCallCapGrant
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, EntryHash, HashType, HoloHash
from zomehost.core.query import ChainQueryFilter
from zomehost.core.schedule import ScheduleWrite
from zomehost.errors import (
    ChainError,
    HeadMoved,
    IntegrityError,
    InvalidInput,
    NotFound,
    Unauthorized,
    ZomehostError,
)

# Records kept out of the hash index before a commit moves them into it (one batch).
INDEX_BATCH = 256
_CAP_ENTRY_TYPES = frozenset({SystemEntryType.CAP_GRANT.value, SystemEntryType.CAP_CLAIM.value})
_Hashes = tuple[int, bytes, bytes | None]  # seq, action hash, entry hash


def _head_value(seq: int, action: ActionHash, indexed: int) -> bytes:
    """A ``heads`` value: seq (8) | action hash (39) | records in the hash index (8)."""
    return seq.to_bytes(8, "big") + action.raw + indexed.to_bytes(8, "big")


def _indexed(head_value: bytes) -> int:
    """How many records (from seq 0) the hash index holds, from a ``heads`` value."""
    return int.from_bytes(head_value[47:55], "big")


def _decode_record(raw: bytes, include_entry: bool) -> Record:
    """Decode a stored record; any damage is an :class:`IntegrityError`, never a crash."""
    try:
        doc = unpack(raw, what="stored record")
        action_bytes = doc["action"]
        entry_bytes = doc["entry"] if include_entry else None
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
        self._grants_cache: tuple[tuple[int, bool], tuple[StoredGrant, ...]] | None = None
        self._recent: _Recent | None = None  # hashes of the records not in the index yet
        self._recent_lock = threading.Lock()

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
        if rec is None:
            raise IntegrityError(f"record {seq}, the head, is missing")
        head = ChainHead(ActionHash(raw[8:47]), seq, rec.action.timestamp)
        self._head_cache = (raw, head)
        return head

    def head(self) -> ChainHead | None:
        with self.store.read() as txn:
            return self._head(txn)

    def _record(self, txn: lmdb.Transaction, seq: int, *, include_entry: bool) -> Record | None:
        raw = txn.get(seq_key(self.key, seq), db=self.store.db["records"])
        if raw is None:
            return None
        return _decode_record(bytes(raw), include_entry)

    def _hashes(self, txn: lmdb.Transaction, lo: int, hi: int) -> Iterator[_Hashes]:
        """(seq, action hash, entry hash or None) of the stored records ``lo <= seq < hi``."""
        cur = txn.cursor(db=self.store.db["records"])
        if not cur.set_key(seq_key(self.key, lo)):
            return
        for seq in range(lo, hi):
            try:
                doc = unpack(bytes(cur.value()), what="stored record")
                entry = doc["entry"]
                entry_hash = None if entry is None else EntryHash.of_content(entry).raw
                yield seq, bytes(doc["hash"]), entry_hash
            except (ZomehostError, KeyError, TypeError) as exc:
                raise IntegrityError(f"record {seq} is damaged: {exc}") from None
            if seq + 1 < hi and not cur.next():
                raise IntegrityError(f"record {seq + 1} is missing")

    def _recent_for(self, txn: lmdb.Transaction, head: int, indexed: int) -> _Recent:
        """The hashes of records ``indexed <= seq <= head`` (the ones a reader at this
        snapshot cannot find in the index), extended from the stored records as needed.
        The caller holds ``_recent_lock`` (the map only grows or is replaced under it)."""
        recent = self._recent
        if recent is not None and recent.lo > indexed:  # an old snapshot: its own map
            recent = _Recent(indexed)
        elif recent is None:
            recent = self._recent = _Recent(indexed)
        for seq, action, entry in self._hashes(txn, recent.hi, head + 1):
            recent.add(seq, action, entry)
        return recent

    def _unindexed(
        self, txn: lmdb.Transaction, lo: int, hi: int
    ) -> tuple[list[tuple[bytes, int]], list[tuple[bytes, int]]]:
        """(hash, seq) of the actions and the entries of the records ``lo <= seq < hi``."""
        with self._recent_lock:
            recent = self._recent_for(txn, hi - 1, lo)
            return (
                [(h, s) for h, s in recent.actions.items() if lo <= s < hi],
                [(h, s) for h, seqs in recent.entries.items() for s in seqs if lo <= s < hi],
            )

    def records(self, flt: ChainQueryFilter | None = None) -> list[Record]:
        """The records ``flt`` selects, read through the query index (chain/index.py):
        only the records returned are decoded."""
        flt = flt or ChainQueryFilter(include_entries=True)
        flt = flt.resolved(_seq_lookup(self.get))
        with self.store.read() as txn:
            raw_head = txn.get(self.key, db=self.store.db["heads"])
            if raw_head is None:
                return []
            head_seq = int.from_bytes(raw_head[:8], "big")
            start, end = flt.seq_bounds(head_seq)
            out: list[Record] = []
            for seq in index.select(self._parts(txn, flt, bytes(raw_head)), start, end):
                if not len(out) & 63:  # on the event loop, a long read stops in time
                    on_loop.check_time("a query")
                r = self._record(txn, seq, include_entry=flt.include_entries)
                if r is None:
                    raise IntegrityError(f"record {seq} is missing")
                out.append(r)
        if flt.descending:
            out.reverse()
        return out

    def _parts(
        self, txn: lmdb.Transaction, flt: ChainQueryFilter, raw_head: bytes
    ) -> list[index.Part]:
        """One part of the index join per filter that is set."""
        by_type = self.store.db["by_type"]
        parts: list[index.Part] = []
        if flt.entry_hashes is not None:
            parts.append(index.ListPart(self._entry_seqs(txn, flt.entry_hashes, raw_head)))
        if flt.action_type is not None:
            names = sorted(t.value for t in flt.action_type)
            runs = [index.run_prefix(self.key, index.ACTION_KIND, n) for n in names]
            parts.append(index.RunsPart(txn, by_type, runs))
        if flt.entry_type is not None:
            runs = [index.run_prefix(self.key, index.ENTRY_KIND, n) for n in sorted(flt.entry_type)]
            parts.append(index.RunsPart(txn, by_type, runs))
        return parts

    def _entry_seqs(
        self, txn: lmdb.Transaction, hashes: frozenset[EntryHash], raw_head: bytes
    ) -> list[int]:
        """The seqs of every record that wrote one of ``hashes``: the indexed ones from
        the hash index, the newest from the in-memory map of the records after it."""
        out: list[int] = []
        cur = txn.cursor(db=self.store.db["by_hash"])
        for h in hashes:
            prefix = b"e" + self.key + h.raw
            if cur.set_range(prefix):
                for raw_key in cur.iternext(keys=True, values=False):
                    k = bytes(raw_key)
                    if not k.startswith(prefix):
                        break
                    out.append(int.from_bytes(k[len(prefix) :], "big"))
        head_seq = int.from_bytes(raw_head[:8], "big")
        with self._recent_lock:
            recent = self._recent_for(txn, head_seq, _indexed(raw_head))
            for h in hashes:
                out.extend(s for s in recent.entries.get(h.raw, ()) if s <= head_seq)
        return out

    def first(self, action_type: ActionType) -> Record | None:
        """The oldest record of ``action_type`` (one seek in the query index)."""
        with self.store.read() as txn:
            head = txn.get(self.key, db=self.store.db["heads"])
            if head is None:
                return None
            prefix = index.run_prefix(self.key, index.ACTION_KIND, action_type.value)
            part = index.RunsPart(txn, self.store.db["by_type"], [prefix])
            seq = part.seek(0)
            if seq is None or seq > int.from_bytes(head[:8], "big"):
                return None
            return self._record(txn, seq, include_entry=False)

    def get(self, hash_: HoloHash) -> Record | None:
        """A record by action hash, or the first record that created an entry hash."""
        is_action = hash_.hash_type is HashType.ACTION
        if not is_action and hash_.hash_type is not HashType.ENTRY:
            raise InvalidInput("get takes an action hash or an entry hash")
        by_hash = self.store.db["by_hash"]
        with self.store.read() as txn:
            head = txn.get(self.key, db=self.store.db["heads"])
            if head is None:
                return None
            seq: int | None = None
            if is_action:
                loc = txn.get(hash_.raw, db=by_hash)
                if loc is not None and loc[:78] == self.key:
                    seq = int.from_bytes(loc[78:], "big")
            else:  # the first record that wrote the entry: the first key of its run
                prefix = b"e" + self.key + hash_.raw
                cur = txn.cursor(db=by_hash)
                if cur.set_range(prefix) and (k := bytes(cur.key())).startswith(prefix):
                    seq = int.from_bytes(k[len(prefix) :], "big")
            if seq is None:  # not in the index: one of the newest records, or none
                head_seq = int.from_bytes(head[:8], "big")
                with self._recent_lock:
                    recent = self._recent_for(txn, head_seq, _indexed(bytes(head)))
                    if is_action:
                        seq = recent.actions.get(hash_.raw)
                    else:
                        seqs = recent.entries.get(hash_.raw)
                        seq = seqs[0] if seqs else None
                if seq is None or seq > head_seq:
                    return None
            return self._record(txn, seq, include_entry=True)

    def check_head(self) -> None:
        """What a cell checks when it opens (lazily, at its first call): the chain has a
        head, the record it names is there and decodes, its hash matches its bytes, its
        signature is its author's and its author is this cell's agent. Raises
        :class:`IntegrityError`; the whole walk is :meth:`verify` (``chain verify``)."""
        with self.store.read() as txn:
            raw = txn.get(self.key, db=self.store.db["heads"])
            if raw is None:
                raise IntegrityError(f"the chain of cell {self.cell} has no records")
            raw = bytes(raw)
            seq = int.from_bytes(raw[:8], "big")
            head = self._record(txn, seq, include_entry=True)
        if head is None:
            raise IntegrityError(f"record {seq}, the head, is missing")
        if head.action_hash.raw != raw[8:47] or head.action.action_seq != seq:
            raise IntegrityError("the head does not point at the last record")
        if head.action.author != self.cell.agent:
            raise IntegrityError("the chain does not belong to this cell")
        verify_record(head)
        self._head_cache = (raw, ChainHead(head.action_hash, seq, head.action.timestamp))

    def verify(self) -> int:
        """Walk every stored record: hashes, signatures, entries, links, sequence, head,
        and the query index.

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
            index.check(txn, self.store.db["by_type"], self.key, [r.action for r in records])
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

    def erase(self, txn: lmdb.Transaction) -> int:
        """Delete every record, index entry, grant and schedule of this chain (a deleted
        clone cell); returns how many records went."""
        db = self.store.db
        count = 0
        self.store.grants_changed()
        schedules.erase_cell(txn, self.store, self.key)
        for table in ("records", "grants"):
            cur = txn.cursor(db=db[table])
            if not cur.set_range(self.key):
                continue
            while cur.key()[: len(self.key)] == self.key:
                if table == "records":
                    txn.delete(bytes(unpack(bytes(cur.value()))["hash"]), db=db["by_hash"])
                    count += 1
                if not cur.delete():
                    break
        cur = txn.cursor(db=db["by_hash"])
        prefix = b"e" + self.key
        if cur.set_range(prefix):
            while cur.key()[: len(prefix)] == prefix and cur.delete():
                pass
        txn.delete(self.key, db=db["heads"])
        self._head_cache = None
        self._grants_cache = None
        self._recent = None
        return count

    def grants(self, *, include_revoked: bool = False) -> list[StoredGrant]:
        """The cell's grants (live ones unless ``include_revoked``).

        The decoded list is kept with the store's ``grants_version`` read before it and
        reused while that stays: a commit that changes the grants table moves it as it
        writes and again once committed (so a list read from a snapshot older than the
        commit is never taken for newer). Writes that touch no grant, nearly all of them,
        keep the list: concurrent writers move the head on every call.
        """
        version = self.store.grants_version
        key = (version, include_revoked)
        cached = self._grants_cache
        if cached is not None and cached[0] == key:
            return list(cached[1])
        with self.store.read() as txn:
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
                if not len(found) & 63:  # on the event loop, a long read stops in time
                    on_loop.check_time("reading the grants")
                try:
                    doc = unpack(bytes(value), what="grant index")
                    if doc["revoked"] and not include_revoked:
                        continue
                    grant = StoredGrant(
                        ActionHash(bytes(key[78:])),
                        ZomeCallCapGrant.from_wire(doc["grant"]),
                        bool(doc["revoked"]),
                    )
                    found.append((int(doc.get("seq", 0)), grant))
                except (KeyError, TypeError, ValueError, AttributeError, ZomehostError):
                    raise IntegrityError(
                        f"the grant index entry {bytes(key[78:]).hex()} of this cell is damaged"
                    ) from None
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


class _Unread:
    """A workspace's base before its call first looked at its chain."""


_UNREAD = _Unread()


class Workspace:
    """The scratch space of one call (shared by its inter-zome calls).

    Its ``base`` — the head its writes are made on, which must still be the chain's head
    when they commit (else ``HeadMoved``, or a rebase of relaxed writes) — is read when the
    call first looks at its chain (a read, a write, its head, a call out whose callee may
    read it and answer), not when the call starts: most calls never do, and reading it
    cost a read transaction each. Nothing the call read or wrote is older than it, so a
    commit after its base still fails as before."""

    def __init__(self, chain: SourceChain, sign: Signer, grant: ActionHash | None = None) -> None:
        self.chain = chain
        self.sign = sign
        # the capability grant that let the call in (None: its author): its writes commit
        # only while that grant is live (write_into), whenever it was revoked or replaced
        self.grant = grant
        self._base: ChainHead | _Unread | None = _UNREAD
        self.pending: list[Record] = []
        self.schedule_writes: list[ScheduleWrite] = []  # commit with the records (schedules.py)
        self.strict_writes = 0  # pending writes that need the head they were made on
        self.wrote_grants = False  # write_into changed the grants table
        # set by write_into: the head value written, the index's extent before and after
        self.head_value = b""
        self.indexed = (0, 0)

    @property
    def base(self) -> ChainHead | None:
        """The head this call's writes are made on (read at its first look, see above)."""
        return self.look()

    @base.setter
    def base(self, head: ChainHead | None) -> None:
        self._base = head

    def look(self) -> ChainHead | None:
        """The call looks at its committed chain: its base is read first, if not yet."""
        base = self._base
        if isinstance(base, _Unread):
            base = self._base = self.chain.head()
        return base

    @property
    def author(self) -> AgentPubKey:
        return self.chain.cell.agent

    def head(self) -> ChainHead | None:
        if self.pending:
            last = self.pending[-1]
            return ChainHead(last.action_hash, last.action.action_seq, last.action.timestamp)
        return self.base

    @property
    def relaxed(self) -> bool:
        """Every pending write chose relaxed ordering: the commit may rebase them."""
        return bool(self.pending) and not self.strict_writes

    def append(
        self,
        action_type: ActionType,
        now: int,
        entry: Entry | None = None,
        *,
        relaxed: bool = False,
        **fields: Any,
    ) -> Record:
        """Sign and keep one write. ``relaxed``: it does not depend on the chain head (a
        capability entry never is: grants and claims are always strict); it is signed
        only once its place is final, at commit (or when this call reads it back)."""
        if entry is not None and entry.entry_type in _CAP_ENTRY_TYPES:
            relaxed = False
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
        record = sign_action(action, None if relaxed else self.sign, entry)
        if not self.pending:  # this call will commit: a group may wait for it
            self.chain.store.expect_commit(self)
        self.pending.append(record)
        if not relaxed:
            self.strict_writes += 1
        return record

    def create(self, entry: Entry, now: int, *, relaxed: bool = False) -> Record:
        return self.append(ActionType.CREATE, now, entry, relaxed=relaxed)

    def update(
        self, original: ActionHash, entry: Entry, now: int, *, relaxed: bool = False
    ) -> Record:
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
            relaxed=relaxed and orig.action.entry_type not in _CAP_ENTRY_TYPES,
            original_action_address=original,
            original_entry_address=orig.action.entry_hash,
        )

    def delete(self, target: ActionHash, now: int, *, relaxed: bool = False) -> Record:
        orig = self.get(target)
        if orig is None or orig.action.type not in (ActionType.CREATE, ActionType.UPDATE):
            raise NotFound(f"no create or update action {target} on this chain")
        return self.append(
            ActionType.DELETE,
            now,
            relaxed=relaxed and orig.action.entry_type not in _CAP_ENTRY_TYPES,
            deletes_address=target,
            deletes_entry_address=orig.action.entry_hash,
        )

    def get(self, hash_: HoloHash) -> Record | None:
        self.look()
        for i in range(len(self.pending) - 1, -1, -1):
            r = self.pending[i]
            if r.action_hash == hash_ or (
                hash_.hash_type is HashType.ENTRY and r.action.entry_hash == hash_
            ):
                return self._signed(i)
        return self.chain.get(hash_)

    def _signed(self, i: int) -> Record:
        """Pending record ``i``, signed (a relaxed write the call reads back is signed as
        it is: it may be rebased and signed again at commit)."""
        r = self.pending[i] = signed(self.pending[i], self.sign)
        return r

    def grants(self, *, include_revoked: bool = False) -> list[StoredGrant]:
        """The committed chain's grants (this call's pending ones not folded in)."""
        self.look()
        return self.chain.grants(include_revoked=include_revoked)

    def query(self, flt: ChainQueryFilter) -> list[Record]:
        self.look()
        flt = flt.resolved(_seq_lookup(self.get))  # this call's own writes can bound the range too
        committed = self.chain.records(replace(flt, descending=False))
        lo, hi = flt.sequence_range or (0, 1 << 62)
        extra = [
            r if flt.include_entries else _without_entry(r)
            for r in [
                self._signed(i)
                for i, r in enumerate(self.pending)
                if lo <= r.action.action_seq < hi and flt.matches(r)
            ]
        ]
        out = committed + extra
        if flt.descending:
            out.reverse()
        return out

    def schedule(self, write: ScheduleWrite) -> None:
        """Keep a change to the cell's scheduled functions, written with the records."""
        self.schedule_writes.append(write)

    @property
    def has_writes(self) -> bool:
        """Records or schedule changes are waiting for a commit."""
        return bool(self.pending or self.schedule_writes)

    def commit(self) -> list[Record]:
        """Append the pending records and schedule writes in one transaction; nothing is
        written on failure."""
        if not self.has_writes:
            return []
        (outcome,) = commit_all([self])  # shares a sync with concurrent commits
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def not_committed(self, exc: BaseException) -> None:
        """The commit of these writes failed with ``exc``: forget what it may have left."""
        if self.wrote_grants:  # not committed: grants read meanwhile are stale all the same
            self.chain.store.grants_changed()
            self.wrote_grants = False
        if not isinstance(exc, HeadMoved):
            # the hash map may have grown from records of a transaction that did not commit
            with self.chain._recent_lock:
                self.chain._recent = None

    def write_into(self, txn: lmdb.Transaction) -> None:
        """Put the pending records and schedule writes into an open write transaction (the
        caller commits it)."""
        chain = self.chain
        store, key = chain.store, chain.key
        if self.grant is not None and not _grant_live(txn, store, key + self.grant.raw):
            raise Unauthorized(
                f"the capability grant {self.grant} that let this call in was revoked or "
                "updated while it ran: its writes were not committed"
            )
        schedules.apply(txn, store, key, self.schedule_writes)
        if not self.pending:
            return
        raw_head = txn.get(key, db=store.db["heads"])
        current = chain._head(txn)
        if (current is None) != (self.base is None) or (
            current is not None and self.base is not None and current.action != self.base.action
        ):
            if current is None or self.base is None or not self.relaxed:
                raise HeadMoved(
                    f"chain head of {chain.cell.agent} moved during the call "
                    "(another call wrote first): its writes were not committed"
                )
            self._rebase(current)
        self.pending = [signed(r, self.sign) for r in self.pending]
        for r in self.pending:
            self.wrote_grants |= _put_record(txn, store, key, r)
        first, last = self.pending[0].action.action_seq, self.pending[-1]
        end = last.action.action_seq + 1
        indexed = 0 if raw_head is None else _indexed(bytes(raw_head))
        self.indexed = (indexed, indexed)
        if end - indexed >= INDEX_BATCH:  # the batch: what the map knows, and these records
            actions, entries = chain._unindexed(txn, indexed, first)
            for r in self.pending:
                a = r.action
                actions.append((r.action_hash.raw, a.action_seq))
                if a.entry_hash is not None:
                    entries.append((a.entry_hash.raw, a.action_seq))
            _index_hashes(txn, store, key, actions, entries)
            self.indexed = (indexed, end)
        self.head_value = _head_value(end - 1, last.action_hash, self.indexed[1])
        txn.put(key, self.head_value, db=store.db["heads"])
        # the next commit in this group finds the head without decoding its record (the
        # cache is keyed by the head's bytes: if this transaction aborts, it never matches)
        la = last.action
        chain._head_cache = (
            self.head_value,
            ChainHead(last.action_hash, la.action_seq, la.timestamp),
        )

    def _rebase(self, onto: ChainHead) -> None:
        """Re-make the pending writes on top of ``onto``: new sequence numbers, links and
        signatures; references between them follow their new hashes."""
        renamed: dict[ActionHash, ActionHash] = {}
        prev, out = onto, []
        for r in self.pending:
            a = r.action
            moved = replace(
                a,
                action_seq=prev.seq + 1,
                prev_action=prev.action,
                timestamp=max(a.timestamp, prev.timestamp),
            )
            if a.original_action_address in renamed:
                moved = replace(moved, original_action_address=renamed[a.original_action_address])
            if a.deletes_address in renamed:
                moved = replace(moved, deletes_address=renamed[a.deletes_address])
            record = sign_action(moved, self.sign, r.entry)  # signed once, here
            renamed[r.action_hash] = record.action_hash
            out.append(record)
            prev = ChainHead(record.action_hash, moved.action_seq, moved.timestamp)
        self.pending, self.base = out, onto

    def committed(self) -> list[Record]:
        """Mark the pending records committed, once their transaction has committed."""
        if self.wrote_grants:  # grants read from a snapshot before the commit are stale
            self.chain.store.grants_changed()
            self.wrote_grants = False
        committed, self.pending = self.pending, []
        self.schedule_writes = []
        if not committed:
            return committed
        last = committed[-1]
        self.base = ChainHead(last.action_hash, last.action.action_seq, last.action.timestamp)
        chain = self.chain
        # the next call's workspace finds this head without decoding its record again
        chain._head_cache = (self.head_value, self.base)
        with chain._recent_lock:
            recent = chain._recent
            if recent is not None:
                for r in committed:
                    a = r.action
                    if a.action_seq == recent.hi:
                        entry = a.entry_hash.raw if a.entry_hash is not None else None
                        recent.add(a.action_seq, r.action_hash.raw, entry)
                before, after = self.indexed
                if after != before:  # keep what readers of the last snapshot still need
                    chain._recent = recent.since(before)
        return committed


def commit_all(workspaces: list[Workspace]) -> list[list[Record] | BaseException]:
    """Commit several calls' workspaces of one chain in one group, in this order (a
    combiner's batch, conductor/combining.py): each in a nested transaction of its own, so
    one whose head moved leaves the others. Per workspace: its committed records, or the
    error its commit raised."""
    if not workspaces:
        return []
    store = workspaces[0].chain.store
    try:
        outcomes = store.write_group_many([(ws.write_into, ws) for ws in workspaces])
    except BaseException as exc:  # the group's commit itself failed, on this thread
        for ws in workspaces:
            ws.not_committed(exc)
        raise
    out: list[list[Record] | BaseException] = []
    for ws, o in zip(workspaces, outcomes, strict=True):
        if o.error is None:
            out.append(ws.committed())
        else:
            ws.not_committed(o.error)
            out.append(o.error)
    return out


def _seq_lookup(get: Callable[[HoloHash], Record | None]) -> Callable[[ActionHash], int | None]:
    """action hash -> its sequence number on the chain ``get`` reads, or None."""

    def seq(h: ActionHash) -> int | None:
        record = get(h)
        return None if record is None else record.action.action_seq

    return seq


def _without_entry(r: Record) -> Record:
    return Record(r.action, r.action_hash, r.signature, None, r.action_bytes)


class _Recent:
    """Hash -> seq of the records ``lo <= seq < hi``: the ones the index may not hold."""

    __slots__ = ("actions", "entries", "hi", "lo")

    def __init__(self, lo: int) -> None:
        self.lo = self.hi = lo
        self.actions: dict[bytes, int] = {}
        self.entries: dict[bytes, list[int]] = {}  # the records that wrote the entry, in order

    def add(self, seq: int, action: bytes, entry: bytes | None) -> None:
        self.actions[action] = seq
        if entry is not None:
            self.entries.setdefault(entry, []).append(seq)
        self.hi = seq + 1

    def since(self, lo: int) -> _Recent:
        """A copy without the records below ``lo``."""
        out = _Recent(lo)
        out.hi = self.hi
        out.actions = {h: s for h, s in self.actions.items() if s >= lo}
        for h, seqs in self.entries.items():
            kept = [s for s in seqs if s >= lo]
            if kept:
                out.entries[h] = kept
        return out


def _put_record(txn: lmdb.Transaction, store: Store, key: bytes, r: Record) -> bool:
    """Put one record and its index entries; True if it changed the grants table."""
    a = r.action
    doc: dict[str, Any] = {
        "action": r.action_bytes,
        "signature": r.signature,
        "hash": r.action_hash.raw,
        "entry": r.entry.encode() if r.entry is not None else None,
    }
    if not txn.put(seq_key(key, a.action_seq), pack(doc), db=store.db["records"], overwrite=False):
        raise ChainError(f"record {a.action_seq} already exists: refusing to fork the chain")
    index.index_action(txn, store.db["by_type"], key, a)
    return _index_grants(txn, store, key, r)


def _index_hashes(
    txn: lmdb.Transaction,
    store: Store,
    key: bytes,
    actions: list[tuple[bytes, int]],
    entries: list[tuple[bytes, int]],
) -> None:
    """Put a batch of (hash, seq) into the index, in key order: an action hash to its
    record, and one key per record that wrote an entry (``e | cell | entry | seq``)."""
    puts = [(a, key + s.to_bytes(8, "big")) for a, s in actions]
    puts += [(b"e" + key + e + s.to_bytes(8, "big"), b"") for e, s in entries]
    puts.sort()
    by_hash = store.db["by_hash"]
    for k, v in puts:
        txn.put(k, v, db=by_hash)


def _index_grants(txn: lmdb.Transaction, store: Store, key: bytes, r: Record) -> bool:
    """Keep the live-grant index: created, replaced by update, revoked by delete. True if
    it changed (the store is told before the change)."""
    a, grants = r.action, store.db["grants"]
    changed = False
    if a.type is ActionType.DELETE and a.deletes_address is not None:
        changed |= _revoke(txn, store, key + a.deletes_address.raw)
    if a.type is ActionType.UPDATE and a.original_action_address is not None:
        changed |= _revoke(txn, store, key + a.original_action_address.raw)
    if a.entry_type == SystemEntryType.CAP_GRANT.value and r.entry is not None:
        grant = ZomeCallCapGrant.from_wire(unpack(r.entry.content))
        store.grants_changed()
        txn.put(
            key + r.action_hash.raw,
            pack({"grant": grant.to_wire(), "revoked": False, "seq": a.action_seq}),
            db=grants,
        )
        changed = True
    return changed


def _grant_entry(txn: lmdb.Transaction, store: Store, gkey: bytes) -> Any:
    """The grant index's entry at ``gkey``, decoded; None when there is none."""
    raw = txn.get(gkey, db=store.db["grants"])
    return None if raw is None else unpack(bytes(raw), what="grant index")


def _grant_live(txn: lmdb.Transaction, store: Store, gkey: bytes) -> bool:
    """Whether the grant indexed at ``gkey`` is there and not revoked or replaced."""
    doc = _grant_entry(txn, store, gkey)
    return doc is not None and not doc["revoked"]


def _revoke(txn: lmdb.Transaction, store: Store, gkey: bytes) -> bool:
    doc = _grant_entry(txn, store, gkey)
    if doc is None:
        return False
    doc["revoked"] = True
    store.grants_changed()
    txn.put(gkey, pack(doc), db=store.db["grants"])
    return True
