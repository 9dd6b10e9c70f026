"""The fast wasm boundary: wasmtime's C API through ctypes, and zero-copy guest memory.

Same interface and same results as :mod:`zomehost.ribosome.boundary` (the public-API path,
kept as the fallback; ``ribosome.select_boundary`` picks one). What makes it fast:

* **Export calls** go through ``wasmtime_func_call_unchecked`` with a raw-value buffer each
  call reuses, instead of ``Func.__call__`` (which re-derives the function type and
  converts every value on every call).
* **Host imports** are ``wasmtime_linker_define_func_unchecked`` callbacks: raw ``i32``
  arguments in, a raw ``i64`` out, no ``Caller``/``Val`` objects.
* **Guest memory** is a ``memoryview`` over the memory's own bytes (no copy into a ctypes
  buffer first): reads slice it, writes assign into it. The engine sets
  ``memory_may_move = False``, so a memory's base never changes; its size only grows, so a
  cached size is a lower bound and is re-read only when an access falls past it.
* Every C function is declared here on a private handle to wasmtime-py's own library with
  plain ``c_void_p``/integer argument types: the ready-made declarations in wasmtime-py's
  private bindings type-check every argument, which doubles the cost of a short call (and
  mutating them would break wasmtime-py itself).

Instances: each thread keeps one store per nesting depth; a store holds up to
``STORE_REUSE`` instances (made from a pre-linked ``InstancePre``) and, per module, one
*idle* instance. A call takes the idle instance of its module, or makes a fresh one. When
the call ends normally, an instance of a module that reset.py accepted is **reset** to the
state it had right after instantiation (its memory image copied back, its mutable globals
restored) and becomes idle again; after a trap, a host-side fault, an interrupt or a memory
that grew, it is never used again. So no call sees anything an earlier call did, as with a
fresh instance per call (tests/ribosome/test_instance_reuse.py tries to break this).
``$ZOMEHOST_INSTANCE_REUSE=off`` (or ``Boundary(reuse=False)``) gives every call a fresh
instance. Instances in one store share nothing guest-visible (their only imports are host
functions); the epoch deadline and fuel are set afresh for every call; an instance taken by
a call is out of the idle set until it ends, and a nested call runs at another depth, in
another store, so no instance ever serves two calls at once.

Safety rules for the raw callbacks: an exception raised inside a ctypes callback is
swallowed by ctypes (the guest would see success), so each callback catches *everything*,
records the typed error on the call (``fault``) and returns a wasm trap itself.

Pinned: this module is checked against :data:`engine.WASMTIME_VERSION`; with another
wasmtime, or when a C symbol is missing, :func:`unavailable` says why and the ribosome uses
the public path.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import threading
import time
from ctypes import POINTER, c_bool, c_char_p, c_int, c_int64, c_size_t, c_ssize_t, c_uint64
from ctypes import c_void_p as _ptr
from typing import Any

import wasmtime

from zomehost.core.limits import Limits
from zomehost.errors import (
    GuestError,
    InvalidGuestPointer,
    LimitExceeded,
    OutOfMemory,
    RibosomeError,
    Timeout,
    ZomehostError,
)
from zomehost.ribosome.boundary import (
    GUEST_ALLOCATOR,
    GUEST_CODE,
    WASM_PAGE,
    HostDispatch,
    Starting,
    active_calls,
    grown_size,
    guest_abi_type,
    instantiate_error,
    memory_tier,
    run_call,
    serve_host_call,
    stray_host_call,
    trap_error,
)
from zomehost.ribosome.engine import (
    HOST_FUNCTIONS,
    HOST_MODULE,
    WASMTIME_VERSION,
    WasmEngine,
    ZomeModule,
)
from zomehost.ribosome.resources import MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES

_U32 = 0xFFFFFFFF
STORE_REUSE = 16  # fresh instances per store before the store is dropped (see module doc)
# wasmtime counts these per store: sized for STORE_REUSE instances of the largest module
# resources.py allows, and a store that could not take the next module is replaced, so no
# zome's declarations can make another zome's instantiation on the same thread fail.
STORE_TABLES = MAX_TABLES * STORE_REUSE
STORE_MEMORIES = MAX_MEMORIES * STORE_REUSE
# A store frees its instances' memories only when it is dropped. When a call ends and the
# thread's stores hold more than the engine's ``thread_cache_bytes`` (core/limits.py
# MemoryBudgets), the call's store is dropped there and then: the memory of calls that
# ended goes back to the system (and to the call tree's budget, memory.py) before the
# caller goes on, and a worker thread keeps at most that much between calls.
_EXTERN_FUNC = 0
_EXTERN_GLOBAL = 1
_EXTERN_MEMORY = 3
_PYBUF_WRITE = 0x200
# Instance reuse (reset.py, _Instance): on unless $ZOMEHOST_INSTANCE_REUSE is "off" (or
# Boundary(reuse=False)). A reset copies the whole fresh memory image back: past this size
# a fresh instance costs less than the copy, so bigger instances are never reused.
REUSE_ENV = "ZOMEHOST_INSTANCE_REUSE"
RESET_MAX_BYTES = 256 * 1024


def reuse_enabled() -> bool:
    """Whether ``$ZOMEHOST_INSTANCE_REUSE`` allows instance reuse (default: on)."""
    value = os.environ.get(REUSE_ENV, "on").strip().lower()
    if value not in ("on", "off", "1", "0", "true", "false", "yes", "no", ""):
        raise RibosomeError(f"${REUSE_ENV} must be on or off, not {value!r}")
    return value in ("on", "1", "true", "yes", "")


# The raw callback: (env, caller, args_and_results, len) -> wasm_trap_t* (0: success).
_CALLBACK = ctypes.CFUNCTYPE(c_size_t, _ptr, _ptr, POINTER(c_int64), c_size_t)


class _C:
    """wasmtime's C functions, declared on a private handle (see the module doc)."""

    def __init__(self) -> None:
        from wasmtime import _ffi

        dll = ctypes.CDLL(str(_ffi.filename), handle=_ffi.dll._handle)
        self.ffi = _ffi

        def fn(name: str, restype: Any, *argtypes: Any) -> Any:
            f = dll[name]  # a fresh function object: never touch wasmtime-py's own
            f.restype = restype
            f.argtypes = argtypes
            return f

        self.store_new = fn("wasmtime_store_new", _ptr, _ptr, _ptr, _ptr)
        self.store_context = fn("wasmtime_store_context", _ptr, _ptr)
        self.store_delete = fn("wasmtime_store_delete", None, _ptr)
        self.store_limiter = fn(
            "wasmtime_store_limiter", None, _ptr, c_int64, c_int64, c_int64, c_int64, c_int64
        )
        self.set_epoch_deadline = fn("wasmtime_context_set_epoch_deadline", None, _ptr, c_uint64)
        self.set_fuel = fn("wasmtime_context_set_fuel", _ptr, _ptr, c_uint64)
        self.instantiate = fn("wasmtime_instance_pre_instantiate", _ptr, _ptr, _ptr, _ptr, _ptr)
        self.export_get = fn(
            "wasmtime_instance_export_get", c_bool, _ptr, _ptr, c_char_p, c_size_t, _ptr
        )
        self.call = fn("wasmtime_func_call_unchecked", _ptr, _ptr, _ptr, _ptr, c_size_t, _ptr)
        self.memory_data = fn("wasmtime_memory_data", _ptr, _ptr, _ptr)
        self.memory_data_size = fn("wasmtime_memory_data_size", c_size_t, _ptr, _ptr)
        self.memory_grow = fn("wasmtime_memory_grow", _ptr, _ptr, _ptr, c_uint64, _ptr)
        self.global_get = fn("wasmtime_global_get", None, _ptr, _ptr, _ptr)
        self.global_set = fn("wasmtime_global_set", _ptr, _ptr, _ptr, _ptr)
        self.caller_context = fn("wasmtime_caller_context", _ptr, _ptr)
        self.define_unchecked = fn(
            "wasmtime_linker_define_func_unchecked",
            _ptr,
            _ptr,
            c_char_p,
            c_size_t,
            c_char_p,
            c_size_t,
            _ptr,
            _ptr,  # the callback: a _CALLBACK, or the native trampoline's address
            _ptr,
            _ptr,
        )
        self.trap_new = fn("wasmtime_trap_new", _ptr, c_char_p, c_size_t)
        view = ctypes.pythonapi.PyMemoryView_FromMemory
        view.restype = ctypes.py_object
        view.argtypes = (_ptr, c_ssize_t, c_int)
        self.memoryview = view
        self.extern_of = _ffi.wasmtime_extern_t.of.offset  # where the union starts
        self.extern_size = ctypes.sizeof(_ffi.wasmtime_extern_t)
        self.instance_size = ctypes.sizeof(_ffi.wasmtime_instance_t)
        self.val_size = ctypes.sizeof(_ffi.wasmtime_val_t)

    def trap(self, ptr: int) -> wasmtime.Trap:
        return wasmtime.Trap._from_ptr(ctypes.cast(ptr, POINTER(self.ffi.wasm_trap_t)))

    def error(self, ptr: int) -> wasmtime.WasmtimeError:
        return wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(ptr, POINTER(self.ffi.wasmtime_error_t))
        )

    def new_trap(self, message: str) -> int:
        raw = message.encode("utf-8", "replace")
        return int(self.trap_new(raw, len(raw)) or 0)


