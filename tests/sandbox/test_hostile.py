"""The hostile-zome suite: every attack in zomes/hostile is contained with the right typed
error, writes nothing, and the conductor keeps serving other cells. Runs on every way into
a guest: the fast boundary with instance reuse on and off, and the public (fallback)
boundary (see conftest.BOUNDARIES)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from zomehost.core import on_loop
from zomehost.core.codec import pack
from zomehost.core.hash import CellId
from zomehost.core.response import ZomeCallResponse
from zomehost.errors import (
    DeserializeError,
    GuestError,
    InvalidGuestPointer,
    LimitExceeded,
    OutOfMemory,
    Timeout,
    Trap,
    ZomehostError,
)
from zomehost.fuzz.testbed import TestBed
from zomehost.ribosome.engine import HOST_FUNCTIONS

from .conftest import LIMITS, host_raw

TIMEOUT_S = LIMITS["timeout_ms"] / 1000


def contained(
    bed: TestBed,
    cell: CellId,
    writer: CellId,
    fn: str,
    payload: object = None,
    *,
    error: type[ZomehostError],
    match: str = "",
) -> ZomehostError:
    """Call ``fn``; it must fail with exactly ``error``, write nothing, and leave the
    conductor serving another cell."""
    before = bed.chain_len(cell)
    start = time.monotonic()
    with pytest.raises(ZomehostError) as info:
        bed.call(cell, "hostile", fn, payload)
    elapsed = time.monotonic() - start
    exc = info.value
    assert type(exc) is error, f"{fn}: {type(exc).__name__}: {exc.message}"
    assert match in exc.message, exc.message
    assert elapsed < TIMEOUT_S + 1.5, f"{fn} took {elapsed:.2f}s"
    assert bed.chain_len(cell) == before, f"{fn} wrote to the chain"
    assert bed.call(writer, "writer", "ok") is None  # the conductor still serves
    return exc


BREACHES = [
    ("spin", Timeout, "ran past its deadline"),
    ("memory_bomb", OutOfMemory, "out of memory"),
    ("memory_fill_bomb", OutOfMemory, "out of memory"),
    ("memory_bomb_doubling", OutOfMemory, "out of memory"),
    ("recurse", Trap, "stack overflow in recurse <- recurse"),
    ("huge_output", LimitExceeded, "returned 4294967295 bytes"),
    ("oob_output", InvalidGuestPointer, "outside guest memory"),
    ("big_output", LimitExceeded, "returned 5242880 bytes"),
    ("garbage_output", DeserializeError, "not valid msgpack"),
    ("err_output", GuestError, "returned an error: nope"),
    ("reenter_self", LimitExceeded, "call depth limit of 16"),
    ("reenter_deep_stack", LimitExceeded, "call depth limit of 16"),
    ("flood_signals", LimitExceeded, "1000 signals"),
    ("flood_big_signals", LimitExceeded, "signal bytes"),
    ("flood_writes", LimitExceeded, "at most 200 actions"),
    ("flood_big_writes", LimitExceeded, "write bytes"),
    ("flood_sys_time", Timeout, "ran past its deadline"),
    ("flood_trace", Timeout, "ran past its deadline"),
]


@pytest.mark.parametrize(("fn", "error", "match"), BREACHES, ids=[b[0] for b in BREACHES])
def test_breach_on_the_event_loop_stops_at_once(
    bed: TestBed, hostile: CellId, writer: CellId, fn: str, error: type[ZomehostError], match: str
) -> None:
    """The same attacks as event-loop attempts (core/on_loop.py, as the app interface runs
    a fast read): each either moves to a worker (where the test above contains it) or
    fails there as it would on a worker — long before its own time limit, having written
    nothing."""
    before = bed.chain_len(hostile)
    start = time.monotonic()
    with on_loop.attempt() as attempt, pytest.raises(ZomehostError) as info:
        bed.call(hostile, "hostile", fn)
    held = time.monotonic() - start
    exc = info.value
    if attempt.moved:
        assert type(exc) is on_loop.Moved, f"{fn}: {type(exc).__name__}: {exc.message}"
    else:
        assert type(exc) is error and match in exc.message, f"{fn}: {exc.message}"
    # stopped by the attempt's budget (ms), not the call's own limit (TIMEOUT_S): the
    # bound leaves room for a loaded machine's scheduling
    assert held < TIMEOUT_S / 2, f"{fn} held the loop {held:.3f} s"
    assert bed.chain_len(hostile) == before, f"{fn} wrote to the chain"
    assert bed.call(writer, "writer", "ok") is None


@pytest.mark.parametrize(("fn", "error", "match"), BREACHES, ids=[b[0] for b in BREACHES])
def test_breach_contained(
    bed: TestBed,
    hostile: CellId,
    writer: CellId,
    fn: str,
    error: type[ZomehostError],
    match: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="zomehost.zome"):
        contained(bed, hostile, writer, fn, error=error, match=match)
    if fn == "flood_trace":  # a trace flood is cut at 1000 lines per call
        lines = [
            r for r in caplog.records if r.name == "zomehost.zome" and "flood" in r.msg % r.args
        ]
        assert len(lines) == 1000
        assert "the rest are dropped" in lines[-1].getMessage()


def test_stack_overflow_names_the_frames(bed: TestBed, hostile: CellId, writer: CellId) -> None:
    exc = contained(bed, hostile, writer, "recurse", error=Trap)
    assert exc.message.startswith("hostile.recurse: stack overflow in recurse")


# -- a write, then a breach: the write must never reach the chain -------------------------
WRITE_THEN = {
    0: (Trap, "unreachable"),
    1: (Timeout, "deadline"),
    2: (OutOfMemory, "out of memory"),
    3: (Trap, "stack overflow"),
    4: (LimitExceeded, "4294967295"),
    5: (InvalidGuestPointer, "outside guest memory"),
    6: (InvalidGuestPointer, "host function create input"),
    7: (DeserializeError, "not valid msgpack"),
    8: (GuestError, "nope"),
    9: (LimitExceeded, "1000 signals"),
    10: (LimitExceeded, "at most 200 actions"),
    11: (LimitExceeded, "call depth"),
    12: (OutOfMemory, "could not allocate"),
    13: (LimitExceeded, "5242880"),
}


@pytest.mark.parametrize("mode", sorted(WRITE_THEN))
def test_write_then_breach_writes_nothing(
    bed: TestBed, hostile: CellId, writer: CellId, mode: int
) -> None:
    error, match = WRITE_THEN[mode]
    contained(bed, hostile, writer, "write_then", mode, error=error, match=match)


def test_write_then_nothing_commits(bed: TestBed, hostile: CellId) -> None:
    """The control: with no breach, write_then's write does commit."""
    before = bed.chain_len(hostile)
    bed.call(hostile, "hostile", "write_then", 99)
    assert bed.chain_len(hostile) == before + 1


