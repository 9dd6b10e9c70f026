"""A chain tampered with on disk (py-lmdb, behind the conductor's back) fails ``verify``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb
import pytest

from zomehost.chain.source_chain import SourceChain
from zomehost.chain.store import Store, seq_key
from zomehost.core.codec import unpack
from zomehost.core.hash import CellId
from zomehost.errors import IntegrityError


@contextmanager
def raw_env(data_path: Path) -> Iterator[lmdb.Environment]:
    env = lmdb.open(str(data_path), max_dbs=16, subdir=True)
    try:
        yield env
    finally:
        env.close()


def edit_value(data_path: Path, table: str, key: bytes, edit: Callable[[bytes], bytes]) -> None:
    with raw_env(data_path) as env:
        db = env.open_db(table.encode(), create=False)
        with env.begin(write=True) as txn:
            value = txn.get(key, db=db)
            assert value is not None, f"no {key!r} in {table}"
            txn.put(key, edit(bytes(value)), db=db)


def read_value(data_path: Path, table: str, key: bytes) -> bytes:
    with raw_env(data_path) as env:
        db = env.open_db(table.encode(), create=False)  # before the transaction: py-lmdb
        with env.begin() as txn:
            value = txn.get(key, db=db)
    assert value is not None, f"no {key!r} in {table}"
    return bytes(value)


def flip(offset: int, mask: int = 0x01) -> Callable[[bytes], bytes]:
    def edit(value: bytes) -> bytes:
        b = bytearray(value)
        b[offset] ^= mask
        return bytes(b)

    return edit


@pytest.fixture
def written(alice: Any) -> dict[str, Any]:
    """Alice's chain with a few writes, the conductor closed: ready to be tampered with."""
    h1 = alice.call("a", "create_entry", {"value": "one"})
    alice.call("b", "update_entry", {"original": h1, "value": "two"})
    alice.call("a", "create_entry", {"value": "three"})
    cell_id: CellId = alice.cell_id()
    records = alice.records()
    assert alice.node.conductor.cell(cell_id).chain.verify() == len(records) == 7
    alice.node.close()
    return {"node": alice.node, "cell_id": cell_id, "records": records}


def _reopened_verify(written: dict[str, Any]) -> int:
    node = written["node"].restart()
    try:
        return int(node.conductor.cell(written["cell_id"]).chain.verify())
    finally:
        node.close()


def _record_key(written: dict[str, Any], seq: int) -> bytes:
    return seq_key(written["cell_id"].key, seq)


def test_untouched_chain_verifies_after_reopen(written: dict[str, Any]) -> None:
    assert _reopened_verify(written) == 7


def test_a_flipped_signature_byte_fails_verify(written: dict[str, Any]) -> None:
    data_path = written["node"].home.data_path
    key = _record_key(written, 5)
    raw = read_value(data_path, "records", key)
    signature = unpack(raw)["signature"]
    offset = raw.index(signature) + 10
    edit_value(data_path, "records", key, flip(offset))
    with pytest.raises(IntegrityError, match="bad signature"):
        _reopened_verify(written)


def test_a_flipped_byte_in_the_action_fails_verify(written: dict[str, Any]) -> None:
    data_path = written["node"].home.data_path
    key = _record_key(written, 4)
    raw = read_value(data_path, "records", key)
    action_bytes = unpack(raw)["action"]
    # The last byte of the canonical action is inside a value (a hash or an int), so the
    # action still decodes: only its hash and signature give the tampering away.
    offset = raw.index(action_bytes) + len(action_bytes) - 1
    edit_value(data_path, "records", key, flip(offset))
    with pytest.raises(IntegrityError, match="hash does not match"):
        _reopened_verify(written)


def test_a_changed_entry_fails_verify(written: dict[str, Any]) -> None:
    data_path = written["node"].home.data_path
    rec = written["records"][6]
    assert rec.entry is not None and rec.action.entry_hash is not None
    # the entry's bytes are stored in its record
    edit_value(
        data_path, "records", _record_key(written, 6), lambda v: v.replace(b"three", b"THREE")
    )
    with pytest.raises(IntegrityError, match="entry does not match"):
        _reopened_verify(written)


def test_a_removed_record_fails_verify(written: dict[str, Any]) -> None:
    with raw_env(written["node"].home.data_path) as env:
        db = env.open_db(b"records", create=False)
        with env.begin(write=True) as txn:
            assert txn.delete(_record_key(written, 4), db=db)
    with pytest.raises(IntegrityError, match="record 4 is missing"):
        _reopened_verify(written)


def test_swapped_records_fail_verify(written: dict[str, Any]) -> None:
    with raw_env(written["node"].home.data_path) as env:
        db = env.open_db(b"records", create=False)
        with env.begin(write=True) as txn:
            k4, k5 = _record_key(written, 4), _record_key(written, 5)
            v4, v5 = bytes(txn.get(k4, db=db)), bytes(txn.get(k5, db=db))
            txn.put(k4, v5, db=db)
            txn.put(k5, v4, db=db)
    with pytest.raises(IntegrityError):
        _reopened_verify(written)


def test_every_single_byte_corruption_of_a_record_is_an_integrity_error(
    written: dict[str, Any],
) -> None:
    """Whatever byte of a stored record is damaged, ``verify`` reports IntegrityError.

    Not a KeyError, DeserializeError or InvalidInput: those escape the CLI's error handling
    (a KeyError prints a traceback from `zomehost chain verify`) and do not say "the chain
    is damaged".
    """
    data_path: Path = written["node"].home.data_path
    key = _record_key(written, 6)
    store = Store(data_path, sync=False)
    try:
        chain = SourceChain(store, written["cell_id"])
        with store.read() as txn:
            original = bytes(txn.get(key, db=store.db["records"]))
        wrong: dict[str, list[int]] = {}
        for offset in range(len(original)):
            corrupted = bytearray(original)
            corrupted[offset] ^= 0x01
            with store.write() as txn:
                txn.put(key, bytes(corrupted), db=store.db["records"])
            try:
                chain.verify()
                outcome = "verified"
            except IntegrityError:
                continue
            except Exception as exc:  # the point: anything else is the bug
                outcome = type(exc).__name__
            wrong.setdefault(outcome, []).append(offset)
        with store.write() as txn:
            txn.put(key, original, db=store.db["records"])
        assert chain.verify() == 7
    finally:
        store.close()
    summary = {k: f"{len(v)} offsets, e.g. {v[:5]}" for k, v in wrong.items()}
    assert not wrong, (
        f"of {len(original)} single-byte corruptions of record 6, these were not reported as "
        f"IntegrityError: {summary}"
    )
