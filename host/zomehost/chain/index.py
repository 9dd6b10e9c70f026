"""The query index of a source chain: which records have an action type or an entry type.

``query`` reads only the records it returns. Every record puts two keys into the
``by_type`` table in the transaction that writes it (``cell | kind | name | seq``, kind
``a`` for its action type and ``e`` for its entry type), so the records of one type are a
sorted run of keys. Keys of one type always land at the end of that type's run: the pages a
commit touches are a few hot ones, whatever the chain's length, as for the records.

A filter is a conjunction of parts (action types, entry types, entry hashes), each a union
of sorted runs of sequence numbers. :func:`select` intersects them with a leapfrog join: each
part jumps to the next sequence number the others allow, so its cost follows the result
and the rarest part, not the chain.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Protocol

import lmdb

from zomehost.core.action import Action
from zomehost.errors import IntegrityError

_SEQ_LEN = 8
ACTION_KIND = b"a"
ENTRY_KIND = b"e"


def run_prefix(cell_key: bytes, kind: bytes, name: str) -> bytes:
    """The key prefix of one type's run: cell | kind | name length (2 bytes) | name."""
    raw = name.encode()
    return cell_key + kind + len(raw).to_bytes(2, "big") + raw


def index_action(txn: lmdb.Transaction, db: lmdb._Database, cell_key: bytes, a: Action) -> None:
    """Put the index keys of one record (in the transaction that writes the record)."""
    for key in index_keys(cell_key, a):
        txn.put(key, b"", db=db)


def index_keys(cell_key: bytes, a: Action) -> list[bytes]:
    """The index keys of one record."""
    seq = a.action_seq.to_bytes(_SEQ_LEN, "big")
    keys = [run_prefix(cell_key, ACTION_KIND, a.type.value) + seq]
    if a.entry_type is not None:
        keys.append(run_prefix(cell_key, ENTRY_KIND, a.entry_type) + seq)
    return keys


def check(
    txn: lmdb.Transaction, db: lmdb._Database, cell_key: bytes, actions: Sequence[Action]
) -> None:
    """Raise :class:`IntegrityError` unless the cell's index holds exactly the keys of
    ``actions`` (the whole chain): a query would otherwise miss or invent records."""
    want = {k for a in actions for k in index_keys(cell_key, a)}
    found = set()
    cur = txn.cursor(db=db)
    if cur.set_range(cell_key):
        for raw in cur.iternext(keys=True, values=False):
            key = bytes(raw)
            if not key.startswith(cell_key):
                break
            found.add(key)
    if found != want:
        raise IntegrityError(
            f"the query index disagrees with the records: {len(want - found)} keys "
            f"missing, {len(found - want)} extra"
        )


class Part(Protocol):
    def seek(self, seq: int) -> int | None:
        """The smallest sequence number >= ``seq`` in this part, or None."""


class RunsPart:
    """The union of some sorted runs of keys (``prefix | seq``) in one table."""

    def __init__(self, txn: lmdb.Transaction, db: lmdb._Database, prefixes: Sequence[bytes]):
        self.cursor = txn.cursor(db=db)
        self.prefixes = list(prefixes)
        # per prefix: the last answer and the seq it answered; the answer holds for any
        # later seq up to it (or for every later seq when the run had nothing more)
        self.found: list[int | None] = [None] * len(self.prefixes)
        self.asked: list[int] = [-1] * len(self.prefixes)

    def seek(self, seq: int) -> int | None:
        best: int | None = None
        for i, prefix in enumerate(self.prefixes):
            hit = self.found[i]
            if not 0 <= self.asked[i] <= seq or (hit is not None and hit < seq):
                hit = self._seek_run(prefix, seq)
                self.found[i], self.asked[i] = hit, seq
            if hit is not None and (best is None or hit < best):
                best = hit
        return best

    def _seek_run(self, prefix: bytes, seq: int) -> int | None:
        if not self.cursor.set_range(prefix + seq.to_bytes(_SEQ_LEN, "big")):
            return None
        key = bytes(self.cursor.key())
        if len(key) != len(prefix) + _SEQ_LEN or not key.startswith(prefix):
            return None
        return int.from_bytes(key[len(prefix) :], "big")


class ListPart:
    """A sorted list of sequence numbers (gathered up front: entry hashes)."""

    def __init__(self, seqs: Sequence[int]) -> None:
        self.seqs = sorted(set(seqs))

    def seek(self, seq: int) -> int | None:
        i = bisect.bisect_left(self.seqs, seq)
        return self.seqs[i] if i < len(self.seqs) else None


def select(parts: Sequence[Part], lo: int, hi: int) -> Iterator[int]:
    """The sequence numbers ``lo <= seq < hi`` that every part holds, in order (leapfrog)."""
    if not parts:
        yield from range(lo, hi)
        return
    seq = lo
    while seq < hi:
        for part in parts:
            found = part.seek(seq)
            if found is None or found >= hi:
                return
            if found != seq:
                seq = found
                break
        else:
            yield seq
            seq += 1
