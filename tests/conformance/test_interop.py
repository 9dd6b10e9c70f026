"""Both languages in one DNA: the Rust probe (zome ``rs``) and the AssemblyScript probe
(zome ``as``) call each other, share one call's workspace, and read each other's entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import AppHandle, rust_and_as_app
from zomehost.core.codec import unpack


@pytest.fixture(scope="module")
def mixed(
    probe_wasm: dict[str, Path],
    conformance_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppHandle]:
    root = tmp_path_factory.mktemp("interop")
    with rust_and_as_app(probe_wasm, conformance_cache, root, "mixed") as app:
        app.call("rs", "echo", "warm-up")
        yield app


def call_other(app: AppHandle, caller: str, callee: str, fn: str, payload: Any = None) -> Any:
    return app.call(
        caller,
        "call_other",
        {"target": {"Local": None}, "zome_name": callee, "fn_name": fn, "payload": payload},
    )


@pytest.mark.parametrize(("caller", "callee"), [("rs", "as"), ("as", "rs")])
def test_calls_across_languages(mixed: AppHandle, caller: str, callee: str) -> None:
    assert unpack(call_other(mixed, caller, callee, "echo", "ünïcode ☃")["Ok"]) == "ünïcode ☃"
    info = unpack(call_other(mixed, caller, callee, "caller")["Ok"])
    assert info["zome_name"] == callee and info["provenance"] == mixed.agent.raw
    assert call_other(mixed, caller, callee, "create_then_fail", 1) == {
        "CallError": f"GuestError: {callee}.create_then_fail returned an error: deliberate failure"
    }
    zome = unpack(call_other(mixed, caller, callee, "zome")["Ok"])
    assert zome["name"] == callee
    assert zome["id"] == {"rs": 0, "as": 1}[callee]


@pytest.mark.parametrize(("caller", "callee"), [("rs", "as"), ("as", "rs")])
def test_one_workspace_across_languages(mixed: AppHandle, caller: str, callee: str) -> None:
    seq = mixed.head_seq()
    arg = {"value": f"by {caller}", "zome_name": callee, "fn_name": "create_entry"}
    res = mixed.call(caller, "create_and_call", {**arg, "payload": {"value": f"by {callee}"}})
    inner = unpack(res["Ok"])
    assert mixed.head_seq() == seq + 2
    # each reads what the other wrote, byte for byte the same entry
    by_caller = mixed.call(callee, "get_record", inner)
    by_callee = mixed.call(caller, "get_record", inner)
    assert by_caller == by_callee
    assert unpack(by_caller["entry"]["content"]) == f"by {callee}"
    # a callee that fails after writing: its write is undone, the caller's kept
    seq = mixed.head_seq()
    mixed.call(
        caller,
        "create_and_call",
        {"value": "kept", "zome_name": callee, "fn_name": "create_then_panic", "payload": 1},
    )
    assert mixed.head_seq() == seq + 1
    last = mixed.records()[-1]
    assert last.entry is not None and unpack(last.entry.content) == "kept"


def test_same_value_same_entry_hash_in_both_languages(mixed: AppHandle) -> None:
    value = {"z": [1, -2, 2**40], "a": {"nested": None, "bin": b"\x00\xff"}, "s": "é"}
    hashes = {}
    for zome in ("rs", "as"):
        h = mixed.call(zome, "create_entry", {"value": value})
        hashes[zome] = mixed.call(zome, "get_record", h)["action"]["entry_hash"]
    assert hashes["rs"] == hashes["as"]