# -- a hostile allocator ------------------------------------------------------------------
ALLOC_MODES = {
    1: (InvalidGuestPointer, "(guest allocator)"),
    2: (OutOfMemory, "could not allocate"),
    3: (Trap, "guest allocator trapped: wasm `unreachable`"),
    4: (Trap, "re-entrant host calls are refused"),
    5: (Timeout, "ran past its deadline in the guest allocator"),
    6: (InvalidGuestPointer, "(guest allocator)"),
    7: (Trap, "unreachable"),
}


@pytest.mark.parametrize("mode", sorted(ALLOC_MODES))
def test_hostile_allocator(bed: TestBed, hostile: CellId, writer: CellId, mode: int) -> None:
    error, match = ALLOC_MODES[mode]
    contained(bed, hostile, writer, "alloc_mode", mode, error=error, match=match)


# -- bad pointers, lengths and bytes to every host function -------------------------------
BAD_POINTERS = [
    (0xFFFFFFF0, 1000, InvalidGuestPointer),  # past the end of the address space
    (0x7FFFFFFF, 16, InvalidGuestPointer),  # past the end of memory
    (131072 - 2, 64, InvalidGuestPointer),  # straddles the end of memory
    (0, 0xFFFFFFFF, LimitExceeded),  # a 4 GiB length
    (-1, -1, LimitExceeded),
    (0, 0, DeserializeError),  # no bytes at all
]