_c: _C | None = None
_unavailable: str | None = None
_probe_lock = threading.Lock()


def unavailable() -> str | None:
    """Why the fast path cannot run here, or ``None`` when it can."""
    global _c, _unavailable
    with _probe_lock:
        if _c is not None or _unavailable is not None:
            return _unavailable
        try:
            version = importlib.metadata.version("wasmtime")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        if version != WASMTIME_VERSION:
            _unavailable = f"it is verified against wasmtime {WASMTIME_VERSION}, not {version}"
        elif ctypes.sizeof(ctypes.c_void_p) != 8:
            _unavailable = "it needs a 64-bit platform"
        else:
            try:
                _c = _C()
            except (AttributeError, OSError, ImportError) as exc:
                _unavailable = f"wasmtime's C API is missing a symbol: {exc}"
        return _unavailable


def _lib() -> _C:
    if _c is None:
        reason = unavailable()
        if reason is not None:
            raise RibosomeError(f"the fast wasm boundary is unavailable: {reason}")
    assert _c is not None
    return _c


# -- host imports -------------------------------------------------------------------------
def _make_callback(name: str) -> Any:
    c = _lib()

    def host_fn(env: int | None, caller: int | None, args: Any, nargs: int) -> int:
        stack = active_calls.stack
        call = stack[-1] if stack else None
        if type(call) is not GuestCall:  # a start function: no call to serve
            return c.new_trap(stray_host_call(call, name).message)
        try:
            # The caller's context is its store's context (both are the store's
            # StoreInner in wasmtime's C API): use the one the call already has.
            out = serve_host_call(call, name, call.ctx, args[0] & _U32, args[2] & _U32)
            if out is not None:
                args[0] = out
                return 0
        except BaseException as exc:  # ctypes would swallow it: the guest must trap instead
            call.fault = RibosomeError(f"host function {name} failed: {type(exc).__name__}: {exc}")
            if not isinstance(exc, Exception):
                call.interrupt = exc  # KeyboardInterrupt...: re-raised by invoke, as in public
        fault = call.fault
        return c.new_trap(fault.message if fault is not None else f"host function {name} failed")

    return _CALLBACK(host_fn)


