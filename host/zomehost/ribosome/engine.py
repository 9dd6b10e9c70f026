"""wasmtime's Engine for zomes: configuration, epoch ticker, install checks, module cache."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from zomehost.core.bundle import MAX_WASM_BYTES
from zomehost.core.hash import WasmHash
from zomehost.core.limits import MemoryBudgets
from zomehost.core.schedule import SCHEDULABLE_PREFIX
from zomehost.errors import WasmError
from zomehost.ribosome import memory as linear_memory
from zomehost.ribosome import resources
from zomehost.ribosome.module_cache import ModuleCache
from zomehost.ribosome.reset import GLOBAL_PREFIX, MARKER, RESET_VERSION, instrument

HOST_MODULE = "zomehost"
HOST_FUNCTIONS = (
    "agent_info",
    "dna_info",
    "zome_info",
    "call_info",
    "create",
    "get",
    "update",
    "delete",
    "query",
    "random_bytes",
    "sys_time",
    "sign",
    "verify_signature",
    "trace",
    "emit_signal",
    "call",
    "call_remote",
    "send_remote_signal",
    "generate_cap_secret",
    "create_cap_grant",
    "update_cap_grant",
    "delete_cap_grant",
    "create_cap_claim",
    "capability_grants",
    "capability_claims",
    "hash_entry",
    "hash_action",
    "hash_blake2b",
    "box_encrypt",
    "box_decrypt",
    "secretbox_encrypt",
    "secretbox_decrypt",
    "schedule",
    "create_clone_cell",
    "disable_clone_cell",
    "enable_clone_cell",
    "delete_clone_cell",
)
REQUIRED_EXPORTS = ("memory", "__zh_alloc", "__zh_free")
CALLBACKS = ("init", "post_commit", "recv_remote_signal")
EPOCH_TICK_S = 0.005
WASMTIME_VERSION = "50.0.1"
# Native stack: each guest instance may use MAX_WASM_STACK of the thread's stack, and nested
# instances (inter-zome and bridge calls, init, post_commit, local remote signals) stack up
# on one thread. MAX_NESTED_INSTANCES of them must fit in the stack of any thread that runs
# zome calls: threads created after the engine get THREAD_STACK_BYTES, the main thread has
# its RLIMIT_STACK (8 MiB by default). 20 x (256 KiB + host frames) is about 6 MiB.
MAX_WASM_STACK = 256 * 1024
MAX_NESTED_INSTANCES = 20
THREAD_STACK_BYTES = 16 * 1024 * 1024
# Proposals a zome never needs and that escape the sandbox's caps: shared memory (a blocking
# memory.atomic.wait), GC and exceptions (heap objects outside linear memory), several or
# 64-bit memories (past the per-call memory cap), stack switching (more native stacks).
_DISABLED_FEATURES = (
    "wasm_threads",
    "wasm_gc",
    "wasm_exceptions",
    "wasm_memory64",
    "wasm_multi_memory",
    "wasm_stack_switching",
    "wasm_component_model",
    "wasm_custom_page_sizes",
)


def _is_abi_func(ty: object) -> bool:
    return (
        isinstance(ty, wasmtime.FuncType)
        and [str(p) for p in ty.params] == ["i32", "i32"]
        and [str(r) for r in ty.results] == ["i64"]
    )


@dataclass(frozen=True, slots=True)
class ZomeModule:
    """A compiled, checked zome: its module and the zome functions it exports."""

    wasm_hash: WasmHash
    module: wasmtime.Module
    functions: tuple[str, ...]
    callbacks: frozenset[str]
    # When an instance may serve several calls (reset.py): the reserved exports of the
    # mutable globals the reset restores; None when every call needs a fresh instance.
    reset_globals: tuple[str, ...] | None = None
    tables: int = 0  # tables an instance of it holds (resources.py)
    # the zome functions the module marks schedulable (``__zh_schedulable_<fn>`` exports)
    schedulable: frozenset[str] = frozenset()


class WasmEngine:
    """One wasmtime Engine per conductor, with an epoch ticker and an on-disk module cache.

    The cache key includes the wasmtime version and every engine setting, because a
    serialized module loads only into an identically configured engine. Cache files are
    authenticated before they are deserialized (``module_cache.py``): ``Module.deserialize``
    trusts its input.
    """

    def __init__(
        self, cache_dir: Path | None, *, fuel: bool = False, memory: MemoryBudgets | None = None
    ) -> None:
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = fuel
        cfg.cranelift_opt_level = "speed"
        cfg.max_wasm_stack = MAX_WASM_STACK
        # A memory's base address never changes (growth fails instead of moving it): the
        # fast boundary keeps a view over guest memory across calls that may grow it.
        cfg.memory_may_move = False
        # A fresh instance per call: copying a zome's (small) data segments into fresh
        # memory costs less than mapping its copy-on-write image and taking the faults
        # (~10% of a call, docs/performance.md). Not in wasmtime-py's Config: the C API.
        from wasmtime import _ffi

        _ffi.wasmtime_config_memory_init_cow_set(cfg.ptr(), False)
        for feature in _DISABLED_FEATURES:
            setattr(cfg, feature, False)
        # Every linear memory and every grow goes through the budgets (memory.py).
        self.memory = linear_memory.MemoryBudget(memory)
        linear_memory.install(cfg.ptr())
        self.fingerprint = (
            f"wasmtime-{WASMTIME_VERSION};epochs;fuel={int(fuel)};speed;nomove;nocow;"
            f"stack={MAX_WASM_STACK};no-{'-'.join(f[5:] for f in _DISABLED_FEATURES)};"
            f"reset{RESET_VERSION}"
        )
        self.engine = wasmtime.Engine(cfg)
        if threading.stack_size() < THREAD_STACK_BYTES:  # 0: the platform default
            threading.stack_size(THREAD_STACK_BYTES)  # for the worker threads made after us
        self.fuel = fuel
        self.cache_dir = cache_dir
        self._cache = ModuleCache(cache_dir) if cache_dir is not None else None
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="epoch-ticker", daemon=True)
        self._ticker.start()
        self._loaded: dict[bytes, ZomeModule] = {}
        self._loading: dict[bytes, threading.Lock] = {}  # one per module being loaded
        self._lock = threading.Lock()  # guards the two maps

    def _tick(self) -> None:
        # Catch up on ticks missed while this thread waited for a CPU or the GIL, so a
        # deadline of N ticks stays N x EPOCH_TICK_S of wall-clock time under load.
        start, ticks = time.monotonic(), 0
        while not self._stop.wait(EPOCH_TICK_S):
            due = int((time.monotonic() - start) / EPOCH_TICK_S)
            while ticks < due:
                self.engine.increment_epoch()
                ticks += 1

    def close(self) -> None:
        self._stop.set()

    def deadline_ticks(self, seconds: float) -> int:
        return max(1, int(seconds / EPOCH_TICK_S) + 1)

    def _cache_name(self, wasm_hash: WasmHash) -> str:
        key = hashlib.blake2b(wasm_hash.raw + self.fingerprint.encode(), digest_size=20)
        return key.hexdigest()

    def check(self, wasm: bytes, zome_name: str) -> wasmtime.Module:
        """Compile and check a module at install time; errors name the problem."""
        if len(wasm) > MAX_WASM_BYTES:
            raise WasmError(
                f"zome {zome_name!r}: the module is {len(wasm)} bytes, limit {MAX_WASM_BYTES}"
            )
        # Export the mutable globals when an instance's reset can be complete (reset.py).
        original, wasm = wasm, instrument(wasm, zome_name).wasm
        try:
            # Validate, then bound what it declares, before paying for compilation.
            wasmtime.Module.validate(self.engine, wasm)
            resources.check(original, zome_name)  # what one instance may hold
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            why = lines[-1] if lines else "invalid"  # the cause, e.g. "threads must be enabled…"
            raise WasmError(f"zome {zome_name!r}: not a valid wasm module: {why}") from None
        for imp in module.imports:
            name = f"{imp.module}.{imp.name}"
            if imp.module != HOST_MODULE or imp.name not in HOST_FUNCTIONS:
                raise WasmError(
                    f"zome {zome_name!r} imports {name}, which zomehost does not provide "
                    f"(only '{HOST_MODULE}' host functions are allowed)"
                )
            if not _is_abi_func(imp.type):
                raise WasmError(f"zome {zome_name!r}: import {name} has the wrong signature")
        exports = {e.name: e.type for e in module.exports}
        missing = [e for e in REQUIRED_EXPORTS if e not in exports]
        if missing:
            raise WasmError(f"zome {zome_name!r} does not export {', '.join(missing)}")
        if not isinstance(exports["memory"], wasmtime.MemoryType):
            raise WasmError(f"zome {zome_name!r}: export 'memory' is not a memory")
        return module

    def load(
        self,
        wasm_hash: WasmHash,
        wasm: Callable[[], bytes],
        zome_name: str,
        on_compile: Callable[[str], None] | None = None,
    ) -> ZomeModule:
        """The compiled module for ``wasm_hash``: memory, then disk cache, then compile.

        Each module has its own lock: a long compile holds up only those who want the same
        module, never other installs or calls. The resource bounds are checked here too,
        cache or not: a module installed before a bound existed must not start (and take
        room in a store other zomes share) either.
        """
        with self._lock:
            hit = self._loaded.get(wasm_hash.raw)
            if hit is not None:
                return hit
            lock = self._loading.setdefault(wasm_hash.raw, threading.Lock())
        with lock:
            hit = self._loaded.get(wasm_hash.raw)
            if hit is not None:
                return hit
            try:
                raw = wasm()
                module = self._compiled(wasm_hash, raw, zome_name, on_compile)
                declared = resources.check(raw, zome_name)  # a cached module too
                zm = _describe(wasm_hash, module, len(declared.tables))
            except BaseException:
                with self._lock:
                    self._loading.pop(wasm_hash.raw, None)
                raise
            with self._lock:  # published and unlocked at once: nobody compiles it twice
                self._loaded[wasm_hash.raw] = zm
                self._loading.pop(wasm_hash.raw, None)
            return zm

    def _compiled(
        self,
        wasm_hash: WasmHash,
        raw: bytes,
        zome_name: str,
        on_compile: Callable[[str], None] | None,
    ) -> wasmtime.Module:
        """The module from the authenticated disk cache, or compiled and cached."""
        name = self._cache_name(wasm_hash)
        stored = self._cache.read(name) if self._cache is not None else None
        if stored is not None:  # authenticated: written by this home's engine
            try:
                return wasmtime.Module.deserialize(self.engine, stored)
            except wasmtime.WasmtimeError:
                pass  # from another wasmtime build: recompile and overwrite
        if on_compile is not None:
            on_compile(zome_name)
        module = self.check(raw, zome_name)
        if self._cache is not None:
            self._cache.write(name, bytes(module.serialize()))
        return module


def _describe(wasm_hash: WasmHash, module: wasmtime.Module, tables: int) -> ZomeModule:
    funcs: list[str] = []
    callbacks: set[str] = set()
    names = [e.name for e in module.exports]
    reset_globals = None
    if MARKER in names:
        reset_globals = tuple(n for n in names if n.startswith(GLOBAL_PREFIX))
    for e in module.exports:
        if not _is_abi_func(e.type) or e.name.startswith("__"):
            continue
        if e.name in CALLBACKS:
            callbacks.add(e.name)
        else:
            funcs.append(e.name)
    marked = {n[len(SCHEDULABLE_PREFIX) :] for n in names if n.startswith(SCHEDULABLE_PREFIX)}
    return ZomeModule(
        wasm_hash,
        module,
        tuple(sorted(funcs)),
        frozenset(callbacks),
        reset_globals,
        tables,
        frozenset(marked.intersection(funcs)),
    )