@pytest.mark.parametrize("name", HOST_FUNCTIONS)
def test_bad_pointers_to_every_host_function(
    bed: TestBed, hostile: CellId, writer: CellId, name: str
) -> None:
    index = HOST_FUNCTIONS.index(name)
    for ptr, length, error in BAD_POINTERS:
        exc = contained(
            bed, hostile, writer, "host_raw", host_raw(index, 0, ptr, length), error=error
        )
        assert f"host function {name}" in exc.message


@pytest.mark.parametrize("name", HOST_FUNCTIONS)
def test_bad_bytes_to_every_host_function(
    bed: TestBed, hostile: CellId, writer: CellId, name: str
) -> None:
    index = HOST_FUNCTIONS.index(name)
    for data in (b"\xc1", pack({"a": [1, 2]})[:-1], b"\xc0\xc0", b"\xdd\xff\xff\xff\xff"):
        contained(
            bed,
            hostile,
            writer,
            "host_raw",
            host_raw(index, 1, data=data),
            error=DeserializeError,
        )


WRONG_SHAPES = [
    None,
    0,
    -1,
    2**63,
    "x",
    b"x" * 100,
    [],
    [1, 2, 3],
    {},
    {"hash": 5},
    {"entry_type": "", "entry": 5},
    {"agents": "x"},
    {"target": "Nope"},
    {"key": b"\x00" * 39},
]


@pytest.mark.parametrize("name", HOST_FUNCTIONS)
def test_wrong_shapes_to_every_host_function(
    bed: TestBed, hostile: CellId, writer: CellId, name: str
) -> None:
    """Well-formed msgpack of the wrong shape: the guest gets an ``Err`` envelope with a
    typed kind (here returned as the zome's own result), never an untyped host failure."""
    index = HOST_FUNCTIONS.index(name)
    before = bed.chain_len(hostile)
    for value in WRONG_SHAPES:
        try:
            bed.call(hostile, "hostile", "host_raw", host_raw(index, 1, data=pack(value)))
        except GuestError as exc:
            assert "'kind': '" in exc.message, exc.message
            assert "Internal" not in exc.message, exc.message
        except LimitExceeded:
            assert name == "emit_signal" or name == "send_remote_signal"
    assert bed.chain_len(hostile) == before  # no shape is ever half-written


# -- isolation ----------------------------------------------------------------------------
def test_no_state_survives_between_calls(bed: TestBed, hostile: CellId) -> None:
    """A fresh instance every call (the fast path reuses stores, never instances)."""
    for _ in range(3 * 16 + 1):
        assert bed.call(hostile, "hostile", "counter") == [1, 0]
    with pytest.raises(OutOfMemory):
        bed.call(hostile, "hostile", "memory_fill_bomb")
    assert bed.call(hostile, "hostile", "counter") == [1, 0]


def test_cannot_read_another_cells_chain(bed: TestBed, hostile: CellId, writer: CellId) -> None:
    h = bed.call(writer, "writer", "create_entry", "secret")
    assert bed.call(writer, "writer", "get_record", {"hash": h}) is not None  # it is there
    got = bed.call(hostile, "hostile", "host_raw", host_raw(5, 1, data=pack({"hash": h})))
    assert got is None
    rows = bed.call(hostile, "hostile", "host_raw", host_raw(8, 1, data=pack({})))
    assert all(r["action"]["author"] == hostile.agent.raw for r in rows)


def _call_writer(bed: TestBed, hostile: CellId, writer: CellId) -> object:
    call_input = {
        "target": {"Cell": writer.to_wire()},
        "zome_name": "writer",
        "fn_name": "create_entry",
        "payload": pack("from the hostile cell"),
    }
    return bed.call(hostile, "hostile", "host_raw", host_raw(15, 1, data=pack(call_input)))


