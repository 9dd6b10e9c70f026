"""Instance reuse (reset.py; fastpath._Instance, and nativepath with its memory tiers)
tries hard to be indistinguishable from a fresh instance per call. These tests try to
break it, on each reusing boundary (``KINDS``).

* A WAT zome that is eligible for reuse attacks the reset: it scribbles over its whole
  memory, changes non-exported mutable globals (i32, i64, f64), grows its memory, traps
  after scribbling, scribbles after a host call; after each, the next call must dump
  exactly the memory and globals a fresh instance dumps.
* Modules whose reset could not be complete (a table write, a segment drop, an instruction
  the check does not know) are refused reuse, and still start fresh every call.
* A module that exports a reserved ``__zh_reset`` name itself is refused at install.
* The probe zome (Rust SDK) gives the same outcomes, call after call, with reuse on and
  off, through its whole surface (reads, writes, failures, nested calls into itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from zomehost.core.codec import pack
from zomehost.core.hash import WasmHash
from zomehost.core.limits import Limits, MemoryBudgets
from zomehost.errors import WasmError, ZomehostError
from zomehost.ribosome import fastpath, nativepath
from zomehost.ribosome.engine import WasmEngine, ZomeModule
from zomehost.ribosome.reset import instrument
from zomehost.ribosome.ribosome import Ribosome

from .wat import BUMP_ALLOCATOR

pytestmark = pytest.mark.skipif(
    fastpath.unavailable() is not None, reason=f"fast boundary: {fastpath.unavailable()}"
)

# Memory: [0, 64) the dump header, 16..24 static data, the bump heap from 1024.
ATTACKER_WAT = (
    r"""
