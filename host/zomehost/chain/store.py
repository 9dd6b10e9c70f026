"""The conductor's one LMDB environment and its tables.

Tables (all keys bytes; ``cell`` is the 78-byte CellId key, ``seq`` 8-byte big-endian):
  records   cell+seq        -> msgpack {action: canonical bytes, signature, hash}
  by_hash   action hash     -> cell+seq
  entries   cell+entry hash -> canonical entry bytes
  heads     cell            -> seq + action hash
  grants    cell+action     -> msgpack {grant, revoked}   (live-grant index)
  state     name            -> conductor state (apps, interfaces, …)

Every commit is one write transaction, synced by default. Write transactions never stay
open while guest code runs: the workspace collects writes and hands them over at the end.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from zomehost.core.codec import pack, unpack
from zomehost.errors import ChainError

_SEQ = struct.Struct(">Q")
DEFAULT_MAP_SIZE = 64 * 1024**3  # sparse: only what is written takes disk
_TABLES = ("records", "by_hash", "entries", "heads", "grants", "state")


def seq_key(cell_key: bytes, seq: int) -> bytes:
    return cell_key + _SEQ.pack(seq)


class Store:
    """One LMDB environment; thread-safe for readers, one writer at a time."""

    def __init__(self, path: Path, *, sync: bool = True, map_size: int = DEFAULT_MAP_SIZE) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self.env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(_TABLES) + 2,
                max_readers=512,
                sync=sync,
                metasync=sync,
                lock=True,
                writemap=False,
            )
        except lmdb.Error as exc:
            raise ChainError(f"cannot open the store at {path}: {exc}") from None
        self.db = {name: self.env.open_db(name.encode()) for name in _TABLES}
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.env.close()

    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        txn = self.env.begin(buffers=False)
        try:
            yield txn
        finally:
            txn.abort()

    @contextmanager
    def write(self) -> Iterator[lmdb.Transaction]:
        """A write transaction: committed (and synced) on success, aborted on any error."""
        with self._write_lock:
            txn = self.env.begin(write=True)
            try:
                yield txn
            except BaseException:
                txn.abort()
                raise
            try:
                txn.commit()
            except lmdb.MapFullError:
                raise ChainError("the store is full (map size reached)") from None

    # -- conductor state --------------------------------------------------------------
    def get_state(self, name: str) -> Any:
        with self.read() as txn:
            raw = txn.get(name.encode(), db=self.db["state"])
        return None if raw is None else unpack(bytes(raw), what="state")

    def put_state(self, name: str, value: Any) -> None:
        with self.write() as txn:
            txn.put(name.encode(), pack(value), db=self.db["state"])

    def delete_state(self, name: str) -> None:
        with self.write() as txn:
            txn.delete(name.encode(), db=self.db["state"])

    def state_names(self, prefix: str) -> list[str]:
        out: list[str] = []
        with self.read() as txn:
            cur = txn.cursor(db=self.db["state"])
            p = prefix.encode()
            if cur.set_range(p):
                for raw_key in cur.iternext(keys=True, values=False):
                    key = bytes(raw_key)
                    if not key.startswith(p):
                        break
                    out.append(key.decode())
        return out
