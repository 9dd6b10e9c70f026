"""The wasm boundary against its floor and Extism, as the payload grows (section ``payload``).

Three ways to make the same call, side by side in interleaved rounds in one process, at
each payload size from 1 KiB to 1 MiB:

* **zomehost**: ``Ribosome.run`` of bench_echo on the conductor's boundary (``native`` by
  default: the call in C, a fresh state per call by resetting the written pages), with
  limits, deadline, the host-function table and the envelope — as ``inproc_call_us``;
* **floor** (:mod:`zomehost.bench.floor`): the same module and work through wasmtime's C API
  with ctypes, one instance reused with no reset, no limits;
* **Extism**: the Extism Python SDK with an equivalent plugin (:data:`EXTISM_WAT`);
* **ctypes** (``ctypes_us`` in the curve): zomehost on its ctypes boundary
  (``ZOMEHOST_BOUNDARY=fast``, the default before the native one), for before and after.

Up to 64 KiB the call is ``echo_1k`` (n bytes in, the host function ``random_bytes(n)``, n
bytes out: the payload crosses three times); past 64 KiB (``random_bytes``'s own limit) it
is ``noop`` (n bytes in and out, no host function). Each figure is CPU time of the calling
thread per call (the machine is shared: wall time would count other processes). The ratios
are taken per round (so both
sides of a ratio saw the same machine) and their median is reported:
``inproc_1k_over_floor``, ``inproc_64k_over_floor``, ``inproc_1m_over_floor``,
``extism_over_inproc`` (Extism's time over zomehost's at 1 KiB).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import wasmtime

from zomehost.bench.floor import Floor
from zomehost.bench.harness import BenchConductor, quiet_gc, wasm_path
from zomehost.chain.source_chain import Workspace
from zomehost.core.capability import Authorization
from zomehost.core.codec import pack
from zomehost.ribosome.ribosome import Ribosome

KIB = 1024
SIZES = (1 * KIB, 4 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 256 * KIB, 1024 * KIB)
HOST_FN_MAX = 64 * KIB  # random_bytes' limit: larger payloads use noop
RATIOS = {"inproc_1k_over_floor": 1 * KIB, "inproc_64k_over_floor": 64 * KIB}
RATIOS["inproc_1m_over_floor"] = 1024 * KIB

# Extism's kernel ABI, the work of bench_echo: input -> [0, n), the host's answer -> from
# 2 MiB (n a multiple of 8, at most 1 MiB for noop and 64 KiB through the host function).
EXTISM_WAT = r"""
(module
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "load_u64" (func $load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "free" (func $free (param i64)))
  (import "extism:host/user" "random_bytes" (func $random_bytes (param i64) (result i64)))
  (memory (export "memory") 48)
  (func $load_input (result i64)
    (local $n i64) (local $i i64)
    (local.set $n (call $input_length))
    (block $done (loop $copy
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (i64.store (i32.wrap_i64 (local.get $i)) (call $input_load_u64 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $copy)))
    (local.get $n))
  (func $output (param $n i64)
    (local $i i64) (local $out i64)
    (local.set $out (call $alloc (local.get $n)))
    (block $done (loop $copy
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u64 (i64.add (local.get $out) (local.get $i))
                       (i64.load (i32.wrap_i64 (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $copy)))
    (call $output_set (local.get $out) (local.get $n)))
  (func (export "echo_1k") (result i32)
    (local $n i64) (local $i i64) (local $h i64)
    (local.set $n (call $load_input))
    (local.set $h (call $random_bytes (local.get $n)))
    (if (i64.ne (call $length (local.get $h)) (local.get $n)) (then (return (i32.const 1))))
    (block $done (loop $copy
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (i64.store (i32.add (i32.const 2097152) (i32.wrap_i64 (local.get $i)))
                 (call $load_u64 (i64.add (local.get $h) (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $copy)))
    (call $free (local.get $h))
    (call $output (local.get $n))
    (i32.const 0))
  (func (export "noop") (result i32)
    (call $output (call $load_input))
    (i32.const 0))
)
"""


def export_for(size: int) -> str:
    return "echo_1k" if size <= HOST_FN_MAX else "noop"


def zomehost_calls(
    bc: BenchConductor, boundary: str | None = None
) -> Callable[[int, bytes], Callable[[], Any]]:
    """A maker of ``Ribosome.run`` calls of bench_echo at a size (installs the app), on the
    conductor's boundary or on a ribosome with ``boundary``."""
    app = bc.install("echo", [("echo", "bench_echo")])
    bc.call_fn("echo", "echo", "noop", b"")()  # runs init, warms every cache
    c = bc.conductor
    cell = c.cell(app.cell_id("main"))
    ws = Workspace(cell.chain, lambda d: c.sign(cell.id.agent, d))
    ctx, zm = c._context(
        cell, "echo", "noop", Authorization(cell.id.agent), ws, time.monotonic() + 1e6, 0
    )

    ribosome = c.ribosome if boundary is None else Ribosome(c.engine, boundary)

    def make(size: int, data: bytes) -> Callable[[], Any]:
        export = export_for(size)
        call_ctx = replace(ctx, function_name=export)
        payload = pack(data)
        return lambda: ribosome.run(call_ctx, zm, export, payload)

    return make


def floor_call(floor: Floor, export: str, payload: bytes) -> Callable[[], Any]:
    return lambda: floor.call(export, payload)


def extism_calls() -> tuple[Callable[[int, bytes], Callable[[], Any]] | None, str | None]:
    """A maker of Extism plugin calls, or (None, why not)."""
    try:
        import extism
    except ImportError as exc:
        return None, f"the extism package is not installed ({exc}); `pip install -e '.[bench]'`"

    @extism.host_fn(  # type: ignore[untyped-decorator]
        name="random_bytes",
        namespace="extism:host/user",
        signature=([extism.ValType.I64], [extism.ValType.I64]),
    )
    def random_bytes(plugin: Any, params: Any, results: Any, *user_data: Any) -> None:
        plugin.return_bytes(results[0], os.urandom(params[0].value))

    plugin = extism.Plugin(
        bytes(wasmtime.wat2wasm(EXTISM_WAT)), wasi=False, functions=[random_bytes]
    )

    def make(size: int, data: bytes) -> Callable[[], Any]:
        export = export_for(size)
        return lambda: plugin.call(export, data)

    return make, None


def measure(rounds: int = 9, budget_s: float = 0.15) -> dict[str, Any]:
    """Per-call CPU time (of the calling thread, which runs the guest too) of each way at
    each size, rounds interleaved (see the module doc)."""
    bc = BenchConductor.create()
    try:
        make_zh = zomehost_calls(bc)
        ctypes_bc = BenchConductor.create()
        make_ctypes = zomehost_calls(ctypes_bc, "fast")
        engine = bc.conductor.engine
        floor = Floor(engine, wasmtime.Module(engine.engine, wasm_path("bench_echo").read_bytes()))
        make_ext, why = extism_calls()
        ways: dict[tuple[int, str], Callable[[], Any]] = {}
        for size in SIZES:
            data = os.urandom(size)
            payload = pack(data)
            ways[(size, "zomehost")] = make_zh(size, data)
            ways[(size, "ctypes")] = make_ctypes(size, data)
            ways[(size, "floor")] = floor_call(floor, export_for(size), payload)
            if make_ext is not None:
                ways[(size, "extism")] = make_ext(size, data)
            for (s, way), fn in ways.items():
                if s == size:
                    assert fn() == data, f"{way} did not echo {size} bytes"
        reps = {}
        for key, fn in ways.items():  # calls per round: about budget_s each
            t0 = time.perf_counter()
            for _ in range(5):
                fn()
            per = (time.perf_counter() - t0) / 5
            reps[key] = max(3, min(2000, int(budget_s / per)))
        samples: dict[tuple[int, str], list[float]] = {k: [] for k in ways}
        with quiet_gc():
            for _ in range(rounds):
                for key, fn in ways.items():
                    n = reps[key]
                    t0 = time.thread_time()
                    for _ in range(n):
                        fn()
                    samples[key].append((time.thread_time() - t0) / n * 1e6)
    finally:
        bc.close()
        ctypes_bc.close()
    boundary = bc.conductor.ribosome.boundary.kind
    curve: dict[str, Any] = {}
    for size in SIZES:
        row: dict[str, Any] = {"export": export_for(size)}
        for way in ("zomehost", "ctypes", "floor", "extism"):
            if (size, way) in samples:
                row[f"{way}_us"] = statistics.median(samples[(size, way)])
        row["over_floor"] = _ratio(samples, (size, "zomehost"), (size, "floor"))
        curve[str(size)] = row
    out: dict[str, Any] = {
        "payload_curve": {"value": None, "boundary": boundary, "sizes": curve, "unit": "µs"}
    }
    for name, size in RATIOS.items():
        ratio = _ratio(samples, (size, "zomehost"), (size, "floor"))
        out[name] = {
            "median": ratio,
            "value": ratio,
            "unit": "x",
            "zomehost_us": curve[str(size)]["zomehost_us"],
            "floor_us": curve[str(size)]["floor_us"],
            "extism_us": curve[str(size)].get("extism_us"),
            "boundary": boundary,
        }
    if make_ext is not None:
        ratio = _ratio(samples, (KIB, "extism"), (KIB, "zomehost"))
        out["extism_over_inproc"] = {
            "median": ratio,
            "value": ratio,
            "unit": "x",
            "extism_us": curve[str(KIB)]["extism_us"],
            "zomehost_us": curve[str(KIB)]["zomehost_us"],
            "floor_us": curve[str(KIB)]["floor_us"],
        }
    else:
        out["extism_over_inproc"] = {"median": None, "value": None, "note": f"not measured: {why}"}
    return out


def _ratio(
    samples: dict[tuple[int, str], list[float]], a: tuple[int, str], b: tuple[int, str]
) -> float:
    """Median over rounds of a's time over b's (each round's pair ran back to back)."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure(rounds=3), indent=2))
