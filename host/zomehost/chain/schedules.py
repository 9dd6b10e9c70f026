"""The ``schedules`` and ``schedule_due`` tables: each cell's scheduled functions, kept
beside its chain, and the same ordered by when they run next.

``schedules``: cell key + zome name + NUL + function name -> msgpack of
:meth:`ScheduledFn.to_state`. ``schedule_due``: next run (8 bytes, big-endian µs) + that key
-> empty, so the scheduler reads only what is due, whatever the number of schedules. A
call's schedule writes (:class:`ScheduleWrite`) go into the transaction that commits its
records, so a schedule exists exactly when the call that made it committed; a deleted clone
cell's schedules go with its chain (``SourceChain.erase``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import lmdb

from zomehost.chain.store import Store
from zomehost.core.codec import pack, unpack
from zomehost.core.schedule import MAX_SCHEDULES_PER_CELL, ScheduledFn, ScheduleWrite
from zomehost.errors import IntegrityError, LimitExceeded, ZomehostError

TABLE = "schedules"
DUE = "schedule_due"
CELL_KEY_LEN = 78  # CellId.key
_AT = struct.Struct(">Q")


def _key(cell_key: bytes, zome: str, fn: str) -> bytes:
    return cell_key + zome.encode() + b"\0" + fn.encode()


def _due_key(item: ScheduledFn, key: bytes) -> bytes:
    return _AT.pack(max(0, item.next_at)) + key


def _decode(raw: bytes) -> ScheduledFn:
    try:
        return ScheduledFn.from_state(unpack(raw, what="stored schedule"))
    except (ZomehostError, KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"a stored schedule is damaged: {exc}") from None


def _items(txn: lmdb.Transaction, store: Store, prefix: bytes) -> list[tuple[bytes, bytes]]:
    cur = txn.cursor(db=store.db[TABLE])
    out: list[tuple[bytes, bytes]] = []
    if cur.set_range(prefix):
        for k, v in cur:
            key = bytes(k)
            if not key.startswith(prefix):
                break
            out.append((key, bytes(v)))
    return out


def _delete(txn: lmdb.Transaction, store: Store, key: bytes, raw: bytes) -> None:
    txn.delete(_due_key(_decode(raw), key), db=store.db[DUE])
    txn.delete(key, db=store.db[TABLE])


def apply(
    txn: lmdb.Transaction, store: Store, cell_key: bytes, writes: list[ScheduleWrite]
) -> None:
    """Apply a call's schedule writes in its commit transaction."""
    db = store.db[TABLE]
    for w in writes:
        key = _key(cell_key, w.zome, w.fn)
        old = txn.get(key, db=db)
        if w.if_absent:
            if old is not None:
                continue
            if len(_items(txn, store, cell_key)) >= MAX_SCHEDULES_PER_CELL:
                raise LimitExceeded(
                    f"a cell may have at most {MAX_SCHEDULES_PER_CELL} scheduled functions"
                )
        if old is not None:
            _delete(txn, store, key, bytes(old))
        if w.item is not None:
            txn.put(key, pack(w.item.to_state()), db=db)
            txn.put(_due_key(w.item, key), b"", db=store.db[DUE])


def of_cell(store: Store, cell_key: bytes) -> list[ScheduledFn]:
    with store.read() as txn:
        return [_decode(v) for _, v in _items(txn, store, cell_key)]


def due(
    store: Store, now: int, limit: int, wanted: Callable[[bytes], bool]
) -> tuple[list[tuple[bytes, ScheduledFn]], int | None]:
    """Up to ``limit`` (cell key, scheduled function) due by ``now``, soonest first, of the
    cells ``wanted`` accepts; and when the next one of them is due (``now`` if more are due
    than returned; ``None``: none scheduled). Reads the due ones and one more, no others."""
    out: list[tuple[bytes, ScheduledFn]] = []
    with store.read() as txn:
        cur = txn.cursor(db=store.db[DUE])
        if not cur.first():
            return out, None
        for raw_key in cur.iternext(keys=True, values=False):
            k = bytes(raw_key)
            key = k[_AT.size :]
            if not wanted(key[:CELL_KEY_LEN]):
                continue
            (at,) = _AT.unpack_from(k)
            if at > now:
                return out, at
            if len(out) == limit:
                return out, now
            raw = txn.get(key, db=store.db[TABLE])
            if raw is None:
                raise IntegrityError("a due schedule has no entry in the schedules table")
            out.append((key[:CELL_KEY_LEN], _decode(bytes(raw))))
    return out, None


def erase_cell(txn: lmdb.Transaction, store: Store, cell_key: bytes) -> None:
    """Delete every schedule of a cell (its chain is being erased)."""
    for key, raw in _items(txn, store, cell_key):
        _delete(txn, store, key, raw)


def drop_ephemeral(store: Store) -> int:
    """Forget every ephemeral schedule (at start: they do not outlive a conductor run)."""
    with store.write() as txn:
        gone = [(k, v) for k, v in _items(txn, store, b"") if _is_ephemeral(v)]
        for key, raw in gone:
            _delete(txn, store, key, raw)
    return len(gone)


def _is_ephemeral(raw: bytes) -> bool:
    schedule = _decode(raw).schedule
    return schedule is not None and not schedule.persisted
