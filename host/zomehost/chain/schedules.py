"""The ``schedules`` table: each cell's scheduled functions, kept beside its chain.

Key: cell key + zome name + NUL + function name; value: msgpack of
:meth:`ScheduledFn.to_state`. A call's schedule writes (:class:`ScheduleWrite`) go into the
transaction that commits its records, so a schedule exists exactly when the call that made
it committed; a deleted clone cell's schedules go with its chain (``SourceChain.erase``).
"""

from __future__ import annotations

import lmdb

from zomehost.chain.store import Store
from zomehost.core.codec import pack, unpack
from zomehost.core.schedule import MAX_SCHEDULES_PER_CELL, ScheduledFn, ScheduleWrite
from zomehost.errors import IntegrityError, LimitExceeded, ZomehostError

TABLE = "schedules"
CELL_KEY_LEN = 78  # CellId.key


def _key(cell_key: bytes, zome: str, fn: str) -> bytes:
    return cell_key + zome.encode() + b"\0" + fn.encode()


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


def apply(
    txn: lmdb.Transaction, store: Store, cell_key: bytes, writes: list[ScheduleWrite]
) -> None:
    """Apply a call's schedule writes in its commit transaction."""
    db = store.db[TABLE]
    for w in writes:
        key = _key(cell_key, w.zome, w.fn)
        if w.item is None:
            txn.delete(key, db=db)
            continue
        if w.if_absent:
            if txn.get(key, db=db) is not None:
                continue
            if len(_items(txn, store, cell_key)) >= MAX_SCHEDULES_PER_CELL:
                raise LimitExceeded(
                    f"a cell may have at most {MAX_SCHEDULES_PER_CELL} scheduled functions"
                )
        txn.put(key, pack(w.item.to_state()), db=db)


def of_cell(store: Store, cell_key: bytes) -> list[ScheduledFn]:
    with store.read() as txn:
        return [_decode(v) for _, v in _items(txn, store, cell_key)]


def every(store: Store) -> list[tuple[bytes, ScheduledFn]]:
    """(cell key, scheduled function) of every cell, in key order."""
    with store.read() as txn:
        return [(k[:CELL_KEY_LEN], _decode(v)) for k, v in _items(txn, store, b"")]


def drop_ephemeral(store: Store) -> int:
    """Forget every ephemeral schedule (at start: they do not outlive a conductor run)."""
    with store.write() as txn:
        gone = [k for k, v in _items(txn, store, b"") if _is_ephemeral(v)]
        for k in gone:
            txn.delete(k, db=store.db[TABLE])
    return len(gone)


def _is_ephemeral(raw: bytes) -> bool:
    schedule = _decode(raw).schedule
    return schedule is not None and not schedule.persisted