_callbacks: dict[str, Any] = {}  # shared by every engine; kept alive for the process


def _callback(name: str) -> Any:
    cb = _callbacks.get(name)
    if cb is None:
        cb = _callbacks.setdefault(name, _make_callback(name))
    return cb


# -- stores and instances -----------------------------------------------------------------
class _Store:
    """A raw wasmtime store: up to STORE_REUSE instances, and the idle ones to reuse.

    It also owns the scratch memory its calls use (raw-value buffers, trap out-parameters):
    calls on one store run one after another (one thread, one nesting depth), so the next
    call may overwrite what the previous one left there. A store frees its instances only
    when it is dropped: ``held`` counts the linear memory they hold.
    """

    __slots__ = (
        "aux",
        "aux_addr",
        "aux_trap",
        "aux_trap_addr",
        "c",
        "ctx",
        "held",
        "idle",
        "main",
        "main_addr",
        "main_trap",
        "main_trap_addr",
        "memory_limit",
        "owner",
        "ptr",
        "scratch",
        "tables",
        "turn",
        "uses",
    )

    def __init__(self, c: _C, engine_ptr: int, owner: _Stores) -> None:
        self.c = c
        self.owner = owner  # the thread's stores, which count what they all hold
        self.ptr: int = c.store_new(engine_ptr, None, None)
        if not self.ptr:
            raise RibosomeError("wasmtime could not create a store")
        self.ctx: int = c.store_context(self.ptr)
        self.memory_limit = -1
        self.uses = 0  # instances created in it
        self.tables = 0  # tables they hold
        self.held = 0  # bytes of linear memory its instances hold
        self.turn = 0  # bumped by each call that takes the scratch memory
        self.idle: dict[bytes, _Instance] = {}  # reset instances, by module
        # layout: main vals (2 x 16) | aux vals (2 x 16) | main trap | aux trap
        self.scratch = ctypes.create_string_buffer(80)
        base = ctypes.addressof(self.scratch)
        self.main = (c_int64 * 4).from_buffer(self.scratch, 0)
        self.aux = (c_int64 * 4).from_buffer(self.scratch, 32)
        self.main_trap = _ptr.from_buffer(self.scratch, 64)
        self.aux_trap = _ptr.from_buffer(self.scratch, 72)
        self.main_addr, self.aux_addr = base, base + 32
        self.main_trap_addr, self.aux_trap_addr = base + 64, base + 72

    def limit_memory(self, memory_bytes: int) -> None:
        if memory_bytes != self.memory_limit:
            self.c.store_limiter(
                self.ptr,
                memory_bytes,
                MAX_TABLE_ELEMENTS,
                STORE_REUSE,
                STORE_TABLES,
                STORE_MEMORIES,
            )
            self.memory_limit = memory_bytes

    def has_room(self, prepared: _Prepared) -> bool:
        """Whether one more instance of ``prepared`` stays within the store's counts."""
        return self.uses < STORE_REUSE and self.tables + prepared.tables <= STORE_TABLES

    def __del__(self) -> None:
        ptr, self.ptr = self.ptr, 0
        if ptr:
            for inst in self.idle.values():
                inst.view = None  # its memory goes with the store
            self.idle.clear()
            self.c.store_delete(ptr)


