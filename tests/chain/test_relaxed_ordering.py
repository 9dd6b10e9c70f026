"""Relaxed chain top ordering: a call whose writes do not depend on the head is rebased onto
a head that moved under it, instead of failing; anything strict still fails cleanly.

The head is moved deterministically: the probe's ``create_and_call`` writes, then calls a
zome that logs a marker, and the marker's log handler commits another call first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from conftest import AppBuilder, AppHandle, Node
from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry, SystemEntryType, verify_record
from zomehost.core.api_wire import CHAIN_HEAD_MOVED, DISK_FULL, STORE_FULL, error_kind
from zomehost.core.capability import (
    AccessKind,
    Authorization,
    CapAccess,
    GrantedFunctions,
    ZomeCallCapGrant,
)
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.query import ChainQueryFilter
from zomehost.errors import DiskFull, HeadMoved, StoreFull, ZomehostError

REPO = Path(__file__).resolve().parents[2]
AS_PROBE = REPO / "zomes" / "probe_as" / "build" / "probe_as.wasm"
KEY = nacl.signing.SigningKey(b"\x09" * 32)
CELL = CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(KEY.verify_key)))


def _sign(data: bytes) -> bytes:
    return bytes(KEY.sign(data).signature)


class _OnMarker(logging.Handler):
    """Runs ``action`` once, when a zome logs ``marker``."""

    def __init__(self, marker: str, action: Any) -> None:
        super().__init__(logging.DEBUG)
        self.marker, self.action, self.fired = marker, action, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and self.marker in record.getMessage():
            self.fired = True
            self.action()


@pytest.fixture(params=["rust", "assemblyscript"])
def probe_app(request: pytest.FixtureRequest, node: Node, app_bundle: AppBuilder) -> AppHandle:
    wasm = "probe" if request.param == "rust" else str(AS_PROBE)
    bundle = app_bundle({"main": [("a", wasm), ("b", wasm)]}, name=f"relaxed-{request.param}")
    return node.install(bundle, "relaxed")


def _values(app: AppHandle) -> list[Any]:
    return [
        unpack(r.entry.content)
        for r in app.records(entry_type=["probe"])
        if r.entry is not None and r.action.type is ActionType.CREATE
    ]


def _race(app: AppHandle, relaxed: bool) -> Any:
    """A call that writes, during which another call commits to the same chain."""
    logger = logging.getLogger("zomehost.zome")

    def intrude() -> None:
        t = threading.Thread(target=app.call, args=("b", "create_entry", {"value": "intruder"}))
        t.start()
        t.join(timeout=10)

    handler = _OnMarker("MOVE-THE-HEAD", intrude)
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        return app.call(
            "a",
            "create_and_call",
            {
                "value": "late",
                "zome_name": "b",
                "fn_name": "log",
                "payload": "MOVE-THE-HEAD",
                "relaxed": relaxed,
            },
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
        assert handler.fired


def test_a_relaxed_call_is_rebased_onto_the_moved_head(probe_app: AppHandle) -> None:
    """Both SDKs' per-call ordering: the late call commits after the intruder, re-signed."""
    _race(probe_app, relaxed=True)
    assert _values(probe_app) == ["intruder", "late"]
    chain = probe_app.node.conductor.cell(probe_app.cell_id()).chain
    assert chain.verify() == len(probe_app.records())


def test_a_strict_call_still_fails_with_head_moved(probe_app: AppHandle) -> None:
    with pytest.raises(ZomehostError) as info:
        _race(probe_app, relaxed=False)
    assert isinstance(info.value, HeadMoved)
    assert error_kind(info.value) == CHAIN_HEAD_MOVED  # what a client gets, as data
    assert _values(probe_app) == ["intruder"]


def test_per_write_ordering_reaches_the_workspace(probe_app: AppHandle) -> None:
    """``create_entry {relaxed}`` (per write) and ``create_relaxed_batch`` (the SDK's
    per-call setting): the host sees each write's ordering."""
    conductor = probe_app.node.conductor
    cell = conductor.cell(probe_app.cell_id())
    for fn, payload, relaxed in [
        ("create_entry", {"value": 1, "relaxed": True}, True),
        ("create_entry", {"value": 2}, False),
        ("create_relaxed_batch", 3, True),
    ]:
        ws = Workspace(cell.chain, conductor.signer(cell.id.agent))
        ctx, zm = conductor._context(cell, "a", fn, Authorization(cell.id.agent), ws, 1e12, 0)
        conductor.ribosome.run(ctx, zm, fn, pack(payload))
        assert ws.pending and ws.relaxed is relaxed, fn


