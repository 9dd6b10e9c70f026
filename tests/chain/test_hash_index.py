"""Lookups by hash across the deferred hash index: the newest records are found from the
records themselves, older ones from the index, whatever view of the chain asks."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import lmdb
import nacl.signing
import pytest

from zomehost.chain.source_chain import INDEX_BATCH, SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry, Record
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.errors import ChainError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db", sync=False)
    yield s  # type: ignore[misc]
    s.close()


def _cell(key: nacl.signing.SigningKey) -> CellId:
    return CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(key.verify_key)))


def _write(chain: SourceChain, key: nacl.signing.SigningKey, values: list[int]) -> list[Record]:
    ws = Workspace(chain, lambda d: bytes(key.sign(d).signature))
    if ws.base is None:
        ws.append(ActionType.DNA, 1, dna_hash=chain.cell.dna_hash)
    for v in values:
        ws.create(Entry("n", pack(v % 300)), 2)  # entries repeat: 300 distinct values
    return ws.commit()


def _found_everywhere(
    store: Store, cell: CellId, chains: list[SourceChain], written: list[Record]
) -> None:
    first_writer: dict[bytes, Record] = {}
    for r in written:
        if r.action.entry_hash is not None:
            first_writer.setdefault(r.action.entry_hash.raw, r)
    for chain in [*chains, SourceChain(store, cell)]:  # a fresh view has no cached hashes
        for r in written:
            got = chain.get(r.action_hash)
            assert got is not None and got.action_hash == r.action_hash
            assert got.entry == r.entry
            if r.action.entry_hash is not None:
                by_entry = chain.get(r.action.entry_hash)
                assert by_entry is not None
                assert by_entry.action_hash == first_writer[r.action.entry_hash.raw].action_hash


def test_every_hash_is_found_before_and_after_the_index_catches_up(store: Store) -> None:
    key = nacl.signing.SigningKey.generate()
    cell = _cell(key)
    chain = SourceChain(store, cell)
    written: list[Record] = []
    n = 0
    # one at a time across two index batches, then a write of a whole batch at once
    for _ in range(2 * INDEX_BATCH + 7):
        written += _write(chain, key, [n])
        n += 1
        if n % 97 == 0:
            _found_everywhere(store, cell, [chain], written)
    written += _write(chain, key, list(range(n, n + INDEX_BATCH + 3)))
    _found_everywhere(store, cell, [chain], written)
    assert chain.verify() == len(written)


def test_other_cells_hashes_and_unknown_hashes_are_not_found(store: Store) -> None:
    k1, k2 = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    c1, c2 = SourceChain(store, _cell(k1)), SourceChain(store, _cell(k2))
    w1 = _write(c1, k1, list(range(INDEX_BATCH + 5)))
    w2 = _write(c2, k2, [290, 291])  # entries c1 never wrote
    assert c2.get(w1[3].action_hash) is None  # in the index, another cell's
    assert c2.get(w1[-1].action_hash) is None  # recent, another cell's
    assert c1.get(w2[-1].action_hash) is None
    assert c1.get(w2[-1].action.entry_hash) is None  # type: ignore[arg-type]


def test_hashes_are_found_after_reopening(tmp_path: Path) -> None:
    key = nacl.signing.SigningKey.generate()
    cell = _cell(key)
    store = Store(tmp_path / "db", sync=False)
    written = _write(SourceChain(store, cell), key, list(range(INDEX_BATCH + 20)))
    written += _write(SourceChain(store, cell), key, [5000, 5001])
    store.close()
    reopened = Store(tmp_path / "db", sync=False)
    try:
        _found_everywhere(reopened, cell, [], written)
    finally:
        reopened.close()


def test_a_store_of_the_older_format_is_refused(tmp_path: Path) -> None:
    """Chains written before the format stamp (entries in a table of their own) are not
    misread as damaged: opening the store says which format it has."""
    env = lmdb.open(str(tmp_path / "db"), max_dbs=8)
    with env.begin(write=True) as txn:
        txn.put(b"cell", b"\0" * 47, db=env.open_db(b"heads", txn=txn))
    env.close()
    with pytest.raises(ChainError, match="chain format 1"):
        Store(tmp_path / "db", sync=False)


def test_readers_find_every_committed_hash_while_a_writer_moves_batches(store: Store) -> None:
    """Gets from other threads, during commits and index batches, find what was committed."""
    key = nacl.signing.SigningKey.generate()
    cell = _cell(key)
    writer_chain = SourceChain(store, cell)
    committed: list[Record] = []
    done = threading.Event()
    misses: list[str] = []

    def read(chain: SourceChain) -> None:
        rng = random.Random(7)
        while not done.is_set():
            if committed:
                r = committed[rng.randrange(len(committed))]
                if chain.get(r.action_hash) is None:
                    misses.append(str(r.action_hash))

    readers = [
        threading.Thread(target=read, args=(c,)) for c in (writer_chain, SourceChain(store, cell))
    ]
    for t in readers:
        t.start()
    try:
        for n in range(2 * INDEX_BATCH + 30):
            committed.extend(_write(writer_chain, key, [n]))
    finally:
        done.set()
        for t in readers:
            t.join()
    assert not misses


def test_first_finds_the_oldest_record_of_a_type(store: Store) -> None:
    key = nacl.signing.SigningKey.generate()
    chain = SourceChain(store, _cell(key))
    assert chain.first(ActionType.DNA) is None  # no chain yet
    written = _write(chain, key, [1, 2])
    first_create = chain.first(ActionType.CREATE)
    assert first_create is not None and first_create.action_hash == written[1].action_hash
    assert chain.first(ActionType.INIT_ZOMES_COMPLETE) is None