class _Stores(threading.local):
    """A thread's stores, one per nesting depth, and the linear memory they hold."""

    def __init__(self, cache: int) -> None:
        self.by_depth: list[_Store | None] = []
        self.held = 0
        self.cache = cache  # what the thread may keep between calls (thread_cache_bytes)

    def drop(self, depth: int) -> None:
        """Forget the store at ``depth``: it (and its instances' memory) goes when the last
        call holding it ends."""
        store = self.by_depth[depth]
        if store is not None:
            self.by_depth[depth] = None
            self.held -= store.held

    def release(self, store: _Store) -> None:
        """Forget ``store`` (a call on it just ended) if it is still the one at its depth."""
        depth = len(active_calls.stack)
        if depth < len(self.by_depth) and self.by_depth[depth] is store:
            self.drop(depth)


class _Prepared:
    """A module linked once against the host imports (InstancePre), and its export names."""

    __slots__ = ("exports", "key", "pre", "pre_ptr", "reset_globals", "tables")

    def __init__(self, pre: wasmtime.InstancePre, zm: ZomeModule, reuse: bool) -> None:
        self.pre = pre  # keeps the C object alive
        self.pre_ptr: int = ctypes.cast(pre.ptr(), _ptr).value or 0
        self.exports = frozenset(e.name for e in zm.module.exports)
        self.key = zm.wasm_hash.raw
        self.reset_globals = zm.reset_globals if reuse else None
        self.tables = zm.tables


