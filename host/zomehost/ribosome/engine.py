"""wasmtime's Engine for zomes: configuration, epoch ticker, install checks, module cache."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from zomehost.core.hash import WasmHash
from zomehost.errors import WasmError

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
)
REQUIRED_EXPORTS = ("memory", "__zh_alloc", "__zh_free")
CALLBACKS = ("init", "post_commit", "recv_remote_signal")
EPOCH_TICK_S = 0.005
WASMTIME_VERSION = "50.0.1"


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


class WasmEngine:
    """One wasmtime Engine per conductor, with an epoch ticker and an on-disk module cache.

    The cache key includes the wasmtime version and every engine setting, because a
    serialized module loads only into an identically configured engine. Cache files are
    written only by this class (``Module.deserialize`` trusts its input).
    """

    def __init__(self, cache_dir: Path | None, *, fuel: bool = False) -> None:
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = fuel
        cfg.cranelift_opt_level = "speed"
        self.fingerprint = f"wasmtime-{WASMTIME_VERSION};epochs;fuel={int(fuel)};speed"
        self.engine = wasmtime.Engine(cfg)
        self.fuel = fuel
        self.cache_dir = cache_dir
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="epoch-ticker", daemon=True)
        self._ticker.start()
        self._loaded: dict[bytes, ZomeModule] = {}
        self._lock = threading.Lock()

    def _tick(self) -> None:
        while not self._stop.wait(EPOCH_TICK_S):
            self.engine.increment_epoch()

    def close(self) -> None:
        self._stop.set()

    def deadline_ticks(self, seconds: float) -> int:
        return max(1, int(seconds / EPOCH_TICK_S) + 1)

    def _cache_path(self, wasm_hash: WasmHash) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.blake2b(wasm_hash.raw + self.fingerprint.encode(), digest_size=20)
        return self.cache_dir / f"{key.hexdigest()}.cwasm"

    def check(self, wasm: bytes, zome_name: str) -> wasmtime.Module:
        """Compile and check a module at install time; errors name the problem."""
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
            raise WasmError(f"zome {zome_name!r}: not a valid wasm module: {first}") from None
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
        """The compiled module for ``wasm_hash``: memory, then disk cache, then compile."""
        with self._lock:
            hit = self._loaded.get(wasm_hash.raw)
            if hit is not None:
                return hit
            path = self._cache_path(wasm_hash)
            module: wasmtime.Module | None = None
            if path is not None and path.exists():
                try:
                    module = wasmtime.Module.deserialize_file(self.engine, str(path))
                except wasmtime.WasmtimeError:
                    module = None  # stale or damaged: recompile and overwrite
            if module is None:
                if on_compile is not None:
                    on_compile(zome_name)
                module = self.check(wasm(), zome_name)
                if path is not None:
                    _write_atomic(path, bytes(module.serialize()))
            zm = _describe(wasm_hash, module)
            self._loaded[wasm_hash.raw] = zm
            return zm


def _describe(wasm_hash: WasmHash, module: wasmtime.Module) -> ZomeModule:
    funcs: list[str] = []
    callbacks: set[str] = set()
    for e in module.exports:
        if not _is_abi_func(e.type) or e.name.startswith("__"):
            continue
        if e.name in CALLBACKS:
            callbacks.add(e.name)
        else:
            funcs.append(e.name)
    return ZomeModule(wasm_hash, module, tuple(sorted(funcs)), frozenset(callbacks))


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
