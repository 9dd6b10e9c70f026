"""Clone cell host functions against a hostile zome (docs/abi.md, "Clone cells").

The hostile zome sends any bytes to any host function (``host_raw``). It tries to clone,
disable, enable and delete cells of other apps (another agent's, and one sharing its own
agent key), to act through a grant instead of as the author, to change the very cell it
runs in, and to create clones past the per-role limit. Each attempt is refused with a
typed error and leaves every app as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zomehost.conductor.app import MAX_CLONES_PER_ROLE, MAX_NETWORK_SEED_CHARS, InstalledApp
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.zome_call import ZomeCall
from zomehost.errors import GuestError, LimitExceeded
from zomehost.fuzz.testbed import TestBed, app_bundle, dna, wat
from zomehost.ribosome.engine import HOST_FUNCTIONS

from .conftest import LIMITS, host_raw

CREATE = HOST_FUNCTIONS.index("create_clone_cell")
DISABLE = HOST_FUNCTIONS.index("disable_clone_cell")
ENABLE = HOST_FUNCTIONS.index("enable_clone_cell")
DELETE = HOST_FUNCTIONS.index("delete_clone_cell")
CREATE_GRANT = HOST_FUNCTIONS.index("create_cap_grant")


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    """One conductor on the default boundary (the ABI is checked on every boundary by
    test_hostile.py; these are rules of the host function itself)."""
    tb = TestBed(Path(tmp_path_factory.mktemp("zome-clones")) / "home", LIMITS)
    yield tb
    tb.close()


def _hostile(bed: TestBed, app_id: str) -> CellId:
    cell = bed.install({"hostile": wat("hostile")}, app_id=app_id)
    bed.call(cell, "hostile", "ok")
    return cell


def _raw(
    bed: TestBed, cell: CellId, index: int, value: Any, caller: Any = None, secret: Any = None
) -> Any:
    data = pack(host_raw(index, 1, data=pack(value)))
    call = ZomeCall(cell, "hostile", "host_raw", data, caller or cell.agent, secret)
    return bed.conductor.call_zome(call)


def _create(bed: TestBed, cell: CellId, of: CellId, seed: str, **kw: Any) -> Any:
    value = {"cell_id": of.to_wire(), "modifiers": {"network_seed": seed}, **kw}
    return _raw(bed, cell, CREATE, value)


def _app(bed: TestBed, app_id: str) -> InstalledApp:
    return bed.conductor.get_app(app_id)


def test_a_zome_clones_its_own_cell_and_manages_the_clone(bed: TestBed) -> None:
    cell = _hostile(bed, "own")
    made = _create(bed, cell, cell, "room-1", name="room one", membrane_proof=b"proof")
    clone_cell = CellId.from_wire(made["cell_id"])
    assert made["clone_id"] == "main.0" and made["name"] == "room one" and made["enabled"]
    assert made["original_dna_hash"] == cell.dna_hash.raw and clone_cell.agent == cell.agent
    assert made["dna_modifiers"]["network_seed"] == "room-1"
    app = _app(bed, "own")
    assert [c.clone_id for c in app.clones] == ["main.0"] and clone_cell in app.cell_ids
    assert bed.call(clone_cell, "hostile", "ok") is None  # the clone runs the role's zomes
    proof = bed.conductor.source_chain(clone_cell).records()[1].action.membrane_proof
    assert proof == b"proof"

    assert _raw(bed, cell, DISABLE, {"clone_cell_id": "main.0"}) is None
    assert clone_cell not in _app(bed, "own").cell_ids
    enabled = _raw(bed, cell, ENABLE, {"clone_cell_id": clone_cell.to_wire()})  # by cell id
    assert enabled["enabled"] and enabled["clone_id"] == "main.0"
    with pytest.raises(GuestError, match=r"ConductorError.*disable it first"):
        _raw(bed, cell, DELETE, {"clone_cell_id": "main.0"})
    _raw(bed, cell, DISABLE, {"clone_cell_id": "main.0"})
    assert _raw(bed, cell, DELETE, {"clone_cell_id": "main.0"}) is None
    assert _app(bed, "own").clones == ()
    assert bed.conductor.source_chain(clone_cell).records() == []  # its chain is erased


def test_a_zome_cannot_clone_or_touch_another_agents_app(bed: TestBed) -> None:
    rogue = _hostile(bed, "rogue-a")
    victim = _hostile(bed, "victim-a")
    _create(bed, victim, victim, "victims-room")
    before = _app(bed, "victim-a")
    with pytest.raises(GuestError, match=r"NotFound.*its own app's cells"):
        _create(bed, rogue, victim, "stolen")
    victim_clone = before.clones[0]
    for index in (DISABLE, ENABLE, DELETE):
        for ref in ("main.0", CellId(victim_clone.dna_hash, victim.agent).to_wire()):
            with pytest.raises(GuestError, match="NotFound"):
                _raw(bed, rogue, index, {"clone_cell_id": ref})
    assert _app(bed, "victim-a") == before
    assert _app(bed, "rogue-a").clones == ()


def test_a_zome_cannot_touch_an_app_sharing_its_agent_key(bed: TestBed) -> None:
    """Two apps with one agent key: a clone's cell id names the agent, but a zome still
    reaches only the clones of its own app."""
    victim = _hostile(bed, "victim-shared")
    made = _create(bed, victim, victim, "shared-room")
    c = bed.conductor
    rogue_dna = dna({"hostile": wat("hostile")}, seed="rogue-shared")
    rogue_app = c.install_app(app_bundle({"main": rogue_dna}), "rogue-shared", victim.agent)
    rogue = rogue_app.cell_id("main")
    before = _app(bed, "victim-shared")
    with pytest.raises(GuestError, match="NotFound"):
        _create(bed, rogue, victim, "via-shared-key")
    with pytest.raises(GuestError, match="NotFound"):
        _raw(bed, rogue, DISABLE, {"clone_cell_id": made["cell_id"]})
    with pytest.raises(GuestError, match="NotFound"):  # rogue's own namespace has no main.0
        _raw(bed, rogue, DISABLE, {"clone_cell_id": "main.0"})
    assert _app(bed, "victim-shared") == before and _app(bed, "rogue-shared").clones == ()


def test_a_caller_through_a_grant_may_not_change_clone_cells(bed: TestBed) -> None:
    owner = _hostile(bed, "granting")
    stranger = _hostile(bed, "stranger")
    grant = ZomeCallCapGrant("everyone", CapAccess(AccessKind.UNRESTRICTED), GrantedFunctions())
    bed.conductor.grant_capability(owner, grant)
    value = {"cell_id": owner.to_wire(), "modifiers": {"network_seed": "by-a-stranger"}}
    with pytest.raises(GuestError, match=r"Unauthorized.*author capability"):
        _raw(bed, owner, CREATE, value, caller=stranger.agent)  # an owner's unrestricted grant
    _create(bed, owner, owner, "the-owners")  # the author may
    for index in (DISABLE, ENABLE, DELETE):
        with pytest.raises(GuestError, match="Unauthorized"):
            _raw(bed, owner, index, {"clone_cell_id": "main.0"}, caller=stranger.agent)
    assert [c.enabled for c in _app(bed, "granting").clones] == [True]


def test_the_owners_signing_credentials_may_but_a_zomes_grant_may_not(bed: TestBed) -> None:
    """A local UI calls with signing credentials: an assigned grant the conductor's owner
    wrote (the admin API). That acts for the agent. The same grant written by a zome (for a
    key it chose) does not: a zome cannot hand the clone functions to others."""
    owner = _hostile(bed, "delegating")
    ui_key, stranger = os.urandom(32), _hostile(bed, "assignee")
    ui = AgentPubKey.from_core(ui_key)
    secret, other_secret = os.urandom(64), os.urandom(64)
    value = {"cell_id": owner.to_wire(), "modifiers": {"network_seed": "by-the-ui"}}
    assigned = CapAccess(AccessKind.ASSIGNED, secret, frozenset({ui}))
    bed.conductor.grant_capability(owner, ZomeCallCapGrant("ui", assigned, GrantedFunctions()))
    made = _raw(bed, owner, CREATE, value, caller=ui, secret=secret)
    assert made["clone_id"] == "main.0"

    by_zome = {
        "tag": "zome-call-signing-key",  # the same tag changes nothing
        "access": {"Assigned": {"secret": other_secret, "assignees": [stranger.agent.raw]}},
        "functions": "All",
    }
    _raw(bed, owner, CREATE_GRANT, by_zome)
    value["modifiers"] = {"network_seed": "by-a-zomes-grantee"}
    with pytest.raises(GuestError, match="Unauthorized"):
        _raw(bed, owner, CREATE, value, caller=stranger.agent, secret=other_secret)
    assert [c.clone_id for c in _app(bed, "delegating").clones] == ["main.0"]


def test_a_clone_may_not_disable_or_delete_itself(bed: TestBed) -> None:
    cell = _hostile(bed, "self")
    made = _create(bed, cell, cell, "myself")
    clone_cell = CellId.from_wire(made["cell_id"])
    for index in (DISABLE, DELETE):
        with pytest.raises(GuestError, match=r"InvalidInput.*the calling cell"):
            _raw(bed, clone_cell, index, {"clone_cell_id": "main.0"})
    assert _app(bed, "self").clones[0].enabled


def test_a_runaway_zome_stops_at_the_per_role_limit(bed: TestBed) -> None:
    cell = _hostile(bed, "runaway")
    for i in range(MAX_CLONES_PER_ROLE):
        _create(bed, cell, cell, f"room-{i}")
    with pytest.raises(LimitExceeded, match=f"{MAX_CLONES_PER_ROLE} clones already"):
        _create(bed, cell, cell, "one-too-many")
    app = _app(bed, "runaway")
    assert len(app.clones) == MAX_CLONES_PER_ROLE
    # deleting one makes room for exactly one; ids are never reused
    _raw(bed, cell, DISABLE, {"clone_cell_id": "main.7"})
    _raw(bed, cell, DELETE, {"clone_cell_id": "main.7"})
    made = _create(bed, cell, cell, "room-again")
    assert made["clone_id"] == f"main.{MAX_CLONES_PER_ROLE}"
    with pytest.raises(LimitExceeded):
        _create(bed, cell, cell, "still-too-many")


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"cell_id": None, "modifiers": {"network_seed": "x"}}, r"InvalidInput.*cell_id"),
        ({"cell_id": [b"x", b"y"], "modifiers": {"network_seed": "x"}}, "InvalidInput"),
        ({"modifiers": {}}, "InvalidInput"),
        ("self", r"InvalidInput.*network seed or properties"),
        ({"network_seed": 7}, r"InvalidInput.*network_seed"),
        ({"properties": {"not": "bin"}}, r"InvalidInput.*properties"),
        ({"properties": b"\xc1"}, r"InvalidInput.*properties"),
        ({"network_seed": "x", "name": 5}, r"InvalidInput.*name"),
    ],
)
def test_bad_clone_input_is_refused_and_writes_nothing(
    bed: TestBed, value: Any, error: str
) -> None:
    cell = _hostile(bed, f"bad-{abs(hash(repr(value))) % 10**8}")
    if value == "self":
        value = {"cell_id": cell.to_wire(), "modifiers": {}}
    elif "cell_id" not in value and "modifiers" not in value:
        name = value.pop("name", None)
        value = {"cell_id": cell.to_wire(), "modifiers": value}
        if name is not None:
            value["name"] = name
    before = bed.conductor.source_chain(cell).records()
    with pytest.raises(GuestError, match=error):
        _raw(bed, cell, CREATE, value)
    assert _app(bed, _app_id_of(bed, cell)).clones == ()
    assert bed.conductor.source_chain(cell).records() == before


def _app_id_of(bed: TestBed, cell: CellId) -> str:
    return next(a.app_id for a in bed.conductor.list_apps() if cell in a.cell_ids)


def test_oversized_modifiers_fail_the_call(bed: TestBed) -> None:
    cell = _hostile(bed, "oversized")
    with pytest.raises(LimitExceeded, match="network seed"):
        _create(bed, cell, cell, "s" * (MAX_NETWORK_SEED_CHARS + 1))
    assert _app(bed, "oversized").clones == ()


def test_calls_do_not_reparse_an_app_with_many_clones(
    bed: TestBed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app is parsed once per change (``Conductor.get_app``): a call that reads it (every
    ``sign`` and ``box_encrypt`` checks the app's key is its own) costs the same with 40
    clones as with none; a change is seen at once."""
    cell = _hostile(bed, "many")
    for i in range(40):
        _create(bed, cell, cell, f"many-{i}")
    box = {"recipient": cell.agent.raw, "data": b"x"}
    _raw(bed, cell, HOST_FUNCTIONS.index("box_encrypt"), box)
    parsed: list[str] = []
    real = InstalledApp.from_state.__func__  # type: ignore[attr-defined]

    def counting(cls: type[InstalledApp], doc: Any) -> InstalledApp:
        parsed.append(doc["app_id"])
        return real(cls, doc)  # type: ignore[no-any-return]

    monkeypatch.setattr(InstalledApp, "from_state", classmethod(counting))
    for _ in range(20):
        _raw(bed, cell, HOST_FUNCTIONS.index("box_encrypt"), box)
    assert parsed == []
    _raw(bed, cell, DISABLE, {"clone_cell_id": "main.3"})
    assert not _app(bed, "many").clones[3].enabled and "many" in parsed
