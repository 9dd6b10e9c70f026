"""The native boundary (nativepath.py, the call in C), the fast boundary (fastpath.py,
ctypes) and the public-API boundary (boundary.py) agree.

Every case runs through all three, on the same conductor and the same chain state (the
conductor's ribosome is swapped between them), and compares what comes out: the value,
or the typed error's class and message. Three corpora:

* the Rust probe zome: echo, chain writes and reads, a bad pointer, a spin, a panic;
* the hostile WAT zome of the sandbox tests: bad outputs, bad host pointers, hostile
  allocators, traps, stack overflow, memory and table bombs, re-entrance, a write then a
  breach (nothing may commit);
* a small WAT module aimed at the fast path's own shortcuts (a cached memory size that
  goes stale when the guest grows its memory; results in freshly grown pages), driven
  directly through each boundary's ``guest_call``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import msgpack
import pytest
import wasmtime

from zomehost.core.codec import MAX_NESTING, pack, unpack
from zomehost.core.hash import CellId, WasmHash
from zomehost.core.limits import Limits
from zomehost.errors import DeserializeError, Timeout, Trap, ZomehostError
from zomehost.fuzz.testbed import TestBed, wat
from zomehost.ribosome import fastpath, nativepath
from zomehost.ribosome.boundary import OK_PREFIX, Boundary, ok_bytes_size
from zomehost.ribosome.engine import WasmEngine
from zomehost.ribosome.ribosome import Ribosome, select_boundary

from .wat import BUMP_ALLOCATOR

pytestmark = pytest.mark.skipif(
    fastpath.unavailable() is not None, reason=f"fast boundary: {fastpath.unavailable()}"
)

KINDS = ("native", "fast", "public")
Outcome = tuple[str, Any]


def outcome(fn: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", fn())
    except ZomehostError as exc:
        return (type(exc).__name__, exc.message)


def test_the_native_boundary_is_built_and_loads() -> None:
    """The extension builds during set-up (scripts/bootstrap, `just native`): a machine
    where it did not would silently run the parity cases on two paths only."""
    assert nativepath.unavailable() is None


def same(results: dict[str, Outcome]) -> Outcome:
    """Assert every boundary gave the same outcome; return it."""
    first = results[KINDS[0]]
    for kind, got in results.items():
        assert got == first, f"{kind} boundary gave {got!r:.400}, {KINDS[0]} gave {first!r:.400}"
    return first


class Both:
    """One conductor, a ribosome per boundary: run a call through each, on the same state."""

    def __init__(self, conductor: Any) -> None:
        self.conductor = conductor
        self.ribosomes = {k: Ribosome(conductor.engine, k) for k in KINDS}
        assert {k: r.boundary.kind for k, r in self.ribosomes.items()} == {k: k for k in KINDS}

    def run(self, kind: str, fn: Callable[[], Any]) -> Outcome:
        self.conductor.ribosome = self.ribosomes[kind]
        return outcome(fn)

    def same(self, fn: Callable[[], Any]) -> Outcome:
        """Run through every boundary; assert identical outcomes; return it."""
        return same({k: self.run(k, fn) for k in KINDS})


# -- the probe (Rust SDK) -----------------------------------------------------------------
@pytest.fixture
def probe(node: Any, probe_bundle: bytes) -> Iterator[tuple[Both, Any]]:
    app = node.install(probe_bundle, "parity")
    app.call("a", "echo", "warm-up")
    yield Both(node.conductor), app


def test_probe_reads_are_identical(probe: tuple[Both, Any]) -> None:
    both, app = probe
    for payload in ("", "hello", "ünïcødé ✓", "x" * 65536, "y" * (1 << 20)):
        assert both.same(partial(app.call, "a", "echo", payload)) == ("ok", payload)
    for fn in ("whoami", "dna", "zome", "caller"):
        kind, _ = both.same(partial(app.call, "a", fn))
        assert kind == "ok"
    both.same(lambda: app.call("a", "query_chain", {}))
    both.same(lambda: app.call("a", "query_chain", {"include_entries": True, "descending": True}))


def test_probe_writes_commit_the_same_way(probe: tuple[Both, Any]) -> None:
    both, app = probe
    seqs = []
    for kind in KINDS:
        got = both.run(kind, lambda: app.call("a", "create_entry", {"value": {"n": 1}}))
        assert got[0] == "ok" and isinstance(got[1], bytes) and len(got[1]) == 39
        seqs.append(app.head_seq())
    assert seqs == list(range(seqs[0], seqs[0] + len(KINDS)))
    got = both.same(lambda: app.call("a", "get_record", app.records()[-1].action_hash.raw))
    assert got[0] == "ok" and got[1] is not None
    both.same(lambda: app.call("a", "query_chain", {"include_entries": True}))
    for kind in KINDS:  # random bytes differ; their shape does not
        got = both.run(kind, lambda: app.call("a", "random", 1024))
        assert got[0] == "ok" and len(got[1]) == 1024


def test_probe_failures_are_the_same_typed_errors(probe: tuple[Both, Any]) -> None:
    both, app = probe
    before = app.head_seq()
    kind, msg = both.same(lambda: app.call("a", "bad_pointer"))
    assert kind == "InvalidGuestPointer", msg
    kind, msg = both.same(lambda: app.call("a", "create_then_panic", {"v": 1}))
    assert kind == "Trap", msg
    kind, msg = both.same(lambda: app.call("a", "create_then_fail", {"v": 1}))
    assert kind == "GuestError" and "deliberate failure" in msg
    kind, msg = both.same(lambda: app.call("a", "spin", timeout_ms=200))
    assert kind == "Timeout", msg
    kind, _ = both.same(lambda: app.call("a", "no_such_function"))
    assert kind == "ZomeFunctionNotFound"
    kind, msg = both.same(lambda: app.call("a", "random", "not a number"))
    assert kind == "GuestError", msg
    assert app.head_seq() == before  # nothing committed by any failure, on either path


# -- the hostile WAT zome -------------------------------------------------------------------
HOSTILE_CASES: list[tuple[str, Any]] = [
    ("ok", None),
    ("huge_output", None),
    ("oob_output", None),
    ("big_output", None),
    ("garbage_output", None),
    ("err_output", None),
    ("recurse", None),
    ("memory_bomb", None),
    ("memory_bomb_doubling", None),
    ("table_bomb", None),
    ("reenter_self", None),
    *[("alloc_mode", m) for m in (1, 2, 3, 4, 6, 7)],
    *[("write_then", m) for m in (0, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13)],
]


def _host_raw(index: int, mode: int, ptr: int, length: int, data: bytes = b"") -> bytes:
    return bytes([index, mode]) + ptr.to_bytes(4, "little") + length.to_bytes(4, "little") + data


HOST_RAW_CASES = [
    _host_raw(4, 0, 0xFFFFFFF0, 1000),  # create: input past the end of memory
    _host_raw(9, 0, 0, 0x7FFFFFFF),  # random_bytes: absurd length
    _host_raw(9, 1, 0, 0, b"\xc1"),  # random_bytes: never-valid msgpack
    _host_raw(9, 1, 0, 0, pack(70000)),  # random_bytes: past its own limit (an Err)
    _host_raw(10, 1, 0, 0, pack(None)),  # sys_time: fine
    _host_raw(4, 1, 0, 0, pack({"entry_type": 5})),  # create: bad input shape (an Err)
]


@pytest.fixture(scope="module")
def hostile_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBed, CellId]]:
    bed = TestBed(Path(tmp_path_factory.mktemp("parity")) / "home", {"timeout_ms": 2000})
    cell = bed.install({"hostile": wat("hostile")}, app_id="hostile")
    yield bed, cell
    bed.close()


def _strip_times(o: Outcome) -> Outcome:
    kind, value = o
    if kind == "ok" and isinstance(value, int):
        return kind, "<int>"  # sys_time: the clock moved between the two calls
    return o


@pytest.mark.parametrize(("fn", "arg"), HOSTILE_CASES, ids=[f"{f}-{a}" for f, a in HOSTILE_CASES])
def test_hostile_zome_outcomes_match(
    hostile_bed: tuple[TestBed, CellId], fn: str, arg: Any
) -> None:
    bed, cell = hostile_bed
    both = Both(bed.conductor)
    before = bed.chain_len(cell)
    results = {}
    for kind in KINDS:
        results[kind] = both.run(kind, lambda: bed.call(cell, "hostile", fn, arg))
        if fn == "write_then" and arg != 8:
            assert bed.chain_len(cell) == before, f"{kind}: a breach committed its write"
    same(results)


@pytest.mark.parametrize("raw", HOST_RAW_CASES, ids=lambda r: r[:2].hex())
def test_hostile_host_calls_match(hostile_bed: tuple[TestBed, CellId], raw: bytes) -> None:
    bed, cell = hostile_bed
    both = Both(bed.conductor)
    results = {
        k: _strip_times(both.run(k, lambda: bed.call(cell, "hostile", "host_raw", raw)))
        for k in KINDS
    }
    same(results)


def test_hostile_timeouts_match(hostile_bed: tuple[TestBed, CellId]) -> None:
    """Both stop a runaway guest with a Timeout. The message names where the interrupt
    landed (the guest's loop, or its allocator under a host function): a race, not a
    difference between the boundaries, so only the class is compared."""
    bed, cell = hostile_bed
    both = Both(bed.conductor)
    for fn in ("spin", "flood_sys_time"):
        for kind in KINDS:
            got = both.run(kind, partial(bed.call, cell, "hostile", fn, timeout_ms=150))
            assert got[0] == "Timeout" and "deadline" in got[1], (kind, got)


# -- the fast path's own shortcuts, boundary level ------------------------------------------
EDGE_WAT = (
    r"""
(module
  (import "zomehost" "random_bytes" (func $host (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
"""
    + BUMP_ALLOCATOR.lstrip("\n")
    + r"""  ;; the input, returned as the output
  (func (export "echo") (param $p i32) (param $n i32) (result i64)
    (call $pack (local.get $p) (local.get $n)))
  ;; the host's answer to the input, returned as the output
  (func (export "via_host") (param $p i32) (param $n i32) (result i64)
    (call $host (local.get $p) (local.get $n)))
  ;; grow by 3 pages first, so the host's input is read after the memory grew
  (func (export "grow_then_host") (param $p i32) (param $n i32) (result i64)
    (drop (memory.grow (i32.const 3)))
    (call $host (local.get $p) (local.get $n)))
  ;; a result in pages that did not exist when the call began: 64 bytes, written here
  (func (export "result_in_new_pages") (param $p i32) (param $n i32) (result i64)
    (local $at i32)
    (local.set $at (i32.shl (memory.grow (i32.const 2)) (i32.const 16)))
    (memory.fill (local.get $at) (i32.const 0x5a) (i32.const 64))
    (call $pack (local.get $at) (i32.const 64)))
  ;; one byte past the end of memory, after growing it
  (func (export "result_just_past_end") (param $p i32) (param $n i32) (result i64)
    (drop (memory.grow (i32.const 1)))
    (call $pack (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 63)) (i32.const 64)))
  (func (export "host_bad_len") (param $p i32) (param $n i32) (result i64)
    (call $host (i32.const 0) (i32.shl (memory.size) (i32.const 16))))
  (func (export "trap") (param i32 i32) (result i64) unreachable)
  ;; the input echoed, or a trap for an empty input: a trap on an instance that is idle
  ;; with this export looked up (the native boundary's one-C-call path)
  (func (export "echo_or_trap") (param $p i32) (param $n i32) (result i64)
    (if (i32.eqz (local.get $n)) (then unreachable))
    (call $pack (local.get $p) (local.get $n)))
)
"""
)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WasmEngine, Any]]:
    engine = WasmEngine(tmp_path_factory.mktemp("edge-cache"))
    wasm = bytes(wasmtime.wat2wasm(EDGE_WAT))
    zm = engine.load(WasmHash.of_content(wasm), lambda: wasm, "edge")
    yield engine, zm
    engine.close()


def _dispatch(name: str, value: Any) -> Any:
    if isinstance(value, bytes):
        return value[::-1]  # any answer that depends on the input
    if isinstance(value, int) and value < 0:
        raise ValueError("a Python error inside a host function")
    if value == "interrupt":
        raise KeyboardInterrupt
    return value


@pytest.mark.parametrize(
    ("export", "payload"),
    [
        ("echo", pack(b"abc" * 1000)),
        ("echo", b""),
        ("via_host", pack(b"\x01\x02" * 2000)),
        ("via_host", pack(-1)),  # the host function raises: a typed RibosomeError
        ("via_host", b"\xc1"),  # not msgpack: DeserializeError
        ("grow_then_host", pack(b"z" * 70000)),
        ("result_in_new_pages", pack(None)),
        ("result_just_past_end", pack(None)),
        ("host_bad_len", pack(None)),
        ("trap", pack(None)),
        ("no_such_export", pack(None)),
    ],
)
def test_boundary_level_results_match(
    edge: tuple[WasmEngine, Any], export: str, payload: bytes
) -> None:
    engine, zm = edge
    limits = Limits(memory_bytes=4 * 1024 * 1024)
    boundaries = {k: select_boundary(engine, k) for k in KINDS}
    results = {}
    for kind, b in boundaries.items():
        deadline = time.monotonic() + 5
        call = b.guest_call(zm, limits, deadline, _dispatch)
        results[kind] = outcome(partial(call.invoke, export, payload))
    got = same(results)
    if export == "result_in_new_pages":
        assert got == ("ok", b"\x5a" * 64)
    if export == "via_host" and payload.startswith(b"\xc5"):
        assert unpack(got[1]) == {"Ok": unpack(payload)[::-1]}


@pytest.mark.parametrize("n", [0, 1, 255, 256, 65535, 65536, 70000])
def test_a_host_functions_bytes_answer_is_the_same_envelope(
    edge: tuple[WasmEngine, Any], n: int
) -> None:
    """The native boundary writes an ``{"Ok": bytes}`` envelope itself (no msgpack): the
    guest gets exactly the bytes msgpack makes, at every ``bin`` header size."""
    engine, zm = edge
    data = bytes(range(256)) * (n // 256) + bytes(n % 256)
    results = {}
    for kind in KINDS:
        b = select_boundary(engine, kind)
        call = b.guest_call(zm, Limits(), time.monotonic() + 5, _dispatch)
        results[kind] = outcome(partial(call.invoke, "via_host", pack(data)))
    assert same(results) == ("ok", pack({"Ok": data[::-1]}))
    assert ok_bytes_size(n) == len(pack({"Ok": data}))


@pytest.mark.parametrize("over", [0, 1])
def test_a_bytes_answer_at_the_host_payload_limit(edge: tuple[WasmEngine, Any], over: int) -> None:
    """An answer whose envelope is exactly ``max_host_payload_bytes`` passes; one byte more
    is the same LimitExceeded everywhere."""
    engine, zm = edge
    limits = Limits(max_host_payload_bytes=ok_bytes_size(300))
    data = b"q" * (300 + over)
    results = {}
    for kind in KINDS:
        b = select_boundary(engine, kind)
        call = b.guest_call(zm, limits, time.monotonic() + 5, _dispatch)
        results[kind] = outcome(partial(call.invoke, "via_host", pack(data)))
    got = same(results)
    assert got == (("ok", pack({"Ok": data})) if not over else ("LimitExceeded", got[1]))


def test_an_interrupt_in_a_host_function_propagates_on_both(edge: tuple[WasmEngine, Any]) -> None:
    engine, zm = edge
    for kind in KINDS:
        b = select_boundary(engine, kind)
        call = b.guest_call(zm, Limits(), time.monotonic() + 5, _dispatch)
        with pytest.raises(KeyboardInterrupt):
            call.invoke("via_host", pack("interrupt"))
        # through run: a first call makes the instance, the next ones take it from the pool
        for payload in (pack("x"), pack("interrupt"), pack("y"), pack("interrupt"), pack("z")):
            deadline = time.monotonic() + 5
            if payload == pack("interrupt"):
                with pytest.raises(KeyboardInterrupt):
                    b.run(zm, Limits(), deadline, _dispatch, "via_host", payload, "e")
            else:
                got = b.run(zm, Limits(), deadline, _dispatch, "via_host", payload, "e")
                assert got == unpack(payload)  # the host function answers a text with it


@pytest.mark.parametrize("kind", ["native", "fast"])
def test_many_calls_and_stores_stay_consistent(edge: tuple[WasmEngine, Any], kind: str) -> None:
    """More calls than one store holds: stores rotate, every result is still right."""
    engine, zm = edge
    b = select_boundary(engine, kind)
    limits = Limits()
    for i in range(3 * fastpath.STORE_REUSE + 1):
        data = pack(bytes([i % 256]) * (i * 97))
        out = b.guest_call(zm, limits, time.monotonic() + 5, _dispatch).invoke("via_host", data)
        assert unpack(out) == {"Ok": unpack(data)[::-1]}


def test_a_stale_guest_call_is_refused(edge: tuple[WasmEngine, Any]) -> None:
    """fast: two calls on a thread share a store's scratch memory."""
    engine, zm = edge
    b = select_boundary(engine, "fast")
    limits = Limits()
    first = b.guest_call(zm, limits, time.monotonic() + 5, _dispatch)
    second = b.guest_call(zm, limits, time.monotonic() + 5, _dispatch)
    assert outcome(lambda: first.invoke("echo", pack(1)))[0] == "RibosomeError"
    assert second.invoke("echo", pack(1)) == pack(1)


@pytest.mark.parametrize("kind", ["native", "fast"])
def test_a_call_cannot_run_on_an_instance_another_call_took(
    edge: tuple[WasmEngine, Any], kind: str
) -> None:
    """After its call, an instance is reset and idle; the next call takes it. The first
    call's object must not run on it again (it would run inside the second's state)."""
    engine, zm = edge
    b = select_boundary(engine, kind)
    limits = Limits()
    first = b.guest_call(zm, limits, time.monotonic() + 5, _dispatch)
    assert first.invoke("echo", pack(1)) == pack(1)
    second = b.guest_call(zm, limits, time.monotonic() + 5, _dispatch)
    assert outcome(lambda: first.invoke("echo", pack(2)))[0] == "RibosomeError"
    assert second.invoke("echo", pack(3)) == pack(3)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# (what the guest returns, the outcome's kind): every boundary's ``run`` must agree
ENVELOPES = [
    (pack({"Ok": [1, "x", b"y"]}), "ok"),
    (b"\x81\xd9\x02Ok" + pack(5), "ok"),  # the key "Ok" as a str8: the general decode
    (pack({"Ok": None}), "ok"),
    (pack({"Ok": _nested(MAX_NESTING)}), "ok"),  # the nesting limit is the value's
    (pack({"Ok": _nested(MAX_NESTING + 1)}), "DeserializeError"),
    (pack({"Err": "no"}), "GuestError"),
    (pack({"Err": {"kind": "x"}}), "GuestError"),
    (pack({"Ok": 1, "Err": 2}), "GuestError"),
    (pack([1]), "GuestError"),
    (b"", "DeserializeError"),
    (OK_PREFIX, "DeserializeError"),  # cut short after the key
    (OK_PREFIX + pack(1) + b"\x00", "DeserializeError"),  # one value too many
    (b"\x81\xa2Ok\xc1", "DeserializeError"),  # not msgpack after the key
]


@pytest.mark.parametrize(("result", "kind_of_outcome"), ENVELOPES)
def test_run_reads_result_envelopes_the_same_way(
    edge: tuple[WasmEngine, Any], result: bytes, kind_of_outcome: str
) -> None:
    """``Boundary.run`` gives the ``Ok`` value or the same typed error on every boundary.
    The native one reads the envelope in C; its first run makes the instance, the next
    ones take it from the thread's pool (``_boundary.Pool.run``)."""
    engine, zm = edge
    results = {}
    for kind in KINDS:
        b = select_boundary(engine, kind)
        runs = [
            outcome(
                partial(
                    b.run, zm, Limits(), time.monotonic() + 5, _dispatch, "echo", result, "e.echo"
                )
            )
            for _ in range(3)
        ]
        assert runs[0] == runs[1] == runs[2], (kind, runs)
        results[kind] = runs[0]
    got = same(results)
    assert got[0] == kind_of_outcome, got
    if got[0] == "ok":
        assert got[1] == msgpack.unpackb(result)["Ok"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_finished_run_holds_nothing_of_its_call(edge: tuple[WasmEngine, Any], kind: str) -> None:
    """The call object an idle instance keeps for the next ``run`` lets go of the last
    call's dispatch (and so of its context) when the call ends."""
    engine, zm = edge
    b = select_boundary(engine, kind)

    class Dispatch:
        def __call__(self, name: str, value: Any) -> Any:
            return _dispatch(name, value)

    for _ in range(3):  # the first makes the instance, the next go through the pool
        dispatch = Dispatch()
        gone = weakref.ref(dispatch)
        deadline = time.monotonic() + 5
        assert b.run(zm, Limits(), deadline, dispatch, "via_host", pack(b"ab"), "e") == b"ba"
        del dispatch
        assert gone() is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_past_its_deadline_is_a_timeout_and_the_next_one_runs(
    edge: tuple[WasmEngine, Any], kind: str
) -> None:
    engine, zm = edge
    b = select_boundary(engine, kind)
    ok = pack({"Ok": 1})
    assert b.run(zm, Limits(), time.monotonic() + 5, _dispatch, "echo", ok, "e.echo") == 1
    with pytest.raises(Timeout):
        b.run(zm, Limits(), time.monotonic() - 1, _dispatch, "echo", ok, "e.echo")
    assert b.run(zm, Limits(), time.monotonic() + 5, _dispatch, "echo", ok, "e.echo") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_guest_trap_on_a_pooled_instance_is_a_typed_trap(
    edge: tuple[WasmEngine, Any], kind: str
) -> None:
    """A trap of the guest's own (no host fault) on an instance taken from the thread's
    pool: the typed ``Trap`` with the memory size read from the call before its instance
    is let go (it was read after, an ``AttributeError``), and the next call runs."""
    engine, zm = edge
    b = select_boundary(engine, kind)
    ok = pack({"Ok": 1})
    for _ in range(2):  # the first makes the instance, the second runs it from the pool
        assert b.run(zm, Limits(), time.monotonic() + 5, _dispatch, "echo_or_trap", ok, "e") == 1
    for _ in range(2):
        with pytest.raises(Trap):
            b.run(zm, Limits(), time.monotonic() + 5, _dispatch, "echo_or_trap", b"", "e")
        assert b.run(zm, Limits(), time.monotonic() + 5, _dispatch, "echo_or_trap", ok, "e") == 1


def test_a_trap_after_a_host_fault_is_taken_over(
    edge: tuple[WasmEngine, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Native: when a host function faults or is interrupted, the guest gets a trap and the
    call's fault says why; the trap (or error) wasmtime hands back must still be taken over
    (freed), call after call."""
    engine, zm = edge
    b = select_boundary(engine, "native")
    taken: list[int] = []

    def spy(take: Callable[[int], Any]) -> Callable[[int], Any]:
        def taking(ptr: int) -> Any:
            taken.append(ptr)
            return take(ptr)

        return taking

    monkeypatch.setattr(b.c, "trap", spy(b.c.trap))
    monkeypatch.setattr(b.c, "error", spy(b.c.error))
    for n in range(3):  # a fresh instance, then the thread's pool
        deadline = time.monotonic() + 5
        with pytest.raises(DeserializeError):  # the body faults: the whole memory as input
            b.run(zm, Limits(), deadline, _dispatch, "host_bad_len", pack(None), "e")
        assert len(taken) == 2 * n + 1 and taken[-1]
        with pytest.raises(KeyboardInterrupt):  # the body is interrupted
            b.run(zm, Limits(), deadline, _dispatch, "via_host", pack("interrupt"), "e")
        assert len(taken) == 2 * n + 2 and taken[-1]


def test_selection_env_and_fallback(monkeypatch: pytest.MonkeyPatch, edge: Any) -> None:
    engine, _ = edge
    monkeypatch.setenv("ZOMEHOST_BOUNDARY", "public")
    assert isinstance(select_boundary(engine), Boundary)
    monkeypatch.setenv("ZOMEHOST_BOUNDARY", "fast")
    assert select_boundary(engine).kind == "fast"
    monkeypatch.setenv("ZOMEHOST_BOUNDARY", "native")
    assert select_boundary(engine).kind == "native"
    monkeypatch.setenv("ZOMEHOST_BOUNDARY", "bogus")
    with pytest.raises(ZomehostError):
        select_boundary(engine)
    monkeypatch.delenv("ZOMEHOST_BOUNDARY")
    assert select_boundary(engine).kind == "native"  # the default
    # the extension missing: the ctypes path, logged once, not fatal
    monkeypatch.setattr(nativepath, "_ext", None)
    monkeypatch.setattr(nativepath, "_unavailable", "pretend the extension is not built")
    assert select_boundary(engine).kind == "fast"
    monkeypatch.setattr(fastpath, "_c", None)
    monkeypatch.setattr(fastpath, "_unavailable", "pretend the C API is missing")
    assert select_boundary(engine).kind == "public"  # logged, not fatal


def test_conductor_config_picks_the_boundary(tmp_path: Path) -> None:
    import yaml

    from conftest import PASSPHRASE, fast_home
    from zomehost.conductor.conductor import Conductor

    for kind in KINDS:
        home = fast_home(tmp_path / kind)
        doc = yaml.safe_load(home.config_path.read_text())
        doc["boundary"] = kind
        home.config_path.write_text(yaml.safe_dump(doc))
        c = Conductor.open(home, PASSPHRASE)
        try:
            assert c.ribosome.boundary.kind == kind
        finally:
            c.close()