class _Instance:
    """One instance in a store: its exports (looked up once) and, when it may be reused,
    the snapshot of its fresh state that :meth:`reset` puts back.

    The snapshot is taken right after instantiation (so it includes what the start
    function did): every byte of linear memory, its size, and every mutable global (the
    module exports them all, reset.py). A reset restores exactly those; an instance whose
    memory grew is never reset (memory cannot shrink) but dropped with its store.
    """

    __slots__ = (
        "alloc",
        "base",
        "buf",
        "c",
        "cells",
        "counted",
        "free",
        "funcs",
        "globals",
        "key",
        "memory",
        "ptr",
        "size",
        "snapshot",
        "vals",
        "view",
        "vsize",
    )

    def __init__(
        self,
        c: _C,
        store: _Store,
        prepared: _Prepared,
        limits: Limits,
        reset_max: int = RESET_MAX_BYTES,
        snapshot: bool = True,
    ) -> None:
        self.c = c
        names = prepared.reset_globals or ()
        n = 3 + len(names)
        # layout: instance | externs: memory, __zh_alloc, __zh_free, the globals | values
        size = c.instance_size + n * c.extern_size + len(names) * c.val_size
        self.buf = ctypes.create_string_buffer(size)
        self.ptr = ctypes.addressof(self.buf)
        self.key = prepared.key
        self.funcs: dict[str, int | None] = {}
        self.cells: list[Any] = []
        self.counted = 0  # bytes of its memory already counted in the store's ``held``
        ctx = store.ctx
        start = Starting()
        active_calls.stack.append(start)
        try:
            err = c.instantiate(prepared.pre_ptr, ctx, self.ptr, store.main_trap_addr)
        finally:
            active_calls.stack.pop()
        if err:
            raise start.fault or instantiate_error(c.error(err), limits)
        if store.main_trap.value:
            raise start.fault or instantiate_error(c.trap(_take(store.main_trap)), limits)
        memory = self._extern(ctx, 0, b"memory", _EXTERN_MEMORY)
        alloc = self._extern(ctx, 1, b"__zh_alloc", _EXTERN_FUNC)
        free = self._extern(ctx, 2, b"__zh_free", _EXTERN_FUNC)
        if memory is None or alloc is None or free is None:
            raise RibosomeError("the zome's memory or allocator exports have the wrong kind")
        self.memory, self.alloc, self.free = memory, alloc, free
        self.base: int = c.memory_data(ctx, memory) or 0
        self.size: int = c.memory_data_size(ctx, memory)
        self.snapshot: bytes | None = None
        # A view of its memory, kept across calls: the base never moves (memory_may_move
        # is off) and the memory never shrinks, so it stays valid, over ``vsize`` bytes,
        # for as long as the store lives; GuestCall re-makes it when the memory grew.
        self.view: memoryview | None = None
        self.vsize = 0
        self.globals: list[int] = []
        self.vals = self.ptr + c.instance_size + n * c.extern_size
        if prepared.reset_globals is None or self.size > reset_max:
            return
        for i, name in enumerate(names):
            g = self._extern(ctx, 3 + i, name.encode(), _EXTERN_GLOBAL)
            if g is None:
                return  # cannot happen (reset.py exported them): no reuse then
            self.globals.append(g)
            c.global_get(ctx, g, self.vals + i * c.val_size)
        if snapshot:  # the native boundary keeps its own (native/_boundary.c)
            self.snapshot = ctypes.string_at(self.base, self.size) if self.size else b""

    def _extern(self, ctx: int, slot: int, name: bytes, kind: int) -> int | None:
        """Look up an export into extern ``slot`` of the buffer."""
        return self._export_at(
            ctx, self.ptr + self.c.instance_size + slot * self.c.extern_size, name, kind
        )

    def _export_at(self, ctx: int, addr: int, name: bytes, kind: int) -> int | None:
        """Look up an export into the extern at ``addr``; the address of its item, or None
        when there is no such export or it is not of ``kind``."""
        c = self.c
        if not c.export_get(ctx, self.ptr, name, len(name), addr):
            return None
        if ctypes.c_uint8.from_address(addr).value != kind:
            return None
        return int(addr + c.extern_of)

    def func(self, ctx: int, export: str) -> int | None:
        """The export's func (looked up once per instance), or None when it is not one."""
        try:
            return self.funcs[export]
        except KeyError:
            pass
        cell = ctypes.create_string_buffer(self.c.extern_size)
        self.cells.append(cell)  # owns the extern the cached address points into
        func = self._export_at(ctx, ctypes.addressof(cell), export.encode(), _EXTERN_FUNC)
        self.funcs[export] = func
        return func

    def reset(self, ctx: int, size: int) -> bool:
        """Put the instance back to its fresh state; False when that is not possible.

        ``size``: its memory's size now. A memory that grew cannot shrink back."""
        snapshot = self.snapshot
        if snapshot is None or size != self.size:
            return False
        ctypes.memmove(self.base, snapshot, self.size)
        c = self.c
        for i, g in enumerate(self.globals):
            err = c.global_set(ctx, g, self.vals + i * c.val_size)
            if err:
                c.error(err)  # freed by its wrapper; cannot happen (same type, mutable)
                return False
        return True


