"""The decoded grants a chain keeps between calls (``SourceChain.grants``): kept across
writes that touch no grant (concurrent writers move the head on every call), never served
after a grant was created, replaced or revoked — by any reader of the cell, including one
that read its list from a snapshot taken while the grant's commit was under way."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import lmdb
import nacl.signing
import pytest

from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry, SystemEntryType
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.errors import HeadMoved

KEY = nacl.signing.SigningKey(b"\x0b" * 32)
CELL = CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(KEY.verify_key)))


def _sign(data: bytes) -> bytes:
    return bytes(KEY.sign(data).signature)


def _grant(tag: str) -> Entry:
    grant = ZomeCallCapGrant(tag, CapAccess(AccessKind.UNRESTRICTED), GrantedFunctions(None))
    return Entry(SystemEntryType.CAP_GRANT.value, pack(grant.to_wire()))


def _tags(chain: SourceChain, **kw: Any) -> list[str]:
    return [g.grant.tag for g in chain.grants(**kw)]


@pytest.fixture
def chains(tmp_path: Path) -> tuple[SourceChain, SourceChain]:
    """Two readers of one cell's chain (the conductor's cell and, e.g., an admin view)."""
    store = Store(tmp_path / "db", sync=False)
    ws = Workspace(SourceChain(store, CELL), _sign)
    ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
    ws.commit()
    return SourceChain(store, CELL), SourceChain(store, CELL)


def _write(chain: SourceChain, do: Any) -> Any:
    ws = Workspace(chain, _sign)
    out = do(ws)
    ws.commit()
    return out


def test_every_grant_change_is_seen_at_once_by_every_reader(
    chains: tuple[SourceChain, SourceChain],
) -> None:
    writer, reader = chains
    assert _tags(reader) == []
    made = _write(writer, lambda ws: ws.create(_grant("one"), 5))
    assert _tags(reader) == ["one"]
    updated = _write(writer, lambda ws: ws.update(made.action_hash, _grant("two"), 6))
    assert _tags(reader) == ["two"] and _tags(reader, include_revoked=True) == ["one", "two"]
    _write(writer, lambda ws: ws.delete(updated.action_hash, 7))
    assert _tags(reader) == [] and _tags(reader, include_revoked=True) == ["one", "two"]


def test_writes_that_touch_no_grant_keep_the_decoded_list(
    chains: tuple[SourceChain, SourceChain],
) -> None:
    writer, reader = chains
    _write(writer, lambda ws: ws.create(_grant("one"), 5))
    assert _tags(reader) == ["one"]
    kept = reader._grants_cache
    for n in range(3):  # the head moves, the grants do not
        _write(writer, lambda ws, n=n: ws.create(Entry("post", pack(n)), 6))
    assert _tags(reader) == ["one"] and reader._grants_cache is kept


def test_a_list_read_while_the_grant_commits_is_not_served_after(
    chains: tuple[SourceChain, SourceChain],
) -> None:
    """The reader runs between the grant's write and its commit (its snapshot has no grant
    yet) and keeps that list; once the commit returned, it must read again."""
    writer, reader = chains
    assert _tags(reader) == []
    ws = Workspace(writer, _sign)
    ws.create(_grant("late"), 5)
    seen: list[list[str]] = []
    write_into = ws.write_into

    def write_then_read(txn: lmdb.Transaction) -> None:
        write_into(txn)
        t = threading.Thread(target=lambda: seen.append(_tags(reader)))
        t.start()
        t.join(timeout=10)

    ws.write_into = write_then_read  # type: ignore[method-assign]
    ws.commit()
    assert seen == [[]]  # read from the snapshot before the commit
    assert _tags(reader) == ["late"]


def test_a_grant_write_that_failed_leaves_the_list_right(
    chains: tuple[SourceChain, SourceChain],
) -> None:
    writer, reader = chains
    late = Workspace(writer, _sign)
    late.create(_grant("never"), 5)  # grants are strict: a moved head fails it
    _write(writer, lambda ws: ws.create(Entry("post", pack(1)), 5))
    with pytest.raises(HeadMoved):
        late.commit()
    assert _tags(reader) == [] and _tags(writer) == []