(module
  (import "zomehost" "random_bytes" (func $host (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (type $v (func (result i32)))
  (table $t 2 funcref)
  (elem (i32.const 0) $f0 $f1)
  (global $heap (mut i32) (i32.const 1024))
  (global $hidden (mut i64) (i64.const 7))
  (global $hidden_f (mut f64) (f64.const 1.5))
  (global $counter (mut i32) (i32.const 0))
  (data (i32.const 40) "pristine")
  (func $f0 (result i32) (i32.const 100))
  (func $f1 (result i32) (i32.const 200))
"""
    + BUMP_ALLOCATOR.lstrip("\n")
    + r"""  (func $scribble
    (memory.fill (i32.const 0) (i32.const 0xAA) (i32.shl (memory.size) (i32.const 16)))
    (global.set $heap (i32.const 9999))
    (global.set $hidden (i64.const -1))
    (global.set $hidden_f (f64.const -2.25))
    (global.set $counter (i32.const 41)))
  ;; the globals and the tables' view written into the header, then all of memory returned
  (func (export "dump") (param i32 i32) (result i64)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i64.store (i32.const 0) (global.get $hidden))
    (f64.store (i32.const 8) (global.get $hidden_f))
    (i32.store (i32.const 16) (global.get $heap))
    (i32.store (i32.const 20) (global.get $counter))
    (i32.store (i32.const 24) (memory.size))
    (i32.store (i32.const 28) (call_indirect (type $v) (i32.const 0)))
    (i32.store (i32.const 32) (call_indirect (type $v) (i32.const 1)))
    (i32.store (i32.const 36) (table.size $t))
    (call $pack (i32.const 0) (i32.shl (memory.size) (i32.const 16))))
  (func (export "scribble") (param i32 i32) (result i64)
    (call $scribble) (call $pack (i32.const 0) (i32.const 0)))
  (func (export "grow") (param i32 i32) (result i64)
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 70000) (i32.const 0x12345678))
    (call $scribble) (call $pack (i32.const 0) (i32.const 0)))
  (func (export "scribble_then_trap") (param i32 i32) (result i64)
    (call $scribble) unreachable)
  (func (export "host_then_scribble") (param $p i32) (param $n i32) (result i64)
    (drop (call $host (local.get $p) (local.get $n)))
    (call $scribble) (call $pack (i32.const 0) (i32.const 0)))
  (func (export "scribble_then_bad_output") (param i32 i32) (result i64)
    (call $scribble) (call $pack (i32.const 0xFFFFFF00) (i32.const 1000)))
)
"""
)
ATTACKS = ("scribble", "grow", "scribble_then_trap", "host_then_scribble")


def _load(engine: WasmEngine, wat: str, name: str = "t") -> ZomeModule:
    wasm = bytes(wasmtime.wat2wasm(wat))
    return engine.load(WasmHash.of_content(wasm), lambda: wasm, name)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WasmEngine]:
    e = WasmEngine(tmp_path_factory.mktemp("reuse-cache"))
    yield e
    e.close()


# the reusing boundaries: ctypes, and native
KINDS = ("fast", "native")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _boundary(engine: WasmEngine, kind: str, reuse: bool | None = None) -> fastpath.Boundary:
    if kind == "fast":
        return fastpath.Boundary(engine, reuse=reuse)
    return nativepath.Boundary(engine, reuse=reuse)


def _dispatch(name: str, value: Any) -> Any:
    return b"\x01" * 16


def _call(b: fastpath.Boundary, zm: ZomeModule, export: str, payload: bytes) -> Any:
    try:
        return (
            "ok",
            b.guest_call(zm, Limits(), time.monotonic() + 5, _dispatch).invoke(export, payload),
        )
    except ZomehostError as exc:
        return (type(exc).__name__, exc.message)


def _idle(b: fastpath.Boundary, zm: ZomeModule) -> fastpath._Instance | None:
    if isinstance(b, nativepath.Boundary):
        slot = b._local.idle.slots.get((zm.wasm_hash.raw, 0))  # the module's own memory size
        return None if slot is None else slot[1]
    store = b._stores.by_depth[0]
    return None if store is None else store.idle.get(zm.wasm_hash.raw)


def test_the_attacker_is_eligible_and_its_hidden_globals_are_exported(engine: WasmEngine) -> None:
    zm = _load(engine, ATTACKER_WAT)
    assert zm.reset_globals == ("__zh_reset_g0", "__zh_reset_g1", "__zh_reset_g2", "__zh_reset_g3")
    assert "dump" in zm.functions and not any(f.startswith("__") for f in zm.functions)


@pytest.mark.parametrize("attack", ATTACKS)
def test_after_an_attack_the_next_call_sees_a_fresh_instance(
    engine: WasmEngine, attack: str, kind: str
) -> None:
    zm = _load(engine, ATTACKER_WAT)
    fresh = _boundary(engine, kind, reuse=False)
    reused = _boundary(engine, kind, reuse=True)
    payload = pack(b"input")
    expected = _call(fresh, zm, "dump", payload)
    assert expected[0] == "ok" and expected[1][40:48] == b"pristine"
    assert expected[1][20:24] == (1).to_bytes(4, "little")  # counter: one call seen
    assert _call(reused, zm, "dump", payload) == expected
    assert _idle(reused, zm) is not None, "a clean call must leave its instance for reuse"
    for _ in range(3):
        outcome = _call(reused, zm, attack, pack(b"x" * 100))
        assert outcome == _call(fresh, zm, attack, pack(b"x" * 100))
        assert _call(reused, zm, "dump", payload) == expected
    if attack in ("grow", "scribble_then_trap"):
        assert _idle(reused, zm) is not None  # the dump's own instance, not the attacked one


@pytest.mark.parametrize("attack", ATTACKS)
def test_after_an_attack_with_a_big_input_the_next_big_call_sees_a_fresh_instance(
    engine: WasmEngine, attack: str
) -> None:
    """Calls with big inputs start with memory grown to their tier (1 MiB for 50 KB): the
    native boundary reuses such instances, and zeroes what a call wrote past the image."""
    zm = _load(engine, ATTACKER_WAT)
    fresh = _boundary(engine, "native", reuse=False)
    reused = _boundary(engine, "native", reuse=True)
    payload = pack(b"b" * 50_000)
    expected = _call(fresh, zm, "dump", payload)
    assert expected[0] == "ok" and len(expected[1]) == 1 << 20  # its tier, grown by the host
    assert expected == _call(_boundary(engine, "fast"), zm, "dump", payload)  # same on fast
    assert _call(reused, zm, "dump", payload) == expected
    assert reused._local.idle.slots.get((zm.wasm_hash.raw, 1 << 20)) is not None
    for _ in range(3):
        outcome = _call(reused, zm, attack, payload)
        assert outcome == _call(fresh, zm, attack, payload)
        assert _call(reused, zm, "dump", payload) == expected
        assert _call(reused, zm, "dump", pack(b"small")) == _call(fresh, zm, "dump", pack(b"small"))


def test_an_instance_that_grew_or_trapped_is_never_used_again(
    engine: WasmEngine, kind: str
) -> None:
    zm = _load(engine, ATTACKER_WAT)
    b = _boundary(engine, kind, reuse=True)
    assert _call(b, zm, "dump", pack(None))[0] == "ok"
    first = _idle(b, zm)
    for attack in ("grow", "scribble_then_trap", "scribble_then_bad_output"):
        before = _idle(b, zm)
        assert before is not None
        _call(b, zm, attack, pack(None))
        assert _idle(b, zm) is None, attack  # taken by the attack, not given back
        assert _call(b, zm, "dump", pack(None))[0] == "ok"
        assert _idle(b, zm) is not before
    assert _idle(b, zm) is not first


def test_a_reused_guest_call_and_a_stale_one(engine: WasmEngine) -> None:
    """Invoking one GuestCall twice works (it takes its instance back); an older call is
    refused once a newer one began on the same store."""
    zm = _load(engine, ATTACKER_WAT)
    b = fastpath.Boundary(engine, reuse=True)
    one = b.guest_call(zm, Limits(), time.monotonic() + 5, _dispatch)
    a = one.invoke("dump", pack(1))
    assert one.invoke("dump", pack(1)) == a
    stale = b.guest_call(zm, Limits(), time.monotonic() + 5, _dispatch)
    newer = b.guest_call(zm, Limits(), time.monotonic() + 5, _dispatch)
    with pytest.raises(ZomehostError, match="after the next call"):
        stale.invoke("dump", pack(1))
    assert newer.invoke("dump", pack(1)) == a


def test_reuse_respects_a_smaller_memory_cap(engine: WasmEngine, kind: str) -> None:
    """An idle instance is not handed to a call whose cap it exceeds: that call fails as a
    fresh instance would."""
    zm = _load(engine, ATTACKER_WAT)
    b = _boundary(engine, kind, reuse=True)
    assert _call(b, zm, "dump", pack(None))[0] == "ok"
    small = Limits(memory_bytes=32 * 1024)
    fresh = _boundary(engine, kind, reuse=False)
    outcomes = []
    for boundary in (b, fresh):
        try:
            boundary.guest_call(zm, small, time.monotonic() + 5, _dispatch)
            outcomes.append(("ok", None))
        except ZomehostError as exc:
            outcomes.append((type(exc).__name__, exc.message))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "OutOfMemory"
    assert _idle(b, zm) is not None  # kept for the next call that fits
    assert _call(b, zm, "dump", pack(None)) == _call(fresh, zm, "dump", pack(None))


# One per name: the data segment makes each a module of its own.
POOLED_WAT = (
    r"""