def test_cannot_call_another_cell_without_a_grant(
    bed: TestBed, hostile: CellId, writer: CellId
) -> None:
    before = bed.chain_len(writer)
    response = _call_writer(bed, hostile, writer)
    assert isinstance(response, dict) and "Unauthorized" in response
    assert bed.chain_len(writer) == before


def test_cross_cell_call_with_a_grant_is_the_control(
    bed: TestBed, hostile: CellId, writer: CellId
) -> None:
    """With a grant for exactly that function the same call goes through."""
    from zomehost.core.capability import (
        AccessKind,
        CapAccess,
        GrantedFunctions,
        ZomeCallCapGrant,
    )

    grant = ZomeCallCapGrant(
        "control",
        CapAccess(AccessKind.UNRESTRICTED),
        GrantedFunctions(frozenset({("writer", "create_entry")})),
    )
    bed.conductor.grant_capability(writer, grant)
    before = bed.chain_len(writer)
    response = _call_writer(bed, hostile, writer)
    assert isinstance(response, dict) and "Ok" in response, response
    assert bed.chain_len(writer) == before + 1


# -- callbacks that trap ------------------------------------------------------------------
def test_trap_in_init(bed: TestBed, writer: CellId) -> None:
    from zomehost.errors import InitFailed
    from zomehost.fuzz.testbed import wat

    cell = bed.install({"init_trap": wat("init_trap")})
    genesis = bed.chain_len(cell)
    for _ in range(2):  # init is retried on the next call, and fails the same way
        with pytest.raises(InitFailed, match=r"init trapped: wasm `unreachable`.* in init"):
            bed.call(cell, "init_trap", "ok")
        assert bed.chain_len(cell) == genesis
        assert bed.call(writer, "writer", "ok") is None


def test_spin_in_init(bed: TestBed, writer: CellId) -> None:
    from zomehost.errors import InitFailed
    from zomehost.fuzz.testbed import wat

    cell = bed.install({"init_spin": wat("init_spin")})
    genesis = bed.chain_len(cell)
    start = time.monotonic()
    with pytest.raises(InitFailed, match="ran past its deadline"):
        bed.call(cell, "init_spin", "ok")
    assert time.monotonic() - start < TIMEOUT_S + 1
    assert bed.chain_len(cell) == genesis
    assert bed.call(writer, "writer", "ok") is None


def test_trap_in_post_commit(
    bed: TestBed, hostile: CellId, caplog: pytest.LogCaptureFixture
) -> None:
    """post_commit runs after the commit: its trap is logged, the commit stands."""
    before = bed.chain_len(hostile)
    with caplog.at_level(logging.WARNING, logger="zomehost.conductor"):
        h = bed.call(hostile, "hostile", "create_entry")
    assert isinstance(h, bytes) and bed.chain_len(hostile) == before + 1
    assert any(
        "post_commit" in r.getMessage() and "unreachable" in r.getMessage() for r in caplog.records
    )


def test_trap_in_recv_remote_signal(
    bed: TestBed, hostile: CellId, writer: CellId, caplog: pytest.LogCaptureFixture
) -> None:
    from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant

    bed.conductor.grant_capability(
        hostile,
        ZomeCallCapGrant("signals", CapAccess(AccessKind.UNRESTRICTED), GrantedFunctions(None)),
    )
    before = bed.chain_len(hostile)
    with caplog.at_level(logging.WARNING, logger="zomehost.conductor"):
        ok = bed.conductor.deliver_remote_signal(hostile, "hostile", writer.agent, b"\xc0")
    assert ok is False
    assert bed.chain_len(hostile) == before
    assert any(
        "recv_remote_signal" in r.getMessage() and "unreachable" in r.getMessage()
        for r in caplog.records
    )
    assert bed.call(writer, "writer", "ok") is None


