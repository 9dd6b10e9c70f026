"""Clone cells, coordinator updates, agent-key revocation and deferred membrane proofs in the
conductor itself (in process, real LMDB and wasmtime): the rules each request relies on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from conftest import AppBuilder, AppHandle, Node
from zomehost.chain import source_chain
from zomehost.conductor import conductor as conductor_module
from zomehost.conductor.app import AppStatus
from zomehost.core.action import ActionType, SystemEntryType
from zomehost.core.bundle import Bundle
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.hash import CellId
from zomehost.errors import (
    AgentKeyRevoked,
    AppNotEnabled,
    ConductorError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    WasmError,
    ZomeFunctionNotFound,
)

ENTRY = {"entry_type": "note", "value": {"n": 1}}
GRANT = ZomeCallCapGrant(
    "g", CapAccess(AccessKind.UNRESTRICTED, None, frozenset()), GrantedFunctions(None)
)


def clone_cell(alice: AppHandle, seed: str) -> CellId:
    c = alice.node.conductor
    clone = c.create_clone_cell("alice", "main", seed, None, None)
    return CellId(clone.dna_hash, alice.agent)


def keys_of(node: Node, cell: CellId) -> dict[str, int]:
    """How many keys each table holds for ``cell`` (by key prefix or, in by_hash, by value)."""
    store = node.conductor.store
    out: dict[str, int] = {}
    with store.read() as txn:
        for table in ("records", "heads", "grants"):
            out[table] = sum(1 for k, _ in txn.cursor(db=store.db[table]) if k.startswith(cell.key))
        out["by_hash"] = sum(
            1
            for k, v in txn.cursor(db=store.db["by_hash"])
            if k.startswith(b"e" + cell.key) or bytes(v).startswith(cell.key)
        )
    return out


def test_a_clone_is_a_cell_of_its_own_until_deleted(
    alice: AppHandle, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = node.conductor
    monkeypatch.setattr(source_chain, "INDEX_BATCH", 2)  # the hash index gets entries at once
    before = alice.records()
    room = clone_cell(alice, "room")
    assert room.dna_hash != alice.cell_id().dna_hash and room.agent == alice.agent
    node.call(room, "a", "create_entry", ENTRY, alice.agent)
    c.grant_capability(room, GRANT)
    assert len(node.records(room)) > 3 and alice.records() == before  # chains apart
    assert node.call(room, "a", "dna", None, alice.agent)["name"] == "probeapp_main"
    assert c.cell_for("alice", "main.0").id == room  # by clone id too

    c.set_clone_enabled("alice", "main.0", False)
    with pytest.raises(NotFound):
        node.call(room, "a", "echo", "x", alice.agent)
    with pytest.raises(ConductorError):  # an enabled clone is never erased
        c.set_clone_enabled("alice", room.dna_hash, True)
        c.delete_clone_cell("alice", "main.0")
    assert all(keys_of(node, room).values())  # kept while disabled or refused
    c.set_clone_enabled("alice", "main.0", False)
    c.delete_clone_cell("alice", "main.0")
    assert keys_of(node, room) == {"records": 0, "heads": 0, "grants": 0, "by_hash": 0}
    assert alice.records() == before
    assert c.get_app("alice").clones == ()
    with pytest.raises(NotFound):
        c.delete_clone_cell("alice", "main.0")
    again = c.create_clone_cell("alice", "main", "room", None, None)
    assert again.clone_id == "main.1" and again.dna_hash == room.dna_hash  # ids not reused
    assert [r.action.type for r in node.records(room)][:3] == [
        ActionType.DNA,
        ActionType.AGENT_VALIDATION_PKG,
        ActionType.CREATE,
    ]


def test_clone_rules(alice: AppHandle, node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    c = node.conductor
    with pytest.raises(InvalidInput):
        c.create_clone_cell("alice", "main", None, None, None)  # it would be the role itself
    with pytest.raises(NotFound):
        c.create_clone_cell("alice", "nope", "s", None, None)
    clone_cell(alice, "one")
    with pytest.raises(ConductorError):
        c.create_clone_cell("alice", "main", "one", None, None)  # the same DNA twice
    by_props = c.create_clone_cell("alice", "main", None, {"room": 2}, "by properties")
    assert by_props.name == "by properties" and by_props.properties == {"room": 2}
    monkeypatch.setattr(conductor_module, "MAX_CLONES_PER_ROLE", 2)
    with pytest.raises(LimitExceeded):
        clone_cell(alice, "three")
    c.set_app_status("alice", AppStatus.DISABLED)  # the app's state stops its clones too
    with pytest.raises(AppNotEnabled):
        c.cell(CellId(c.get_app("alice").clones[0].dna_hash, alice.agent))


def test_revoked_agent_key_refuses_every_write(alice: AppHandle, node: Node) -> None:
    c = node.conductor
    room = clone_cell(alice, "room")
    assert c.revoke_agent_key("alice", alice.agent) == []
    for cell in (alice.cell_id(), room):
        deletes = [r for r in node.records(cell) if r.action.type is ActionType.DELETE]
        agent_entry = next(
            r for r in node.records(cell) if r.action.entry_type == SystemEntryType.AGENT.value
        )
        assert deletes[-1].action.deletes_address == agent_entry.action_hash
        with pytest.raises(AgentKeyRevoked):
            node.call(cell, "a", "create_entry", ENTRY, alice.agent)
    with pytest.raises(AgentKeyRevoked):
        c.grant_capability(alice.cell_id(), GRANT)
    with pytest.raises(AgentKeyRevoked):
        c.create_clone_cell("alice", "main", "late", None, None)
    with pytest.raises(AgentKeyRevoked):
        c.revoke_agent_key("alice", alice.agent)
    assert alice.call("a", "echo", "reads work") == "reads work"
    head = alice.head_seq()
    restarted = node.restart()
    with pytest.raises(AgentKeyRevoked):  # the revocation is stored, not only in memory
        restarted.call(alice.cell_id(), "a", "create_entry", ENTRY, alice.agent)
    assert restarted.conductor.cell(alice.cell_id()).chain.head().seq == head  # type: ignore[union-attr]
    restarted.close()


def test_no_write_lands_after_the_revocation_of_a_chain_being_written(
    alice: AppHandle, node: Node
) -> None:
    """Writers streaming relaxed writes while the key is revoked: every commit in flight
    lands before the agent key's delete, none after it (the revocation takes the chain
    lock exclusively; a commit checks the revocation under the lock)."""
    stop = threading.Event()
    refused: list[int] = []
    errors: list[BaseException] = []
    written = [0]

    def writer(k: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                alice.call("a", "create_entry", {"value": f"{k}-{i}", "relaxed": True})
                written[0] += 1
            except AgentKeyRevoked:
                refused.append(k)
                return
            except BaseException as exc:  # reported below
                errors.append(exc)
                return
            i += 1

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    while written[0] < 20:
        time.sleep(0.005)
    assert node.conductor.revoke_agent_key("alice", alice.agent) == []
    for t in threads:
        t.join(timeout=30)
    stop.set()
    assert errors == [] and sorted(refused) == [0, 1, 2, 3]
    last = alice.records()[-1]
    assert last.action.type is ActionType.DELETE, "a write landed after the key's delete"
    assert node.conductor.cell(alice.cell_id()).chain.verify() == len(alice.records())


def test_revoke_needs_the_apps_own_agent(alice: AppHandle, bob: AppHandle, node: Node) -> None:
    with pytest.raises(InvalidInput):
        node.conductor.revoke_agent_key("alice", bob.agent)
    assert bob.call("a", "create_entry", ENTRY)  # bob is untouched


def test_update_coordinators_swaps_code_and_keeps_chain_and_hash(
    alice: AppHandle, node: Node, wasm_paths: dict[str, Path]
) -> None:
    c = node.conductor
    dna = alice.cell_id().dna_hash
    alice.call("a", "create_entry", ENTRY)
    before = alice.records()
    with pytest.raises(WasmError):  # compiled first: a bad module changes nothing
        c.update_coordinators(dna, {"a": b"\0asm\x09\x09"})
    assert alice.call("a", "echo", "x") == "x"
    c.update_coordinators(dna, {"a": wasm_paths["bad_init"].read_bytes()})
    with pytest.raises(ZomeFunctionNotFound):
        alice.call("a", "echo", "x")  # the new code runs from the next call
    assert alice.call("b", "echo", "y") == "y"  # the other zome is unchanged
    assert alice.records() == before and c.list_dnas() == [dna]  # chain and hash kept
    restarted = node.restart()  # stored, not only swapped in memory
    with pytest.raises(ZomeFunctionNotFound):
        restarted.call(alice.cell_id(), "a", "echo", "x", alice.agent)
    restarted.conductor.update_coordinators(dna, {"a": wasm_paths["probe"].read_bytes()})
    assert restarted.call(alice.cell_id(), "a", "echo", "back", alice.agent) == "back"
    restarted.close()


def test_deferred_memproofs(node: Node, app_bundle: AppBuilder) -> None:
    c = node.conductor
    plain = app_bundle({"main": [("a", "probe")]}, name="plain")
    with pytest.raises(InvalidInput):  # only a manifest that allows it
        c.install_app(plain, "plain", defer_memproofs=True)
    b = Bundle.decode(plain)
    deferred = Bundle({**b.manifest, "allow_deferred_memproofs": True}, b.resources).encode()
    app = c.install_app(deferred, "late", defer_memproofs=True)
    assert app.status is AppStatus.AWAITING_MEMPROOFS
    cell = app.cell_id("main")
    assert c.source_chain(cell).head() is None  # no genesis yet
    with pytest.raises(AppNotEnabled):
        c.cell(cell)
    with pytest.raises(InvalidInput):
        c.provide_memproofs("late", {"other": b"x"})
    assert c.source_chain(cell).head() is None  # nothing partial
    c.provide_memproofs("late", {"main": b"proof"})
    pkg = c.source_chain(cell).records()[1].action
    assert pkg.type is ActionType.AGENT_VALIDATION_PKG and pkg.membrane_proof == b"proof"
    assert c.get_app("late").status is AppStatus.DISABLED
    with pytest.raises(InvalidInput):
        c.provide_memproofs("late", {"main": b"again"})