# -- the workspace ------------------------------------------------------------------------
@pytest.fixture
def chain(tmp_path: Path) -> SourceChain:
    store = Store(tmp_path / "db", sync=False)
    c = SourceChain(store, CELL)
    ws = Workspace(c, _sign)
    ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
    ws.commit()
    return c


def test_one_strict_write_keeps_the_whole_call_strict(chain: SourceChain) -> None:
    late, first = Workspace(chain, _sign), Workspace(chain, _sign)
    late.create(Entry("post", pack(1)), 5, relaxed=True)
    late.create(Entry("post", pack(2)), 5)  # strict
    first.create(Entry("post", pack(3)), 5)
    first.commit()
    with pytest.raises(HeadMoved):
        late.commit()
    assert chain.verify() == 2  # the dna and the first call


def test_capability_writes_are_always_strict(chain: SourceChain) -> None:
    """Creating or deleting a grant asks for relaxed ordering in vain: a moved head fails it."""
    grant = ZomeCallCapGrant("t", CapAccess(AccessKind.UNRESTRICTED), GrantedFunctions(None))
    grant_entry = Entry(SystemEntryType.CAP_GRANT.value, pack(grant.to_wire()))
    ws = Workspace(chain, _sign)
    made = ws.create(grant_entry, 5)
    ws.commit()
    writes = [
        lambda w: w.create(grant_entry, 6, relaxed=True),
        lambda w: w.delete(made.action_hash, 6, relaxed=True),
    ]
    for write in writes:
        late, first = Workspace(chain, _sign), Workspace(chain, _sign)
        write(late)
        assert not late.relaxed
        first.create(Entry("post", pack(3)), 5)
        first.commit()
        with pytest.raises(HeadMoved):
            late.commit()
    assert [g.action_hash for g in chain.grants()] == [made.action_hash]


def test_rebased_writes_keep_their_references(chain: SourceChain) -> None:
    """Create then update then delete in one relaxed call: after the rebase the update and
    the delete point at the rebased create, and the grant index is unaffected."""
    late, first = Workspace(chain, _sign), Workspace(chain, _sign)
    c = late.create(Entry("post", pack("v1")), 5, relaxed=True)
    u = late.update(c.action_hash, Entry("post", pack("v2")), 5, relaxed=True)
    late.delete(u.action_hash, 5, relaxed=True)
    first.create(Entry("post", pack("other")), 9)
    first.commit()
    created, updated, deleted = late.commit()
    assert created.action.action_seq == 2 and created.action.timestamp == 9
    assert updated.action.original_action_address == created.action_hash
    assert deleted.action.deletes_address == updated.action_hash
    assert chain.verify() == 5


def test_full_store_errors_have_their_own_wire_kinds() -> None:
    assert error_kind(StoreFull("x")) == STORE_FULL
    assert error_kind(DiskFull("x")) == DISK_FULL


def test_a_relaxed_write_is_signed_once_where_it_lands(chain: SourceChain) -> None:
    """A relaxed write is signed at commit, once its place is final: a rebase does not
    sign it twice; a write the call reads back is signed when read (and again if moved)."""
    signed: list[bytes] = []

    def counting(data: bytes) -> bytes:
        signed.append(data)
        return _sign(data)

    late, first = Workspace(chain, counting), Workspace(chain, _sign)
    late.create(Entry("post", pack("late")), 5, relaxed=True)
    assert signed == []
    first.create(Entry("post", pack("first")), 9)
    first.commit()
    (rebased,) = late.commit()
    assert signed == [rebased.action_bytes]
    verify_record(rebased)

    signed.clear()
    reader = Workspace(chain, counting)
    made = reader.create(Entry("post", pack("read back")), 10, relaxed=True)
    got = reader.get(made.action_hash)
    (queried,) = reader.query(
        ChainQueryFilter(entry_type=frozenset({"post"}), include_entries=True)
    )[-1:]
    assert got is not None and got.signature and queried == got
    verify_record(got)
    (committed,) = reader.commit()
    assert committed == got and signed == [got.action_bytes]  # not moved: not signed again
    assert chain.verify() == 4
