"""Failed calls write nothing; hostile pointers are contained; init, post_commit, restarts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from zomehost.core.codec import unpack
from zomehost.errors import (
    GuestError,
    InitFailed,
    InvalidGuestPointer,
    Trap,
    Unauthorized,
    ZomehostError,
)


def _snapshot(app: Any) -> list[bytes]:
    return [r.action_hash.raw for r in app.records()]


# -- a failed call writes nothing -------------------------------------------------------


def test_create_then_fail_writes_nothing(alice: Any) -> None:
    before = _snapshot(alice)
    with pytest.raises(GuestError, match="deliberate failure"):
        alice.call("a", "create_then_fail", "never stored")
    assert _snapshot(alice) == before
    assert alice.records(entry_type=["probe"]) == []


def test_create_then_panic_writes_nothing(alice: Any) -> None:
    before = _snapshot(alice)
    with pytest.raises(Trap) as info:
        alice.call("b", "create_then_panic", "never stored")
    assert "create_then_panic" in info.value.message
    assert _snapshot(alice) == before
    # The next call on the same cell works and commits normally.
    h = alice.call("b", "create_entry", {"value": "after the panic"})
    assert _snapshot(alice) == [*before, h]


def test_bad_pointer_traps_with_a_clear_message_and_writes_nothing(alice: Any) -> None:
    before = _snapshot(alice)
    with pytest.raises(InvalidGuestPointer) as info:
        alice.call("a", "bad_pointer")
    msg = info.value.message
    assert "outside guest memory" in msg
    assert "create" in msg  # names the host function it was passed to
    assert info.value.kind == "InvalidGuestPointer"
    assert _snapshot(alice) == before
    # The conductor keeps serving the same cell, in both zomes.
    assert alice.call("a", "echo", "still alive") == "still alive"
    h = alice.call("b", "create_entry", {"value": "after"})
    assert _snapshot(alice) == [*before, h]


def test_a_failed_call_does_not_emit_its_post_commit_signal(alice: Any) -> None:
    got: list[Any] = []
    alice.node.conductor.add_signal_listener(got.append)
    with pytest.raises(GuestError):
        alice.call("a", "create_then_fail", "x")
    with pytest.raises(Trap):
        alice.call("a", "create_then_panic", "x")
    assert got == []


def test_a_spinning_call_times_out_and_writes_nothing(alice: Any) -> None:
    before = _snapshot(alice)
    t0 = time.monotonic()
    with pytest.raises(ZomehostError) as info:
        alice.call("a", "spin", timeout_ms=300)
    assert info.value.kind == "Timeout"
    assert time.monotonic() - t0 < 5
    assert _snapshot(alice) == before
    assert alice.call("a", "echo", "ok") == "ok"


# -- init -------------------------------------------------------------------------------


def test_bad_init_refuses_every_call_and_writes_only_genesis(
    node: Any, bad_init_bundle: bytes
) -> None:
    app = node.install(bad_init_bundle, "bad")
    for _ in range(3):
        with pytest.raises(InitFailed) as info:
            app.call("bad", "hello")
        assert "init refused by zome" in info.value.message
        assert "bad" in info.value.message  # names the zome
    assert app.action_types() == ["Dna", "AgentValidationPkg", "Create"]
    assert app.node.conductor.cell(app.cell_id()).chain.verify() == 3


def test_init_runs_exactly_once(node: Any, probe_bundle: bytes) -> None:
    app = node.install(probe_bundle, "once")
    assert app.action_types() == ["Dna", "AgentValidationPkg", "Create"]  # lazily
    app.call("a", "echo", "1")
    app.call("b", "create_entry", {"value": 1})
    app.call("a", "create_entry", {"value": 2})
    app.call("b", "whoami")
    types = app.action_types()
    assert types.count("InitZomesComplete") == 1
    assert types == [
        "Dna",
        "AgentValidationPkg",
        "Create",
        "InitZomesComplete",
        "Create",
        "Create",
    ]


def test_init_runs_before_the_first_write_lands(node: Any, probe_bundle: bytes) -> None:
    app = node.install(probe_bundle, "first-write")
    h = app.call("a", "create_entry", {"value": "first"})
    records = app.records()
    assert [r.action.type.value for r in records[3:]] == ["InitZomesComplete", "Create"]
    assert records[-1].action_hash.raw == h


# -- post_commit ------------------------------------------------------------------------


def test_post_commit_runs_after_a_commit_and_its_signal_arrives(alice: Any) -> None:
    got: list[Any] = []
    alice.node.conductor.add_signal_listener(got.append)

    alice.call("a", "echo", "no writes, no post_commit")
    assert got == []

    alice.call("b", "create_entry", {"value": "one"})
    assert [unpack(s.payload) for s in got] == [{"post_commit": 1}]
    assert got[0].zome_name == "b"
    assert got[0].cell == alice.cell_id()

    got.clear()
    # Two writes in one call (caller and inter-zome callee): one post_commit with both.
    alice.call(
        "a",
        "create_and_call",
        {"value": "outer", "zome_name": "b", "fn_name": "create_entry", "payload": {"value": 2}},
    )
    assert [unpack(s.payload) for s in got] == [{"post_commit": 2}]
    assert got[0].zome_name == "a"


# -- restart ----------------------------------------------------------------------------


def test_data_survives_a_restart_and_modules_are_not_recompiled(
    node_factory: Any, probe_bundle: bytes
) -> None:
    compiled: list[str] = []
    node = node_factory("restart", seed=False, on_compile=compiled.append)
    app = node.install(probe_bundle, "persist")
    assert compiled, "the first install must compile the zome"
    assert len(compiled) == 1  # both zomes share one wasm: compiled once
    h1 = app.call("a", "create_entry", {"value": "kept"})
    h2 = app.call("b", "update_entry", {"original": h1, "value": "kept, edited"})
    stranger = node.conductor.generate_agent()
    grant = {"tag": "open", "access": "Unrestricted", "functions": {"Listed": [["a", "now"]]}}
    app.call("a", "make_grant", grant)
    before = [(r.action_hash, r.signature) for r in app.records()]
    cell_id = app.cell_id()
    assert list(node.home.cache_path.glob("*.cwasm"))

    recompiled: list[str] = []
    node2 = node.restart(on_compile=recompiled.append)
    try:
        assert [a.app_id for a in node2.conductor.list_apps()] == ["persist"]
        app2 = node2.app("persist")
        assert app2.cell_id() == cell_id
        assert app2.agent == app.agent
        assert [(r.action_hash, r.signature) for r in app2.records()] == before
        rec = app2.call("a", "get_record", h2)
        assert unpack(rec["entry"]["content"]) == "kept, edited"
        assert app2.call("b", "get_record", h1)["action"]["type"] == "Create"
        # The grant index survived too: the stranger may call a.now, and nothing else.
        assert isinstance(app2.call("a", "now", provenance=stranger), int)
        with pytest.raises(Unauthorized):
            app2.call("a", "echo", "x", provenance=stranger)
        h3 = app2.call("a", "create_entry", {"value": "after restart"})
        assert app2.records()[-1].action_hash.raw == h3
        assert app2.action_types().count("InitZomesComplete") == 1
        assert node2.conductor.cell(cell_id).chain.verify() == len(before) + 1
        assert recompiled == []
    finally:
        node2.close()
