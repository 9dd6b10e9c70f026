"""A call's base — the head its writes are made on — is read when the call first looks at
its chain (chain/source_chain.py, ``Workspace``), not when it starts: a call that never
does opens no read transaction, and nothing a call read or wrote is older than its base,
so a commit after its first look still fails its strict writes.

"Looks" include the ways a call learns its chain's state outside its own workspace: a
call out (a bridge or another agent's call that comes back into the cell with a workspace
of its own and answers with what it read), and the grant that let it in (read by the
conductor before the call: its writes commit only while that grant is live).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import wasmtime

from conftest import AppBuilder, AppHandle, Node
from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.codec import pack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash
from zomehost.core.query import ChainQueryFilter
from zomehost.errors import HeadMoved, Unauthorized

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


# -- looks from outside the workspace -------------------------------------------------------
MARKER = "MOVE-THE-HEAD"
# relay(call): makes the nested call it is given, logs the marker, then writes (strict) the
# nested call's raw answer; fwd(call): the nested call's answer; log_then_create: the
# marker, then a write.
RELAY_WAT = r"""
(module
  (type $abi (func (param i32 i32) (result i64)))
  (import "zomehost" "create" (func $create (type $abi)))
  (import "zomehost" "call" (func $call (type $abi)))
  (import "zomehost" "trace" (func $trace (type $abi)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (data (i32.const 32) "\82\aaentry_type\a1w\a5entry\c6")
  (data (i32.const 64) "\82\a5level\a4info\a3msg\adMOVE-THE-HEAD")
  (data (i32.const 128) "\82\aaentry_type\a1w\a5entry\c4\05\a4late")
  (func $alloc (export "__zh_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $p) (local.get $len))
                                        (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
      (then (return (i32.const 0))))
    (local.get $p))
  (func (export "__zh_free") (param i32 i32))
  (func (export "fwd") (param $in i32) (param $n i32) (result i64)
    (call $call (local.get $in) (local.get $n)))
  (func (export "log_then_create") (param i32 i32) (result i64)
    (drop (call $trace (i32.const 64) (i32.const 30)))
    (call $create (i32.const 128) (i32.const 27)))
  (func (export "relay") (param $in i32) (param $n i32) (result i64)
    (local $r i64) (local $rp i32) (local $rn i32) (local $p i32)
    (local.set $r (call $call (local.get $in) (local.get $n)))
    (local.set $rp (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32))))
    (local.set $rn (i32.wrap_i64 (local.get $r)))
    (drop (call $trace (i32.const 64) (i32.const 30)))
    (local.set $p (call $alloc (i32.add (local.get $rn) (i32.const 25))))
    (if (i32.eqz (local.get $p)) (then unreachable))
    (memory.copy (local.get $p) (i32.const 32) (i32.const 21))
    (i32.store8 offset=21 (local.get $p) (i32.shr_u (local.get $rn) (i32.const 24)))
    (i32.store8 offset=22 (local.get $p) (i32.shr_u (local.get $rn) (i32.const 16)))
    (i32.store8 offset=23 (local.get $p) (i32.shr_u (local.get $rn) (i32.const 8)))
    (i32.store8 offset=24 (local.get $p) (local.get $rn))
    (memory.copy (i32.add (local.get $p) (i32.const 25)) (local.get $rp) (local.get $rn))
    (call $create (local.get $p) (i32.add (local.get $rn) (i32.const 25)))))
"""


@pytest.fixture
def relay_wasm(tmp_path: Path) -> str:
    path = tmp_path / "relay.wasm"
    path.write_bytes(wasmtime.wat2wasm(RELAY_WAT))
    return str(path)


class _OnMarker(logging.Handler):
    """Runs ``action`` on a thread of its own (another call), once, when a zome logs the
    marker, and waits for it."""

    def __init__(self, action: Callable[[], Any]) -> None:
        super().__init__(logging.DEBUG)
        self.action, self.fired = action, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and MARKER in record.getMessage():
            self.fired = True
            t = threading.Thread(target=self.action)
            t.start()
            t.join(10)


def _while_marked(action: Callable[[], Any], call: Callable[[], Any]) -> Any:
    """``call``, during which ``action`` runs when the zome logs the marker."""
    logger = logging.getLogger("zomehost.zome")
    handler, level = _OnMarker(action), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        return call()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        assert handler.fired


def _relay_back(app: AppHandle, via: Any) -> dict[str, Any]:
    """relay's input: a call to ``via``'s fwd, which calls back into ``app``'s own cell to
    read its chain (a workspace of its own there)."""
    back = {
        "target": {"Cell": app.cell_id().to_wire()},
        "zome_name": "a",
        "fn_name": "query_chain",
        "payload": pack(None),
    }
    return {"target": via, "zome_name": "rt", "fn_name": "fwd", "payload": pack(back)}


def _relay_fails_when_the_head_moves(app: AppHandle, payload: dict[str, Any]) -> None:
    before = app.head_seq()

    def intrude() -> None:
        app.call("a", "create_entry", {"value": "intruder"})

    with pytest.raises(HeadMoved):
        _while_marked(intrude, lambda: app.call("rt", "relay", payload))
    assert app.head_seq() == before + 1  # the intruder's write only


def test_what_a_call_read_through_a_bridge_back_into_its_cell_is_not_older_than_its_base(
    node: Node, app_bundle: AppBuilder, relay_wasm: str
) -> None:
    bundle = app_bundle(
        {"main": [("a", "probe"), ("rt", relay_wasm)], "other": [("rt", relay_wasm)]}
    )
    app = node.install(bundle, "bridge")
    assert app.call("a", "echo", "warm") == "warm"
    _relay_fails_when_the_head_moves(app, _relay_back(app, {"Role": "other"}))


def test_what_a_call_read_through_another_agents_call_back_is_not_older_than_its_base(
    node: Node, app_bundle: AppBuilder, relay_wasm: str
) -> None:
    bundle = app_bundle({"main": [("a", "probe"), ("rt", relay_wasm)]})
    alice, bob = node.install(bundle, "alice"), node.install(bundle, "bob")
    anyone = ZomeCallCapGrant("open", CapAccess(AccessKind.UNRESTRICTED), GrantedFunctions(None))
    for h in (alice, bob):
        assert h.call("a", "echo", "warm") == "warm"
        node.conductor.grant_capability(h.cell_id(), anyone)
    _relay_fails_when_the_head_moves(alice, _relay_back(alice, {"Cell": bob.cell_id().to_wire()}))


@pytest.mark.parametrize("change", ["revoked", "updated"])
def test_a_write_commits_only_while_the_grant_that_let_its_call_in_is_live(
    node: Node, app_bundle: AppBuilder, relay_wasm: str, change: str
) -> None:
    """The grant is read before the call runs (its authorization); the call's first look
    is its write, after the grant was revoked or replaced."""
    app = node.install(app_bundle({"main": [("a", "probe"), ("rt", relay_wasm)]}), "granted")
    assert app.call("a", "echo", "warm") == "warm"
    stranger, secret = node.conductor.generate_agent(), b"\x07" * 64
    only = GrantedFunctions(frozenset({("rt", "log_then_create")}))
    grant = ZomeCallCapGrant("t", CapAccess(AccessKind.TRANSFERABLE, secret=secret), only)
    cell = app.cell_id()
    made = node.conductor.grant_capability(cell, grant)
    call = lambda: app.call("rt", "log_then_create", None, provenance=stranger, secret=secret)  # noqa: E731
    assert isinstance(call(), bytes)  # while it is live, the stranger's write commits
    before = app.head_seq()

    def change_it() -> None:
        if change == "revoked":
            node.conductor.revoke_capability(cell, made)
        else:
            renamed = ZomeCallCapGrant("t2", grant.access, grant.functions)
            app.call("a", "update_grant", {"original_action": made.raw, "grant": renamed.to_wire()})

    with pytest.raises(Unauthorized, match="revoked or updated while it ran"):
        _while_marked(change_it, call)
    assert app.head_seq() == before + 1  # the change only
