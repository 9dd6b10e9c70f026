"""Clone cell host functions (docs/abi.md, "Clone cells"), called by both probes (Rust and
AssemblyScript) through their SDKs' typed wrappers on real conductors.

What the zome is told is checked against the conductor's own record of the app, and the
clone is used: a bridge call into it writes to its own chain, its DNA is the role's with
the new seed. The rules (own app only, author only, per-call budget) are tried here through
each SDK; tests/sandbox/test_zome_clone_cells.py tries them with a hostile zome.
"""

from __future__ import annotations

import pytest

from zomehost.core.codec import pack, unpack
from zomehost.core.hash import CellId, DnaHash
from zomehost.errors import GuestError, LimitExceeded
from zomehost.ribosome.host_fns import MAX_CLONE_CHANGES_PER_CALL

from .conftest import LANGS, PROPERTIES, SEED, World


@pytest.fixture(params=LANGS)
def world(request: pytest.FixtureRequest, worlds: dict[str, World]) -> World:
    return worlds[request.param]


def test_a_zome_creates_uses_and_retires_a_clone(world: World) -> None:
    (alice,) = world.install("clone-life", "alice")
    made = alice.call(
        "a",
        "clone_cell",
        {
            "cell_id": alice.cell_id().to_wire(),
            "modifiers": {"network_seed": "room-7", "properties": pack({"topic": "cats"})},
            "membrane_proof": b"let me in",
            "name": "cat room",
        },
    )
    app = world.node.conductor.get_app(alice.app_id)
    (clone,) = app.clones
    assert made == clone.cloned_cell(alice.agent)
    assert made["clone_id"] == "main.0" and made["name"] == "cat room" and made["enabled"]
    assert made["original_dna_hash"] == alice.cell_id().dna_hash.raw
    assert made["dna_modifiers"]["network_seed"] == "room-7"
    assert unpack(made["dna_modifiers"]["properties"]) == {"topic": "cats"}
    clone_cell = CellId.from_wire(made["cell_id"])
    assert clone_cell.agent == alice.agent and clone_cell.dna_hash != alice.cell_id().dna_hash

    # The clone runs the role's zomes on its own chain: a bridge call into it writes there.
    into_clone = {"target": {"Cell": made["cell_id"]}, "zome_name": "a"}
    dna = alice.call("a", "call_other", {**into_clone, "fn_name": "dna"})
    info = unpack(dna["Ok"])
    assert info["network_seed"] == "room-7" and unpack(info["properties"]) == {"topic": "cats"}
    assert DnaHash(info["hash"]) == clone_cell.dna_hash
    write = {**into_clone, "fn_name": "create_entry", "payload": {"value": "hi"}}
    assert "Ok" in alice.call("a", "call_other", write)
    assert "Create" in [r.action.type.value for r in world.node.records(clone_cell)]
    proof = world.node.records(clone_cell)[1].action.membrane_proof
    assert proof == b"let me in"

    assert alice.call("a", "disable_clone", {"clone_cell_id": "main.0"}) is None
    assert clone_cell not in world.node.conductor.get_app(alice.app_id).cell_ids
    again = alice.call("a", "enable_clone", {"clone_cell_id": made["cell_id"]})
    assert again == {**made, "enabled": True}
    alice.call("a", "disable_clone", {"clone_cell_id": made["cell_id"]})
    assert alice.call("a", "delete_clone", {"clone_cell_id": "main.0"}) is None
    assert world.node.conductor.get_app(alice.app_id).clones == ()
    assert world.node.conductor.source_chain(clone_cell).records() == []
    # the role itself is untouched, and its properties are still the installed ones
    assert unpack(alice.call("a", "dna")["properties"]) == PROPERTIES
    assert alice.call("a", "dna")["network_seed"] == SEED


def test_a_zome_may_not_clone_another_apps_cell(world: World) -> None:
    alice, bob = world.install("clone-other", "alice", "bob")
    request = {"cell_id": bob.cell_id().to_wire(), "modifiers": {"network_seed": "bobs"}}
    with pytest.raises(GuestError, match="NotFound"):
        alice.call("a", "clone_cell", request)
    bob.call("a", "clone_cell", request)  # bob may clone his own
    for fn in ("disable_clone", "enable_clone", "delete_clone"):
        with pytest.raises(GuestError, match="NotFound"):
            alice.call("a", fn, {"clone_cell_id": "main.0"})
    assert world.node.conductor.get_app(alice.app_id).clones == ()
    assert [c.enabled for c in world.node.conductor.get_app(bob.app_id).clones] == [True]


def test_a_caller_through_a_grant_may_not_clone(world: World) -> None:
    alice, bob = world.install("clone-grant", "alice", "bob")
    alice.call("a", "make_grant", {"tag": "open", "access": "Unrestricted", "functions": "All"})
    request = {"cell_id": alice.cell_id().to_wire(), "modifiers": {"network_seed": "x"}}
    with pytest.raises(GuestError, match="Unauthorized"):
        alice.call_as(bob, "a", "clone_cell", request)
    assert world.node.conductor.get_app(alice.app_id).clones == ()


def test_one_call_creates_at_most_the_per_call_budget(world: World) -> None:
    (alice,) = world.install("clone-budget", "alice")
    cell = alice.cell_id().to_wire()
    n = MAX_CLONE_CHANGES_PER_CALL
    assert alice.call("a", "clone_many", {"cell_id": cell, "prefix": "ok", "count": n}) == n
    with pytest.raises(LimitExceeded, match="clone cell changes"):
        alice.call("a", "clone_many", {"cell_id": cell, "prefix": "runaway", "count": n + 1})
    # the budget is per call: the failed call made n before it stopped, and no more
    assert len(world.node.conductor.get_app(alice.app_id).clones) == 2 * n
