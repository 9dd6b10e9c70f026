"""A call's base — the head its writes are made on — is read when the call first looks at
its chain (chain/source_chain.py, ``Workspace``), not when it starts: a call that never
does opens no read transaction, and nothing a call read or wrote is older than its base,
so a commit after its first look still fails its strict writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from conftest import AppBuilder, Node
from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry
from zomehost.core.codec import pack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash
from zomehost.core.query import ChainQueryFilter
from zomehost.errors import HeadMoved

KEY = nacl.signing.SigningKey(b"\x0b" * 32)
CELL = CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(KEY.verify_key)))


def _sign(data: bytes) -> bytes:
    return bytes(KEY.sign(data).signature)


@pytest.fixture
def chain(tmp_path: Path) -> SourceChain:
    c = SourceChain(Store(tmp_path / "db", sync=False), CELL)
    ws = Workspace(c, _sign)
    ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
    ws.commit()
    return c


def reads_of(monkeypatch: pytest.MonkeyPatch, store: Store) -> list[int]:
    """One entry per read transaction ``store`` opens from now on."""
    opened: list[int] = []
    real = store.read

    @contextmanager
    def counted() -> Iterator[Any]:
        opened.append(1)
        with real() as txn:
            yield txn

    monkeypatch.setattr(store, "read", counted)
    return opened


def _intruder(chain: SourceChain) -> None:
    """Another call commits a write: the chain's head moves."""
    other = Workspace(chain, _sign)
    other.create(Entry("post", pack("intruder")), 5)
    other.commit()


def test_a_workspace_reads_nothing_until_its_call_looks(
    chain: SourceChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = chain.head()
    opened = reads_of(monkeypatch, chain.store)
    ws = Workspace(chain, _sign)
    assert not ws.has_writes and ws.commit() == []
    assert opened == []
    assert ws.base is not None and ws.base == head
    assert len(opened) == 1
    assert ws.head() == ws.base == head  # read once, kept
    assert len(opened) == 1


def test_a_write_before_any_look_is_made_on_the_head_of_that_moment(
    chain: SourceChain,
) -> None:
    ws = Workspace(chain, _sign)
    _intruder(chain)  # before the call looked: its writes go on top of this one
    record = ws.create(Entry("post", pack("late")), 6)
    assert ws.commit() == [record]
    head = chain.head()
    assert head is not None and head.action == record.action_hash and head.seq == 2
    assert chain.verify() == 3


LOOKS: dict[str, Callable[[Workspace], Any]] = {
    "its head": lambda ws: ws.head(),
    "its base (call_info's as_at)": lambda ws: ws.base,
    "get": lambda ws: ws.get(ActionHash.of_content(b"no such action")),
    "query": lambda ws: ws.query(ChainQueryFilter()),
    "its grants": lambda ws: ws.grants(include_revoked=True),
    "a write": lambda ws: ws.create(Entry("post", pack("first")), 5),
}


@pytest.mark.parametrize("look", list(LOOKS))
def test_a_commit_after_the_calls_first_look_fails_its_strict_writes(
    chain: SourceChain, look: str
) -> None:
    ws = Workspace(chain, _sign)
    LOOKS[look](ws)
    _intruder(chain)
    ws.create(Entry("post", pack("late")), 6)
    with pytest.raises(HeadMoved):
        ws.commit()
    assert chain.verify() == 2  # the dna and the intruder


def test_a_zome_call_that_never_looks_at_its_chain_opens_no_read_transaction(
    node: Node, app_bundle: AppBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a real conductor: the author's ``echo`` reads no head; ``query_chain`` does, and
    sees the chain."""
    app = node.install(app_bundle({"main": [("a", "probe")]}), "looks")
    assert app.call("a", "echo", "warm") == "warm"  # init ran, caches are warm
    store = node.conductor.cell(app.cell_id()).chain.store
    opened = reads_of(monkeypatch, store)
    assert app.call("a", "echo", "hi") == "hi"
    assert opened == []
    records = app.call("a", "query_chain", None)
    assert opened and len(records) == app.head_seq() + 1
