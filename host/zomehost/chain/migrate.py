"""Migration of a chain store from format 2 to format 3 (the query index).

Format 3 adds the ``by_type`` table (every record's action and entry type) and keeps one
hash-index key per record that wrote an entry instead of the first one only. The records
themselves do not change: migrating reads each record once and adds its keys.

Crash-safe: the work goes in batches, one transaction each, and the same transaction
records how far it got (``store/migration``); every key it writes is idempotent, so a
migration killed at any point resumes where its last batch committed. The store is stamped
format 3 in the transaction that finishes it, and not before.
"""

from __future__ import annotations

from collections.abc import Callable

import lmdb

from zomehost.chain import index
from zomehost.chain.store import FORMAT, FORMAT_KEY, Store, seq_key
from zomehost.core.action import decode_action
from zomehost.core.codec import pack, unpack
from zomehost.errors import IntegrityError, ZomehostError

BATCH = 5000  # records per transaction
_PROGRESS_KEY = b"store/migration"
_CELL_KEY_LEN = 78
_OLD_ENTRY_KEY_LEN = 1 + _CELL_KEY_LEN + 39  # format 2: e | cell | entry -> seq


def migrate_from_2(store: Store, progress: Callable[[str], None]) -> None:
    """Bring a format 2 store to format 3, resuming an interrupted migration."""
    with store.read() as txn:
        heads = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=store.db["heads"])]
        raw = txn.get(_PROGRESS_KEY, db=store.db["state"])
    resume = unpack(bytes(raw), what="migration progress") if raw is not None else None
    total = sum(int.from_bytes(v[:8], "big") + 1 for _, v in heads)
    done = 0
    progress(f"migrating the chain store at {store.path} to format {FORMAT}: {total} records")
    for cell_key, head in heads:
        head_seq = int.from_bytes(head[:8], "big")
        indexed = int.from_bytes(head[47:55], "big")
        seq = 0
        if resume is not None:
            if cell_key < resume["cell"]:  # cells go in key order: this one is done
                done += head_seq + 1
                continue
            if cell_key == resume["cell"]:
                seq = int(resume["seq"])
                done += seq
        while seq <= head_seq:
            end = min(seq + BATCH, head_seq + 1)
            with store.write() as txn:
                for s in range(seq, end):
                    _index_record(txn, store, cell_key, s, indexed)
                txn.put(_PROGRESS_KEY, pack({"cell": cell_key, "seq": end}), db=store.db["state"])
            done += end - seq
            seq = end
            progress(f"  {done}/{total} records")
    with store.write() as txn:
        _drop_old_entry_keys(txn, store)
        txn.delete(_PROGRESS_KEY, db=store.db["state"])
        txn.put(FORMAT_KEY, pack(FORMAT), db=store.db["state"])
    progress(f"the chain store is now format {FORMAT}")


def _index_record(
    txn: lmdb.Transaction, store: Store, cell_key: bytes, seq: int, indexed: int
) -> None:
    raw = txn.get(seq_key(cell_key, seq), db=store.db["records"])
    if raw is None:
        raise IntegrityError(f"record {seq} of a chain is missing: the store cannot be migrated")
    try:
        action = decode_action(unpack(bytes(raw), what="stored record")["action"])
    except (ZomehostError, KeyError, TypeError) as exc:
        raise IntegrityError(f"record {seq} of a chain is damaged: {exc}") from None
    index.index_action(txn, store.db["by_type"], cell_key, action)
    if seq < indexed and action.entry_hash is not None:
        key = b"e" + cell_key + action.entry_hash.raw + seq.to_bytes(8, "big")
        txn.put(key, b"", db=store.db["by_hash"])


def _drop_old_entry_keys(txn: lmdb.Transaction, store: Store) -> None:
    """Delete format 2's entry keys (one per entry hash; format 3 has one per record)."""
    cur = txn.cursor(db=store.db["by_hash"])
    if not cur.set_range(b"e"):
        return
    while True:
        key = bytes(cur.key())
        if not key.startswith(b"e"):
            return
        if len(key) == _OLD_ENTRY_KEY_LEN:
            cur.delete()  # the cursor moves to the next key (none past the last)
        elif not cur.next():
            return
