"""Fuzz the ABI from the guest side, through the real boundary (both paths): a zome hands
every host function arbitrary pointers, lengths, bytes and near-valid values
(zomes/hostile/hostile.wat `host_raw`). Every outcome must be a value, an ``Err`` envelope
with a typed kind, or a typed error for the call; chains stay intact."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zomehost.core.codec import pack
from zomehost.core.hash import HashType
from zomehost.errors import GuestError
from zomehost.fuzz import targets as t
from zomehost.fuzz.testbed import TestBed, wat
from zomehost.ribosome.engine import HOST_FUNCTIONS

from .conftest import budget, count, values

CELLS: dict[str, Any] = {}


@pytest.fixture(scope="module", params=["native", "fast", "public"])
def bed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestBed]:
    tb = TestBed(
        Path(tmp_path_factory.mktemp(f"abi-{request.param}")) / "home",
        {"timeout_ms": 1000, "max_writes_per_call": 50},
        boundary=request.param,
    )
    CELLS["hostile"] = tb.install({"hostile": wat("hostile")}, app_id="hostile")
    CELLS["writer"] = tb.install({"writer": wat("writer")}, app_id="writer")
    for cell, zome in ((CELLS["hostile"], "hostile"), (CELLS["writer"], "writer")):
        tb.call(cell, zome, "ok")
    yield tb
    for cell in CELLS.values():  # whatever the fuzzer did, every chain is intact
        tb.conductor.cell(cell).chain.verify()
    tb.close()


def _hash(kind: HashType) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=36, max_size=36).map(lambda b: kind.value + b) | st.binary(
        min_size=38, max_size=40
    )


agent = _hash(HashType.AGENT)
action = _hash(HashType.ACTION)
secret = st.binary(min_size=64, max_size=64) | st.binary(max_size=70) | st.none()
fn_name = st.sampled_from(["ok", "counter", "create_entry", "nope", "__zh_alloc"])
target = st.sampled_from([{"Local": None}, "Local", {"Role": "main"}, {"Role": "x"}]) | st.builds(
    lambda d, a: {"Cell": [d, a]}, _hash(HashType.DNA), agent
)
grant = st.fixed_dictionaries(
    {
        "tag": st.text(max_size=6),
        "access": st.just("Unrestricted")
        | st.fixed_dictionaries({"Transferable": st.fixed_dictionaries({"secret": secret})}),
        "functions": st.just("All")
        | st.fixed_dictionaries(
            {"Listed": st.lists(st.tuples(st.text(max_size=4), st.text(max_size=4)), max_size=2)}
        ),
    }
)
NEAR_VALID: dict[str, st.SearchStrategy[Any]] = {
    "create": st.fixed_dictionaries(
        {"entry_type": st.text(max_size=10), "entry": st.binary(max_size=64)}
    ),
    "get": st.fixed_dictionaries({"hash": action | _hash(HashType.ENTRY)}),
    "update": st.fixed_dictionaries(
        {
            "original_action": action,
            "entry_type": st.text(max_size=5),
            "entry": st.binary(max_size=8),
        }
    ),
    "delete": st.fixed_dictionaries({"deletes_action": action}),
    "query": st.fixed_dictionaries(
        {},
        optional={
            "sequence_range": st.lists(st.integers(0, 2**64 - 1), min_size=2, max_size=2),
            "entry_type": st.lists(st.text(max_size=4), max_size=2),
            "action_type": st.lists(st.sampled_from(["Create", "Dna", "Delete", "x"]), max_size=2),
            "include_entries": st.booleans(),
            "descending": st.booleans(),
        },
    ),
    "random_bytes": st.integers(-1, 70000),
    "sign": st.fixed_dictionaries({"key": agent, "data": st.binary(max_size=20)}),
    "verify_signature": st.fixed_dictionaries(
        {
            "key": agent,
            "signature": st.binary(min_size=64, max_size=64),
            "data": st.binary(max_size=9),
        }
    ),
    "trace": st.fixed_dictionaries(
        {"level": st.sampled_from(["info", "x", "error"]), "msg": st.text(max_size=20)}
    ),
    "emit_signal": st.binary(max_size=100),
    "call": st.fixed_dictionaries(
        {
            "target": target,
            "zome_name": st.sampled_from(["hostile", "writer", "x"]),
            "fn_name": fn_name,
            "cap_secret": secret,
            "payload": st.binary(max_size=10),
        }
    ),
    "call_remote": st.fixed_dictionaries(
        {
            "agent": agent,
            "zome_name": st.text(max_size=5),
            "fn_name": fn_name,
            "cap_secret": secret,
            "payload": st.binary(max_size=5),
            "timeout_ms": st.integers(-1, 10_000) | st.none(),
        }
    ),
    "send_remote_signal": st.fixed_dictionaries(
        {"agents": st.lists(agent, max_size=3), "payload": st.binary(max_size=10)}
    ),
    "create_cap_grant": grant,
    "update_cap_grant": st.fixed_dictionaries({"original_action": action, "grant": grant}),
    "delete_cap_grant": action,
    "create_cap_claim": st.fixed_dictionaries(
        {"tag": st.text(max_size=5), "grantor": agent, "secret": secret}
    ),
    "capability_grants": st.fixed_dictionaries({"include_revoked": st.booleans()}),
    "capability_claims": st.fixed_dictionaries(
        {}, optional={"grantor": agent | st.none(), "tag": st.text(max_size=3) | st.none()}
    ),
}
u32 = st.sampled_from(
    [0, 1, 8, 16, 65535, 65536, 131071, 131072, 2**31 - 1, 2**31, 2**32 - 1]
) | st.integers(0, 2**32 - 1)


def host_raw(index: int, mode: int, ptr: int = 0, length: int = 0, data: bytes = b"") -> bytes:
    return struct.pack("<BBII", index, mode, ptr, length) + data


def call(bed: TestBed, raw: bytes, name: str) -> None:
    cell = CELLS["hostile"]
    try:
        t.typed(lambda: bed.call(cell, "hostile", "host_raw", raw))
    except t.Expected as exc:
        # an Err envelope comes back as the zome's own Err: its kind must be typed
        assert "'kind': 'Internal'" not in str(exc), str(exc)
        count(f"guest ABI {bed.boundary}", expected=True)
        return
    count(f"guest ABI {bed.boundary}")


@budget(400)
@given(st.integers(0, len(HOST_FUNCTIONS) - 1), u32, u32)
def test_raw_pointers_and_lengths(bed: TestBed, index: int, ptr: int, length: int) -> None:
    call(bed, host_raw(index, 0, ptr, length), HOST_FUNCTIONS[index])


@budget(500)
@given(st.integers(0, len(HOST_FUNCTIONS) - 1), st.binary(max_size=300) | values.map(pack))
def test_arbitrary_input_bytes(bed: TestBed, index: int, data: bytes) -> None:
    call(bed, host_raw(index, 1, data=data), HOST_FUNCTIONS[index])


@budget(800)
@given(st.data())
def test_near_valid_inputs(bed: TestBed, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(NEAR_VALID)))
    value = data.draw(NEAR_VALID[name])
    target = value.get("target") if name == "call" else None
    if isinstance(target, dict) and "Cell" in target and data.draw(st.booleans()):
        # sometimes a real cell of this conductor
        value["target"] = {"Cell": data.draw(st.sampled_from(list(CELLS.values()))).to_wire()}
    call(bed, host_raw(HOST_FUNCTIONS.index(name), 1, data=pack(value)), name)


def test_envelope_errors_are_typed(bed: TestBed) -> None:
    """A sanity check of the oracle: a bad shape comes back as a typed Err envelope."""
    with pytest.raises(GuestError, match="'kind': 'InvalidInput'"):
        bed.call(CELLS["hostile"], "hostile", "host_raw", host_raw(4, 1, data=pack([1])))