def _take(cell: _ptr) -> int:
    value = cell.value or 0
    cell.value = None
    return value


class Boundary:
    """Fast counterpart of :class:`boundary.Boundary`: linker with raw host imports,
    InstancePre cache, and each thread's stores."""

    kind = "fast"

    def __init__(self, engine: WasmEngine, reuse: bool | None = None) -> None:
        c = _lib()
        self.c = c
        self.engine = engine
        self.reuse = reuse_enabled() if reuse is None else reuse
        self.engine_ptr: int = ctypes.cast(engine.engine.ptr(), _ptr).value or 0
        self.linker = wasmtime.Linker(engine.engine)
        self._abi_type = guest_abi_type()  # a FuncType binds to the first engine it is used with
        linker_ptr = ctypes.cast(self.linker.ptr(), _ptr).value
        type_ptr = ctypes.cast(self._abi_type.ptr(), _ptr).value
        module = HOST_MODULE.encode()
        for index, name in enumerate(HOST_FUNCTIONS):
            raw = name.encode()
            callback, env = self._host_callback(index, name)
            err = c.define_unchecked(
                linker_ptr, module, len(module), raw, len(raw), type_ptr, callback, env, None
            )
            if err:
                raise RibosomeError(f"cannot define host function {name}: {c.error(err)}")
        self._pre: dict[bytes, _Prepared] = {}
        self._lock = threading.Lock()
        self._stores = _Stores(engine.memory.budgets.thread_cache_bytes)

    def _host_callback(self, index: int, name: str) -> tuple[Any, int | None]:
        """The raw callback for host function ``name`` and its env argument."""
        return _callback(name), None

    def pre(self, zm: ZomeModule) -> _Prepared:
        prepared = self._pre.get(zm.wasm_hash.raw)
        if prepared is None:
            with self._lock:
                prepared = self._pre.get(zm.wasm_hash.raw)
                if prepared is None:
                    pre = self.linker.instantiate_pre(zm.module)
                    prepared = _Prepared(pre, zm, self.reuse)
                    self._pre[zm.wasm_hash.raw] = prepared
        return prepared

    def instance(
        self, prepared: _Prepared, limits: Limits, remaining: float
    ) -> tuple[_Store, _Instance]:
        """This thread's store for the current nesting depth, armed for a call with
        ``remaining`` seconds, and an instance in it: an idle one reset to its fresh state
        when there is one, else a fresh one."""
        depth = len(active_calls.stack)
        owner = self._stores
        stores = owner.by_depth
        while len(stores) <= depth:
            stores.append(None)
        store = stores[depth]
        if store is not None:
            inst = store.idle.get(prepared.key)
            # an instance bigger than this call's cap could not start fresh: nor reused
            if inst is not None and inst.size <= limits.memory_bytes:
                del store.idle[prepared.key]
                self._arm(store, limits, remaining)
                return store, inst
        if store is None or not store.has_room(prepared):
            owner.drop(depth)  # drop the old one (and its instances) first
            store = stores[depth] = _Store(self.c, self.engine_ptr, owner)
        store.uses += 1
        store.tables += prepared.tables
        self._arm(store, limits, remaining)
        return store, _Instance(self.c, store, prepared, limits)

    def _arm(self, store: _Store, limits: Limits, remaining: float) -> None:
        """Set the call's memory cap, epoch deadline and fuel on its store."""
        c = self.c
        store.limit_memory(limits.memory_bytes)
        c.set_epoch_deadline(store.ctx, self.engine.deadline_ticks(remaining))
        if self.engine.fuel:
            err = c.set_fuel(store.ctx, limits.fuel if limits.fuel is not None else 2**62)
            if err:
                raise RibosomeError(f"cannot set fuel: {c.error(err)}")

    def guest_call(
        self, zm: ZomeModule, limits: Limits, deadline: float, dispatch: HostDispatch
    ) -> GuestCall:
        return GuestCall(self, zm, limits, deadline, dispatch)

    def run(
        self,
        zm: ZomeModule,
        limits: Limits,
        deadline: float,
        dispatch: HostDispatch,
        export: str,
        payload: bytes,
        what: str,
    ) -> Any:
        return run_call(self, zm, limits, deadline, dispatch, export, payload, what)