@pytest.mark.parametrize(
    ("zome", "error", "match"),
    [
        (
            "start_trap",
            Trap,
            "instantiate trapped: wasm `unreachable` instruction executed in start",
        ),
        ("start_spin", Timeout, "ran past its deadline in the zome's start function"),
        ("start_host_call", Trap, "host function create was called from the zome's start"),
        ("big_memory", OutOfMemory, "cannot start within its memory cap"),
    ],
)
def test_instantiation_breaches(
    bed: TestBed, writer: CellId, zome: str, error: type[ZomehostError], match: str
) -> None:
    from zomehost.fuzz.testbed import wat

    cell = bed.install({"hostile": wat(zome)})
    before = bed.chain_len(cell)
    with pytest.raises(ZomehostError) as info:
        bed.call(cell, "hostile", "ok")
    assert type(info.value) is error and match in info.value.message, info.value.message
    assert bed.chain_len(cell) <= before + 1  # at most genesis' InitZomesComplete
    assert bed.call(writer, "writer", "ok") is None


def test_start_function_calling_the_host_nested(bed: TestBed, writer: CellId) -> None:
    """A callee whose start function calls ``create`` with a pointer that is also valid in
    the caller: refused, and never served as the caller (no write, the caller's own call
    goes on and gets the refusal as a value)."""
    from zomehost.fuzz.testbed import wat

    cell = bed.install({"hostile": wat("hostile"), "start_host": wat("start_host_call")})
    bed.call(cell, "hostile", "ok")
    before = bed.chain_len(cell)
    call_input = {"target": "Local", "zome_name": "start_host", "fn_name": "ok", "payload": b""}
    response = bed.call(cell, "hostile", "host_raw", host_raw(15, 1, data=pack(call_input)))
    assert isinstance(response, dict) and "CallError" in response, response
    assert "called from the zome's start function" in response["CallError"]
    assert bed.chain_len(cell) == before
    assert bed.call(writer, "writer", "ok") is None


def test_deadline_spent_waiting_in_a_host_function_names_it(bed: TestBed, writer: CellId) -> None:
    """A host function that comes back after the deadline (here ``call_remote`` to a peer
    that never answers, its wait not cut short): the Timeout names the host function, not
    the guest allocator that happens to run next."""
    from zomehost.fuzz.testbed import wat

    cell = bed.install({"hostile": wat("hostile")})
    bed.call(cell, "hostile", "ok")

    def hung_peer(ctx: Any, *_: Any) -> ZomeCallResponse:
        time.sleep(max(0.0, ctx.deadline - time.monotonic()) + 0.05)
        return ZomeCallResponse.network_error("timed out")

    bed.conductor.remote_caller = hung_peer
    try:
        agent = bytes(writer.agent.raw)
        remote = {"agent": agent, "zome_name": "writer", "fn_name": "ok", "payload": b"\xc0"}
        exc = contained(
            bed,
            cell,
            writer,
            "host_raw",
            host_raw(16, 1, data=pack(remote)),
            error=Timeout,
            match="ran past its deadline while waiting in host function call_remote",
        )
        assert "allocator" not in exc.message
    finally:
        bed.conductor.remote_caller = None


def test_deadline_in_guest_code_says_so(bed: TestBed, hostile: CellId, writer: CellId) -> None:
    exc = contained(bed, hostile, writer, "spin", error=Timeout)
    assert exc.message.startswith("spin: the call ran past its deadline in guest code")
    assert "allocator" not in exc.message


def test_deadline_in_the_allocator_writing_the_input_says_so(bed: TestBed, writer: CellId) -> None:
    from zomehost.fuzz.testbed import wat

    cell = bed.install({"hostile": wat("alloc_spin")})
    before = bed.chain_len(cell)
    with pytest.raises(Timeout) as info:
        bed.call(cell, "hostile", "ok")
    assert info.value.message.startswith("ok: the call ran past its deadline in the guest alloc")
    assert bed.chain_len(cell) <= before + 1  # at most genesis' InitZomesComplete
    assert bed.call(writer, "writer", "ok") is None
