"""In-process call cost, side by side: zomehost vs the public wasmtime-py API vs Extism.

The work per call is the same everywhere (see zomes/bench_echo): 1 KiB of input goes into
the guest, the guest makes ONE host function call (``random_bytes(1024)``: a small request
out, 1 KiB back into guest memory), and the guest returns its 1 KiB input.

* ``inproc_call_us``: zomehost's ribosome (``Ribosome.run``, the default native boundary:
  the call in C, ribosome/nativepath.py): an instance (reused and reset after each call:
  ribosome/reset.py), limits, the host function through the real host-function table, the
  result envelope decoded. No conductor around it (no authorization, no workspace).
* ``inproc_call_no_reuse_us``: the same with instance reuse off
  (``ZOMEHOST_INSTANCE_REUSE=off``): a fresh instance per call.
* ``inproc_call_ctypes_boundary_us``: the same with ``ZOMEHOST_BOUNDARY=fast`` (ctypes).
* ``inproc_call_public_boundary_us``: the same with ``ZOMEHOST_BOUNDARY=public``.
* ``conductor_call_us``: ``Conductor.call_zome`` in-process (authorization against the live
  grants, init check, workspace, the ribosome, commit check): everything but the network.
* ``wasmtime_public_api_us``: the same bench_echo.wasm driven by a minimal harness on the
  public wasmtime-py API, with the same instance strategy (a fresh Store + instance from
  an InstancePre per call) and an equivalent ``random_bytes`` host function.
* ``wasmtime_public_api_reused_instance_us``: that harness reusing one instance.
* ``extism_us``: the Extism Python SDK (PyPI ``extism``) with an equivalent plugin
  (``EXTISM_PLUGIN_WAT`` below: reads its 1 KiB input, calls a ``random_bytes`` host
  function, reads the 1 KiB answer, outputs its input). Extism reuses its plugin instance
  between calls, as it does by default.

Rounds are interleaved (A, B, C, A, B, C, ...) so every figure sees the same machine.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import wasmtime

from zomehost.bench.harness import BenchConductor, quiet_gc, summary, wasm_path
from zomehost.chain.source_chain import Workspace
from zomehost.core.capability import Authorization
from zomehost.core.codec import pack, unpack
from zomehost.ribosome import nativepath
from zomehost.ribosome.ribosome import Ribosome

PAYLOAD = os.urandom(1024)
_U32 = 0xFFFFFFFF

# An Extism plugin doing what bench_echo's echo_1k does, on Extism's kernel ABI.
EXTISM_PLUGIN_WAT = r"""
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
  (memory (export "memory") 1)
  ;; input -> [0, n); host answer -> [32768, 32768 + n)  (n a multiple of 8, <= 32 KiB)
  (func (export "echo_1k") (result i32)
    (local $n i64) (local $i i64) (local $h i64) (local $out i64)
    (local.set $n (call $input_length))
    (local.set $i (i64.const 0))
    (block $done (loop $copy
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (i64.store (i32.wrap_i64 (local.get $i)) (call $input_load_u64 (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $copy)))
    (local.set $h (call $random_bytes (local.get $n)))
    (if (i64.ne (call $length (local.get $h)) (local.get $n)) (then (return (i32.const 1))))
    (local.set $i (i64.const 0))
    (block $done (loop $copy
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (i64.store (i32.add (i32.const 32768) (i32.wrap_i64 (local.get $i)))
                 (call $load_u64 (i64.add (local.get $h) (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $copy)))
    (call $free (local.get $h))
    (local.set $out (call $alloc (local.get $n)))
    (local.set $i (i64.const 0))
    (block $done (loop $copy
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (call $store_u64 (i64.add (local.get $out) (local.get $i))
                       (i64.load (i32.wrap_i64 (local.get $i))))
      (local.set $i (i64.add (local.get $i) (i64.const 8)))
      (br $copy)))
    (call $output_set (local.get $out) (local.get $n))
    (i32.const 0))
)
"""


# -- zomehost ---------------------------------------------------------------------------
def zomehost_calls(boundary: str) -> tuple[BenchConductor, Callable[[], Any], Callable[[], Any]]:
    """(conductor, ribosome-level call, conductor-level call) for bench_echo.echo_1k."""
    bc = BenchConductor.create(boundary=boundary)
    app = bc.install("echo", [("echo", "bench_echo")])
    conductor_call = bc.call_fn("echo", "echo", "echo_1k", PAYLOAD)
    assert conductor_call() == PAYLOAD  # also runs init and warms every cache
    c = bc.conductor
    cell = c.cell(app.cell_id("main"))
    ws = Workspace(cell.chain, lambda d: c.sign(cell.id.agent, d))
    ctx, zm = c._context(
        cell, "echo", "echo_1k", Authorization(cell.id.agent), ws, time.monotonic() + 1e6, 0
    )
    payload = pack(PAYLOAD)
    ribosome = c.ribosome

    def ribosome_call() -> Any:
        return ribosome.run(ctx, zm, "echo_1k", payload)

    assert ribosome_call() == PAYLOAD
    return bc, ribosome_call, conductor_call


def no_reuse_ribosome(bc: BenchConductor) -> Ribosome:
    """A ribosome on the same engine whose native boundary never reuses an instance."""
    ribosome = Ribosome(bc.conductor.engine, "native")
    ribosome.boundary = nativepath.Boundary(bc.conductor.engine, reuse=False)
    return ribosome


def floor_calls(bc: BenchConductor) -> dict[str, Callable[[], Any]]:
    """The parts of ``inproc_call_us``: a fresh instance alone (reuse off); a call with no
    host fn; the echo call with reuse off."""
    c = bc.conductor
    app = bc.apps["echo"]
    cell = c.cell(app.cell_id("main"))
    ws = Workspace(cell.chain, lambda d: c.sign(cell.id.agent, d))
    ctx, zm = c._context(
        cell, "echo", "noop", Authorization(cell.id.agent), ws, time.monotonic() + 1e6, 0
    )
    fresh = no_reuse_ribosome(bc)
    payload = pack(PAYLOAD)
    ribosome = c.ribosome
    echo_ctx = replace(ctx, function_name="echo_1k")

    def fresh_instance() -> Any:
        return fresh.boundary.guest_call(zm, ctx.limits, ctx.deadline, lambda n, v: None)

    def noop_call() -> Any:
        return ribosome.run(ctx, zm, "noop", payload)

    def no_reuse_call() -> Any:
        return fresh.run(echo_ctx, zm, "echo_1k", payload)

    assert noop_call() == PAYLOAD
    assert no_reuse_call() == PAYLOAD
    return {
        "inproc_call_no_reuse_us": no_reuse_call,
        "fresh_instance_us": fresh_instance,
        "noop_call_us": noop_call,
    }


# -- the same zome on the public wasmtime-py API ------------------------------------------------
class PublicApiHarness:
    """bench_echo.wasm on wasmtime-py's public API: what a straightforward host would do."""

    def __init__(self) -> None:
        cfg = wasmtime.Config()
        cfg.cranelift_opt_level = "speed"
        self.engine = wasmtime.Engine(cfg)
        self.module = wasmtime.Module(self.engine, wasm_path("bench_echo").read_bytes())
        self.linker = wasmtime.Linker(self.engine)
        ty = wasmtime.FuncType(
            [wasmtime.ValType.i32(), wasmtime.ValType.i32()], [wasmtime.ValType.i64()]
        )
        self.current: dict[str, Any] = {}

        def random_bytes(caller: wasmtime.Caller, ptr: int, length: int) -> int:
            mem: wasmtime.Memory = self.current["memory"]
            n = unpack(bytes(mem.read(caller, ptr, ptr + length)))
            out = pack({"Ok": os.urandom(n)})
            dst = int(self.current["alloc"](caller, len(out))) & _U32
            mem.write(caller, out, dst)
            return ((dst << 32) | len(out)) - (1 << 64 if dst >= 1 << 31 else 0)

        def refuse(caller: wasmtime.Caller, ptr: int, length: int) -> int:
            raise wasmtime.Trap("not available in this harness")

        for imp in self.module.imports:
            fn = random_bytes if imp.name == "random_bytes" else refuse
            self.linker.define_func(imp.module, str(imp.name), ty, fn, access_caller=True)
        self.pre = self.linker.instantiate_pre(self.module)
        self.payload = pack(PAYLOAD)
        self._reused: tuple[wasmtime.Store, dict[str, Any]] | None = None

    def _instance(self) -> tuple[wasmtime.Store, dict[str, Any]]:
        store = wasmtime.Store(self.engine)
        ex = self.pre.instantiate(store).exports(store)
        return store, {
            "memory": ex["memory"],
            "alloc": ex["__zh_alloc"],
            "free": ex["__zh_free"],
            "fn": ex["echo_1k"],
        }

    def _call(self, store: wasmtime.Store, ex: dict[str, Any]) -> bytes:
        self.current = ex
        mem: wasmtime.Memory = ex["memory"]
        data = self.payload
        ptr = ex["alloc"](store, len(data)) & _U32
        mem.write(store, data, ptr)
        packed = ex["fn"](store, ptr, len(data))
        out_ptr, out_len = (packed >> 32) & _U32, packed & _U32
        out = bytes(mem.read(store, out_ptr, out_ptr + out_len))
        ex["free"](store, out_ptr, out_len)
        return bytes(unpack(out)["Ok"])

    def fresh_instance_call(self) -> bytes:
        store, ex = self._instance()
        return self._call(store, ex)

    def reused_instance_call(self) -> bytes:
        if self._reused is None:
            self._reused = self._instance()
        return self._call(*self._reused)


# -- Extism ---------------------------------------------------------------------------------
def extism_call() -> tuple[Callable[[], Any] | None, str | None]:
    """A no-argument call into the Extism plugin, or (None, why not)."""
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

    wasm = bytes(wasmtime.wat2wasm(EXTISM_PLUGIN_WAT))
    plugin = extism.Plugin(wasm, wasi=False, functions=[random_bytes])
    out = plugin.call("echo_1k", PAYLOAD)
    if out != PAYLOAD:
        return None, "the Extism plugin did not echo its input"
    return (lambda: plugin.call("echo_1k", PAYLOAD)), None


# -- the measurement ------------------------------------------------------------------------
def measure(rounds: int = 15, per_round: int = 400) -> dict[str, Any]:
    """Per-call latency (µs) of each variant, rounds interleaved; median and p99."""
    main_bc, main_ribosome, main_conductor = zomehost_calls("native")
    ctypes_bc, ctypes_ribosome, _ = zomehost_calls("fast")
    public_bc, public_ribosome, _ = zomehost_calls("public")
    harness = PublicApiHarness()
    assert harness.fresh_instance_call() == PAYLOAD
    assert harness.reused_instance_call() == PAYLOAD
    variants: dict[str, Callable[[], Any]] = {
        "inproc_call_us": main_ribosome,
        **floor_calls(main_bc),
        "inproc_call_ctypes_boundary_us": ctypes_ribosome,
        "inproc_call_public_boundary_us": public_ribosome,
        "conductor_call_us": main_conductor,
        "wasmtime_public_api_us": harness.fresh_instance_call,
        "wasmtime_public_api_reused_instance_us": harness.reused_instance_call,
    }
    notes: dict[str, str] = {}
    ext, why = extism_call()
    if ext is not None:
        variants["extism_us"] = ext
    else:
        notes["extism_us"] = f"not measured: {why}"
    samples: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    clock = time.perf_counter
    try:
        with quiet_gc():
            for fn in variants.values():  # warm-up
                for _ in range(50):
                    fn()
            for _ in range(rounds):
                for name, fn in variants.items():
                    n = per_round // 4 if "public" in name else per_round
                    got = samples[name]
                    c0 = time.thread_time()
                    for _ in range(n):
                        t0 = clock()
                        fn()
                        got.append(clock() - t0)
                    cpu[name].append((time.thread_time() - c0) / n)
    finally:
        main_bc.close()
        ctypes_bc.close()
        public_bc.close()
    out: dict[str, Any] = {}
    for name, values in samples.items():
        s = summary([v * 1e6 for v in values])
        out[name] = {
            "value": s["median"],
            "p99": s["p99"],
            "min": s["min"],
            "n": s["n"],
            "cpu_us_per_call": statistics.median(cpu[name]) * 1e6,
            "unit": "µs",
        }
    for name, note in notes.items():
        out[name] = {"value": None, "note": note}
    return out


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure(rounds=5, per_round=200), indent=2))
