"""Every host function of docs/abi.md, called by a real compiled zome (zomes/probe).

Each test goes through the whole pipeline: conductor → ribosome → wasm guest → host
function → LMDB chain, and checks the values the guest saw (the probe returns them).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest

from zomehost.core.codec import unpack
from zomehost.core.hash import ActionHash, EntryHash, HashType, any_hash
from zomehost.errors import GuestError

# -- info -------------------------------------------------------------------------------


def _head_wire(app: Any) -> dict[str, Any]:
    head = app.node.conductor.cell(app.cell_id()).chain.head()
    return {"action": head.action.raw, "seq": head.seq, "timestamp": head.timestamp}


def test_agent_info_reports_the_cells_agent_and_current_head(alice: Any) -> None:
    info = alice.call("a", "whoami")
    assert info["agent_initial_pubkey"] == alice.agent.raw
    assert info["agent_latest_pubkey"] == alice.agent.raw
    assert info["chain_head"] == _head_wire(alice)
    assert info["chain_head"]["seq"] == 3  # Dna, AgentValidationPkg, Create(Agent), Init

    created = alice.call("a", "create_entry", {"value": "moves the head"})
    info2 = alice.call("b", "whoami")
    assert info2["chain_head"]["seq"] == 4
    assert info2["chain_head"]["action"] == created


def test_agent_info_differs_per_agent(alice: Any, bob: Any) -> None:
    assert bob.call("a", "whoami")["agent_initial_pubkey"] == bob.agent.raw
    assert bob.agent != alice.agent


def test_dna_info(alice: Any, probe_dna_settings: dict[str, Any]) -> None:
    info = alice.call("b", "dna")
    assert info["hash"] == alice.cell_id().dna_hash.raw
    assert info["name"] == probe_dna_settings["name"]
    assert unpack(info["properties"]) == probe_dna_settings["properties"]
    assert info["network_seed"] == probe_dna_settings["network_seed"]
    assert info["zome_names"] == ["a", "b"]


def test_dna_info_follows_an_install_time_network_seed(node: Any, probe_bundle: bytes) -> None:
    app = node.install(probe_bundle, "seeded", network_seed="another-network")
    info = app.call("a", "dna")
    assert info["network_seed"] == "another-network"
    assert info["hash"] == app.cell_id().dna_hash.raw


@pytest.mark.parametrize(("zome", "zome_id"), [("a", 0), ("b", 1)])
def test_zome_info(alice: Any, zome: str, zome_id: int) -> None:
    info = alice.call(zome, "zome")
    assert info["name"] == zome
    assert info["id"] == zome_id
    fns = info["function_names"]
    assert fns == sorted(fns)
    for expected in ("whoami", "create_entry", "query_chain", "call_other", "echo", "zome"):
        assert expected in fns
    for hidden in ("init", "post_commit", "recv_remote_signal", "__zh_alloc", "__zh_free"):
        assert hidden not in fns


def test_call_info_for_the_author(alice: Any) -> None:
    before = _head_wire(alice)
    info = alice.call("b", "caller")
    assert info["provenance"] == alice.agent.raw
    assert info["zome_name"] == "b"
    assert info["function_name"] == "caller"
    assert info["as_at"] == before
    assert info["cap_grant"] == {"ChainAuthor": alice.agent.raw}


# -- source chain -----------------------------------------------------------------------


def test_create_then_get_by_action_hash_and_by_entry_hash(alice: Any) -> None:
    value = {"n": 1, "s": "hi", "nested": [1, 2, {"x": None}]}
    h = alice.call("a", "create_entry", {"value": value})
    assert any_hash(h).hash_type is HashType.ACTION

    rec = alice.call("a", "get_record", h)
    assert rec["action_hash"] == h
    assert rec["action"]["type"] == "Create"
    assert rec["action"]["entry_type"] == "probe"
    assert rec["action"]["author"] == alice.agent.raw
    assert rec["action"]["action_seq"] == 4
    assert unpack(rec["entry"]["content"]) == value
    assert len(rec["signature"]) == 64
    # The guest saw exactly what the chain stored, and the author's signature checks out.
    stored = alice.records()[-1]
    assert stored.action_hash.raw == h
    assert stored.signature == rec["signature"]
    nacl.signing.VerifyKey(alice.agent.ed25519).verify(stored.action_bytes, stored.signature)

    entry_hash = rec["action"]["entry_hash"]
    assert any_hash(entry_hash).hash_type is HashType.ENTRY
    by_entry = alice.call("b", "get_record", entry_hash)
    assert by_entry["action_hash"] == h
    assert unpack(by_entry["entry"]["content"]) == value


def test_create_with_an_app_entry_type(alice: Any) -> None:
    h = alice.call("a", "create_entry", {"entry_type": "note", "value": "typed"})
    rec = alice.call("a", "get_record", h)
    assert rec["action"]["entry_type"] == "note"
    assert rec["entry"]["entry_type"] == "note"


@pytest.mark.parametrize("reserved", ["CapGrant", "CapClaim", "Agent"])
def test_create_refuses_system_entry_types(alice: Any, reserved: str) -> None:
    seq = alice.head_seq()
    with pytest.raises(GuestError, match="reserved"):
        alice.call("a", "create_entry", {"entry_type": reserved, "value": "forged"})
    assert alice.head_seq() == seq


def test_get_unknown_hashes_and_other_cells_records_return_none(alice: Any, bob: Any) -> None:
    assert alice.call("a", "get_record", ActionHash.of_content(b"nothing").raw) is None
    assert alice.call("a", "get_record", EntryHash.of_content(b"nothing").raw) is None
    bobs = bob.call("a", "create_entry", {"value": "bob's secret"})
    assert bob.call("a", "get_record", bobs) is not None
    assert alice.call("a", "get_record", bobs) is None  # one cell cannot read another's chain
    bobs_entry = bob.call("a", "get_record", bobs)["action"]["entry_hash"]
    assert alice.call("a", "get_record", bobs_entry) is None


def test_update(alice: Any) -> None:
    h1 = alice.call("a", "create_entry", {"value": "v1"})
    e1 = alice.call("a", "get_record", h1)["action"]["entry_hash"]
    h2 = alice.call("a", "update_entry", {"original": h1, "value": "v2"})
    rec = alice.call("a", "get_record", h2)
    assert rec["action"]["type"] == "Update"
    assert rec["action"]["original_action_address"] == h1
    assert rec["action"]["original_entry_address"] == e1
    assert unpack(rec["entry"]["content"]) == "v2"
    # An update of an update chains on.
    h3 = alice.call("a", "update_entry", {"original": h2, "entry_type": "probe", "value": "v3"})
    assert alice.call("a", "get_record", h3)["action"]["original_action_address"] == h2
    # The original is still there, unchanged.
    assert unpack(alice.call("a", "get_record", h1)["entry"]["content"]) == "v1"


def test_update_of_something_that_is_not_a_create_is_refused(alice: Any) -> None:
    h1 = alice.call("a", "create_entry", {"value": "v1"})
    d = alice.call("a", "delete_entry", h1)
    seq = alice.head_seq()
    with pytest.raises(GuestError, match="no create or update"):
        alice.call("a", "update_entry", {"original": d, "value": "v2"})
    with pytest.raises(GuestError, match="no create or update"):
        alice.call("a", "update_entry", {"original": ActionHash.of_content(b"x").raw, "value": 1})
    assert alice.head_seq() == seq


def test_delete(alice: Any) -> None:
    h1 = alice.call("a", "create_entry", {"value": "doomed"})
    e1 = alice.call("a", "get_record", h1)["action"]["entry_hash"]
    d = alice.call("a", "delete_entry", h1)
    rec = alice.call("a", "get_record", d)
    assert rec["action"]["type"] == "Delete"
    assert rec["action"]["deletes_address"] == h1
    assert rec["action"]["deletes_entry_address"] == e1
    assert rec["entry"] is None
    with pytest.raises(GuestError, match="no create or update"):
        alice.call("a", "delete_entry", d)  # a delete cannot be deleted


# -- query ------------------------------------------------------------------------------


@pytest.fixture
def queried(alice: Any) -> dict[str, Any]:
    """A chain of 8 records: genesis 0-2, Init 3, Create probe 4, Create note 5,
    Update probe 6 (of 4), Delete 7 (of 5)."""
    c1 = alice.call("a", "create_entry", {"value": "first"})
    c2 = alice.call("a", "create_entry", {"entry_type": "note", "value": "second"})
    u = alice.call("a", "update_entry", {"original": c1, "value": "first, edited"})
    d = alice.call("a", "delete_entry", c2)
    return {"app": alice, "c1": c1, "c2": c2, "u": u, "d": d}


def _q(queried: dict[str, Any], **flt: Any) -> list[dict[str, Any]]:
    return queried["app"].call("b", "query_chain", flt)


def _seqs(records: list[dict[str, Any]]) -> list[int]:
    return [r["action"]["action_seq"] for r in records]


def test_query_everything_ascending_without_entries(queried: dict[str, Any]) -> None:
    records = _q(queried)
    assert _seqs(records) == list(range(8))
    assert [r["action"]["type"] for r in records] == [
        "Dna",
        "AgentValidationPkg",
        "Create",
        "InitZomesComplete",
        "Create",
        "Create",
        "Update",
        "Delete",
    ]
    assert all(r["entry"] is None for r in records)
    assert [r["action_hash"] for r in records[4:]] == [
        queried["c1"],
        queried["c2"],
        queried["u"],
        queried["d"],
    ]
    # The same records, in the same order, as the chain stores them.
    assert [r["action_hash"] for r in records] == [
        r.action_hash.raw for r in queried["app"].records()
    ]


def test_query_include_entries(queried: dict[str, Any]) -> None:
    records = _q(queried, include_entries=True)
    with_entry = {r["action"]["action_seq"]: r["entry"] for r in records if r["entry"]}
    assert sorted(with_entry) == [2, 4, 5, 6]
    assert with_entry[2]["entry_type"] == "Agent"
    assert unpack(with_entry[2]["content"]) == queried["app"].agent.raw
    assert unpack(with_entry[4]["content"]) == "first"
    assert unpack(with_entry[5]["content"]) == "second"
    assert unpack(with_entry[6]["content"]) == "first, edited"


@pytest.mark.parametrize(
    ("rng", "expected"),
    [
        ([4, 6], [4, 5]),
        ([0, 1], [0]),
        ([5, 1000], [5, 6, 7]),
        ([7, 8], [7]),
        ([8, 20], []),
        ([3, 3], []),
    ],
)
def test_query_sequence_range(queried: dict[str, Any], rng: list[int], expected: list[int]) -> None:
    assert _seqs(_q(queried, sequence_range=rng)) == expected


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["note"], [5]),
        (["probe"], [4, 6]),
        (["probe", "note"], [4, 5, 6]),
        (["Agent"], [2]),
        (["nothing-has-this-type"], []),
    ],
)
def test_query_entry_type(queried: dict[str, Any], types: list[str], expected: list[int]) -> None:
    assert _seqs(_q(queried, entry_type=types)) == expected


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["Create"], [2, 4, 5]),
        (["Update", "Delete"], [6, 7]),
        (["Dna"], [0]),
        (["AgentValidationPkg"], [1]),
        (["InitZomesComplete"], [3]),
    ],
)
def test_query_action_type(queried: dict[str, Any], types: list[str], expected: list[int]) -> None:
    assert _seqs(_q(queried, action_type=types)) == expected


def test_query_descending(queried: dict[str, Any]) -> None:
    assert _seqs(_q(queried, descending=True)) == list(range(7, -1, -1))
    assert _seqs(_q(queried, descending=True, sequence_range=[1, 4])) == [3, 2, 1]


def test_query_all_filters_combined(queried: dict[str, Any]) -> None:
    records = _q(
        queried,
        sequence_range=[0, 100],
        entry_type=["probe", "note"],
        action_type=["Create", "Update"],
        include_entries=True,
        descending=True,
    )
    assert _seqs(records) == [6, 5, 4]
    assert [unpack(r["entry"]["content"]) for r in records] == [
        "first, edited",
        "second",
        "first",
    ]
    narrower = _q(queried, sequence_range=[5, 7], entry_type=["probe"], action_type=["Update"])
    assert _seqs(narrower) == [6]
    assert narrower[0]["entry"] is None


def test_query_with_an_unknown_action_type_is_an_error(alice: Any) -> None:
    with pytest.raises(GuestError, match="action_type"):
        alice.call("a", "query_chain", {"action_type": ["Teleport"]})


# -- utilities --------------------------------------------------------------------------


def test_random_bytes(alice: Any) -> None:
    r1 = alice.call("a", "random", 32)
    r2 = alice.call("a", "random", 32)
    assert isinstance(r1, bytes) and len(r1) == 32
    assert r1 != r2
    assert alice.call("a", "random", 0) == b""
    assert len(alice.call("a", "random", 65536)) == 65536
    with pytest.raises(GuestError, match="random_bytes"):
        alice.call("a", "random", 65537)


def test_sys_time(alice: Any) -> None:
    before = time.time_ns() // 1000
    t = alice.call("a", "now")
    after = time.time_ns() // 1000
    assert isinstance(t, int)
    assert before <= t <= after


def test_sign_and_verify_signature(alice: Any, bob: Any) -> None:
    data = os.urandom(100)
    sig = alice.call("a", "sign_data", data)
    assert isinstance(sig, bytes) and len(sig) == 64
    # An independent Ed25519 check of what the host signed with the agent's key.
    nacl.signing.VerifyKey(alice.agent.ed25519).verify(data, sig)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        nacl.signing.VerifyKey(bob.agent.ed25519).verify(data, sig)

    ok = {"key": alice.agent.raw, "signature": sig, "data": data}
    assert alice.call("a", "verify", ok) is True
    assert bob.call("b", "verify", ok) is True  # anyone can verify
    assert alice.call("a", "verify", {**ok, "data": data + b"!"}) is False
    assert alice.call("a", "verify", {**ok, "key": bob.agent.raw}) is False
    bad_sig = bytes([sig[0] ^ 1]) + sig[1:]
    assert alice.call("a", "verify", {**ok, "signature": bad_sig}) is False
    # A signature made by the host with nacl's own key for the agent verifies too.
    sk = alice.node.conductor.keystore.signing_key(alice.agent)
    assert alice.call("a", "verify", {**ok, "signature": bytes(sk.sign(data).signature)}) is True


def test_trace_logs_the_message_at_its_level(alice: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="zomehost.zome"):
        assert alice.call("b", "log", "hello from the guest") is None
    hits = [r for r in caplog.records if "hello from the guest" in r.getMessage()]
    assert len(hits) == 1
    assert hits[0].levelno == logging.INFO
    assert hits[0].name == "zomehost.zome"
    assert "b" in hits[0].getMessage()  # which zome traced


def test_emit_signal_reaches_listeners_after_the_call(alice: Any) -> None:
    got: list[Any] = []
    remove = alice.node.conductor.add_signal_listener(got.append)
    try:
        assert alice.call("b", "signal", {"kind": "ping", "n": 7}) is None
    finally:
        remove()
    assert len(got) == 1
    sig = got[0]
    assert sig.cell == alice.cell_id()
    assert sig.zome_name == "b"
    assert unpack(sig.payload) == {"kind": "ping", "n": 7}
    # After removing the listener nothing more arrives.
    alice.call("b", "signal", "again")
    assert len(got) == 1


def test_echo_round_trips_unicode(alice: Any) -> None:
    text = "héllo wörld ✓ " * 50
    assert alice.call("a", "echo", text) == text