class GuestCall:
    """One zome instance for one call (fast counterpart of boundary.GuestCall): a fresh
    instance, or one that served earlier calls and was reset to its fresh state."""

    __slots__ = (
        "_exports",
        "_inst",
        "_turn",
        "c",
        "ctx",
        "deadline",
        "dispatch",
        "fault",
        "interrupt",
        "limits",
        "store",
    )

    def __init__(
        self,
        boundary: Boundary,
        zm: ZomeModule,
        limits: Limits,
        deadline: float,
        dispatch: HostDispatch,
    ) -> None:
        c = boundary.c
        self.c = c
        self.limits = limits
        self.deadline = deadline
        self.dispatch = dispatch
        self.fault: ZomehostError | None = None
        self.interrupt: BaseException | None = None
        prepared = boundary.pre(zm)
        self._exports = prepared.exports
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("the call's deadline passed before the zome started")
        store, inst = boundary.instance(prepared, limits, remaining)
        self.store = store  # keeps the store (and so the instance) alive
        self._inst = inst
        store.turn += 1
        self._turn = store.turn
        self.ctx = store.ctx

    # -- plumbing -------------------------------------------------------------------
    def _refresh(self) -> None:
        """Re-read the memory's size (it only grows) and re-make the view if it changed."""
        if self.store.turn != self._turn:
            raise RibosomeError("a guest call was used after the next call on its thread began")
        inst = self._inst
        size = self.c.memory_data_size(self.ctx, inst.memory)
        if size != inst.vsize or inst.view is None:
            base = inst.base or self.c.memory_data(self.ctx, inst.memory)
            inst.view = self.c.memoryview(base, size, _PYBUF_WRITE) if base else memoryview(b"")
            inst.vsize = size

    def _call_aux(self, ctx: Any, func: int, a: int, b: int, nargs: int) -> int:
        """Call the guest allocator (nested inside an export call when a host fn runs)."""
        c = self.c
        store = self.store
        buf = store.aux
        buf[0] = a
        buf[2] = b
        err = c.call(ctx, func, store.aux_addr, nargs, store.aux_trap_addr)
        if err:
            raise c.error(err)
        if store.aux_trap.value:
            raise c.trap(_take(store.aux_trap))
        return int(buf[0])

    # -- memory (same interface as boundary.GuestCall) --------------------------------
    def memory_len(self) -> int:
        return int(self.c.memory_data_size(self.ctx, self._inst.memory))

    def _check(self, ptr: int, length: int, what: str) -> memoryview:
        inst = self._inst
        if ptr < 0 or length < 0 or ptr + length > inst.vsize or inst.view is None:
            self._refresh()
            if ptr < 0 or length < 0 or ptr + length > inst.vsize:
                raise InvalidGuestPointer(
                    f"{what}: guest pointer {ptr:#x}+{length} is outside guest memory "
                    f"({inst.vsize} bytes)"
                )
        assert inst.view is not None
        return inst.view

    def read(self, store: Any, ptr: int, length: int, what: str) -> bytes:
        return self._check(ptr, length, what)[ptr : ptr + length].tobytes()

    def write_new(self, store: Any, data: bytes, what: str) -> int:
        """Allocate a block in the guest and copy ``data`` into it."""
        n = len(data)
        ptr = self._call_aux(store, self._inst.alloc, n, 0, 1) & _U32
        if ptr == 0 and data:
            raise OutOfMemory(f"{what}: the guest could not allocate {n} bytes")
        self._check(ptr, n, f"{what} (guest allocator)")[ptr : ptr + n] = data
        return ptr

    # -- calls ----------------------------------------------------------------------
    def invoke(self, export: str, payload: bytes) -> bytes:
        """Call a zome export with input bytes; return the result envelope's bytes.

        Afterwards the instance goes back to its store's idle set, reset, when the call
        ended normally and the reset is complete (``_Instance.reset``); after a trap, a
        fault, an interrupt or a memory that grew, it is never used again.
        """
        store = self.store
        if store.turn != self._turn:
            raise RibosomeError("a guest call was used after the next call on its thread began")
        inst = self._inst
        if store.idle.get(inst.key) is inst:  # invoked again: take it back
            del store.idle[inst.key]
        if export not in self._exports:
            raise GuestError(f"the zome does not export {export!r}")
        c = self.c
        ctx = self.ctx
        func = inst.func(ctx, export)
        if func is None:
            raise GuestError(f"the zome does not export {export!r}")
        active_calls.stack.append(self)
        clean = False
        running = GUEST_ALLOCATOR  # what the guest runs, named if the deadline hits there
        try:
            size = self.memory_len()
            grown = grown_size(memory_tier(len(payload), self.limits.memory_bytes), size)
            if grown > size:  # its tier: such an instance is not reused (it is not fresh size)
                err = c.memory_grow(ctx, inst.memory, (grown - size) // WASM_PAGE, store.aux_addr)
                if err:
                    raise c.error(err)
            ptr = self.write_new(ctx, payload, "input")
            running = GUEST_CODE
            buf = store.main
            buf[0] = ptr
            buf[2] = len(payload)
            err = c.call(ctx, func, store.main_addr, 2, store.main_trap_addr)
            if err:
                raise c.error(err)
            if store.main_trap.value:
                raise c.trap(_take(store.main_trap))
            packed = int(buf[0])
            out_ptr, out_len = (packed >> 32) & _U32, packed & _U32
            if out_len > self.limits.max_output_bytes:
                raise LimitExceeded(
                    f"{export} returned {out_len} bytes, limit {self.limits.max_output_bytes}"
                )
            out = self.read(ctx, out_ptr, out_len, f"{export} result")
            running = GUEST_ALLOCATOR
            self._call_aux(ctx, inst.free, out_ptr, out_len, 2)
            clean = self.fault is None and self.interrupt is None
            return out
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            if self.interrupt is not None:
                raise self.interrupt from None
            raise self._trap_error(exc, export, running) from None
        finally:
            active_calls.stack.pop()
            size = self.memory_len()
            grown = size - inst.counted
            if grown:  # a fresh instance, or one that grew: the thread holds more
                inst.counted = size
                store.held += grown
                owner = store.owner
                owner.held += grown
                if owner.held > owner.cache:  # give the memory of this call back now
                    owner.release(store)
                    clean = False
            if clean and inst.reset(ctx, size):
                store.idle.setdefault(inst.key, inst)

    def _trap_error(
        self, exc: wasmtime.WasmtimeError | wasmtime.Trap, export: str, running: str
    ) -> ZomehostError:
        if self.fault is not None:
            return self.fault
        return trap_error(exc, export, self.limits, self.memory_len(), running)

    def close(self) -> None:
        """Let go of the store: the call is over (see boundary.GuestCall.close). A store
        still in this thread's set lives on there; a dropped one goes now."""
        del self.store, self._inst