(module
  (import "zomehost" "random_bytes" (func $host (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "NAME")
"""
    + BUMP_ALLOCATOR.lstrip("\n")
    + r"""  (func (export "via_host") (param $p i32) (param $n i32) (result i64)
    (call $host (local.get $p) (local.get $n)))
)
"""
)


def _echo_back(name: str, value: Any) -> Any:
    return value


def test_a_threads_idle_instances_stay_within_its_cache(tmp_path: Path) -> None:
    """Native: a thread's idle instances (``_boundary.Pool``; kept by Python after a call
    that made its instance, by C after a call through the pool) never keep more resident
    than ``thread_cache_bytes``, least recently used out first, and ``held`` is what they
    keep. Each instance here keeps one page (its image's) after a small call."""
    engine = WasmEngine(tmp_path, memory=MemoryBudgets(thread_cache_bytes=10 * 1024))
    try:
        m0, m1, m2 = (_load(engine, POOLED_WAT.replace("NAME", n)) for n in ("m0", "m1", "m2"))
        b = nativepath.Boundary(engine)
        pool = b._local.idle

        def run(zm: ZomeModule, n: int) -> None:
            data = b"x" * n
            deadline = time.monotonic() + 5
            assert b.run(zm, Limits(), deadline, _echo_back, "via_host", pack(data), "p") == data
            assert pool.held == sum(s[3].dirty for s in pool.slots.values()) <= pool.cache

        def idle() -> list[bytes]:
            return [key[0] for key in pool.slots]

        run(m0, 10)
        run(m1, 10)
        call = pool.slots[(m0.wasm_hash.raw, 0)][2]
        run(m0, 10)  # through the pool: the same call object, m0 now the most recent
        assert pool.slots[(m0.wasm_hash.raw, 0)][2] is call
        run(m2, 10)  # a third page is over the cache: m1, the least recently used, goes
        assert idle() == [m0.wasm_hash.raw, m2.wasm_hash.raw]
        run(m2, 3000)  # through the pool, writing a second page: over again, m0 goes
        assert idle() == [m2.wasm_hash.raw]
        assert pool.held == 8 * 1024
    finally:
        engine.close()


# -- modules whose reset could not be complete ------------------------------------------------
_BASE = """
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
"""
INELIGIBLE = {
    "table.set": "(table $t 1 funcref) (func $f) (elem declare func $f)"
    '(func (export "f") (param i32 i32) (result i64) (table.set $t (i32.const 0) (ref.func $f))'
    " (i64.const 0))",
    "table.grow": "(table $t 1 funcref)"
    '(func (export "f") (param i32 i32) (result i64)'
    " (drop (table.grow $t (ref.null func) (i32.const 1))) (i64.const 0))",
    "table.fill": "(table $t 1 funcref)"
    '(func (export "f") (param i32 i32) (result i64)'
    " (table.fill $t (i32.const 0) (ref.null func) (i32.const 1)) (i64.const 0))",
    "table.copy": "(table $t 2 funcref)"
    '(func (export "f") (param i32 i32) (result i64)'
    " (table.copy (i32.const 0) (i32.const 1) (i32.const 1)) (i64.const 0))",
    "table.init": "(table $t 1 funcref) (func $g) (elem $e func $g)"
    '(func (export "f") (param i32 i32) (result i64)'
    " (table.init $e (i32.const 0) (i32.const 0) (i32.const 1)) (i64.const 0))",
    "elem.drop": "(func $g) (elem $e func $g)"
    '(func (export "f") (param i32 i32) (result i64) (elem.drop $e) (i64.const 0))',
    "data.drop": '(data $d "x")'
    '(func (export "f") (param i32 i32) (result i64) (data.drop $d) (i64.const 0))',
    "0xfd": '(func (export "f") (param i32 i32) (result i64)'
    " (drop (v128.const i32x4 0 0 0 0)) (i64.const 0))",
    "not a number": "(global $g (mut funcref) (ref.null func))"
    '(func (export "f") (param i32 i32) (result i64) (i64.const 0))',
}


@pytest.mark.parametrize("what", list(INELIGIBLE))
def test_modules_whose_reset_would_be_incomplete_are_not_reused(
    engine: WasmEngine, what: str, kind: str
) -> None:
    wat = f"(module {_BASE} {INELIGIBLE[what]})"
    wasm = bytes(wasmtime.wat2wasm(wat))
    why = instrument(wasm, "t").ineligible
    assert why is not None and what.split()[0] in why
    zm = _load(engine, wat)
    assert zm.reset_globals is None
    b = _boundary(engine, kind, reuse=True)
    _call(b, zm, "f", pack(None))
    assert _idle(b, zm) is None


def test_a_table_write_is_seen_fresh_by_the_next_call(engine: WasmEngine, kind: str) -> None:
    """The hostile case the analysis refuses: a call that rewires a table. Every call still
    sees the table as instantiated (fresh instances)."""
    wat = f"""(module {_BASE}
      (type $v (func (result i32)))
      (table $t 1 funcref)
      (func $a (result i32) (i32.const 1)) (func $b (result i32) (i32.const 2))
      (elem (i32.const 0) $a)
      (elem declare func $b)
      (func (export "f") (param i32 i32) (result i64)
        (i64.extend_i32_u (call_indirect (type $v) (i32.const 0)))
        (table.set $t (i32.const 0) (ref.func $b))))"""
    zm = _load(engine, wat)
    b = _boundary(engine, kind, reuse=True)
    # (ptr 0, len 1) from the original entry, (ptr 0, len 2) if the write had survived
    assert [_call(b, zm, "f", b"") for _ in range(3)] == [("ok", b"\x00")] * 3
    assert zm.reset_globals is None


def test_a_reserved_export_name_is_refused_at_install(engine: WasmEngine) -> None:
    wat = f'(module {_BASE} (global (export "__zh_reset_memory") i32 (i32.const 1)))'
    wasm = bytes(wasmtime.wat2wasm(wat))
    with pytest.raises(WasmError, match="reserved"):
        engine.check(wasm, "sneaky")


def test_the_switch(monkeypatch: pytest.MonkeyPatch, engine: WasmEngine, kind: str) -> None:
    monkeypatch.setenv(fastpath.REUSE_ENV, "off")
    assert _boundary(engine, kind).reuse is False
    monkeypatch.setenv(fastpath.REUSE_ENV, "on")
    assert _boundary(engine, kind).reuse is True
    monkeypatch.setenv(fastpath.REUSE_ENV, "maybe")
    with pytest.raises(ZomehostError):
        _boundary(engine, kind)


# -- the probe zome: reused and fresh instances agree ----------------------------------------------
Outcome = tuple[str, Any]


def _outcome(fn: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", fn())
    except ZomehostError as exc:
        return (type(exc).__name__, exc.message)


def test_probe_outcomes_are_the_same_with_and_without_reuse(
    node: Any, probe_bundle: bytes, kind: str
) -> None:
    conductor = node.conductor
    ribosomes = {}
    for reuse in (True, False):
        r = Ribosome(conductor.engine, "fast")
        r.boundary = _boundary(conductor.engine, kind, reuse=reuse)
        ribosomes[reuse] = r
    app = node.install(probe_bundle, "reuse")
    app.call("a", "echo", "warm-up")
    cell_id = app.cell_id("main")
    local = {"Local": None}

    def run(reuse: bool, fn: Callable[[], Any]) -> Outcome:
        conductor.ribosome = ribosomes[reuse]
        return _outcome(fn)

    cases: list[Callable[[], Any]] = [
        partial(app.call, "a", "echo", "hello"),
        partial(app.call, "a", "echo", "x" * 40000),  # past the initial heap: memory grows
        partial(app.call, "a", "echo", "short again"),
        partial(app.call, "a", "zome"),
        partial(app.call, "a", "dna"),
        partial(app.call, "a", "create_then_panic", {"v": 1}),
        partial(app.call, "a", "echo", "after a panic"),
        partial(app.call, "a", "bad_pointer"),
        partial(app.call, "a", "echo", "after a bad pointer"),
        partial(app.call, "a", "create_then_fail", {"v": 2}),
        partial(app.call, "a", "random", "not a number"),
        partial(app.call, "a", "echo", "y" * 3000),
        partial(
            app.call,
            "a",
            "call_other",
            {"target": local, "zome_name": "a", "fn_name": "echo", "payload": "nested"},
        ),
        partial(
            app.call,
            "a",
            "call_other",
            {"target": local, "zome_name": "b", "fn_name": "zome", "payload": None},
        ),
        partial(app.call, "a", "query_chain", {"include_entries": True}),
    ]
    for case in cases:
        got = {reuse: run(reuse, case) for reuse in (True, False)}
        assert got[True] == got[False], (case, got)
    for reuse in (True, False):  # writes: the same chain growth either way
        before = app.head_seq()
        got = run(reuse, lambda: app.call("a", "create_entry", {"value": {"n": 1}}))
        assert got[0] == "ok" and app.head_seq() == before + 1
    # reuse did happen: the probe's instance waits, reset, for this thread's next call
    b = ribosomes[True].boundary
    if isinstance(b, nativepath.Boundary):
        assert b._local.idle.slots, "the probe was never reused"
    else:
        store = b._stores.by_depth[0]
        assert store is not None and store.idle, "the probe was never reused"
    assert conductor.cell(cell_id) is not None
