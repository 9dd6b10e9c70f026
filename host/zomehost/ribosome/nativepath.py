"""The native wasm boundary: the whole zome call in C (native/_boundary.c), Python runs only
the host functions' bodies.

Same interface and results as :mod:`zomehost.ribosome.fastpath` (whose stores, pre-linked
modules and export lookups it reuses) and :mod:`zomehost.ribosome.boundary`; what differs:

* **The call** — epoch deadline and fuel, the guest allocator, copy in, the export, copy out,
  the guest's free — is one C function (``_boundary.invoke``) that releases the GIL while
  guest code runs. **Host imports** are one C trampoline: it bounds-checks the guest's
  pointer, hands the input bytes to :func:`_body` (decode, dispatch, encode: the shared
  :func:`boundary.host_result`), and writes the envelope into a block the guest allocates.
  Every failure comes back as a code that :func:`_fault` / :meth:`GuestCall._failure` turn
  into the same typed error as on the other paths.
* **Resets that write what a call may have written**: a module's fresh state (memory and
  mutable globals right after instantiation) is kept once per module as a sparse
  ``_boundary.Image``; a reset copies the image's non-zero pages back and zeroes, of the
  other pages, only the *resident* ones (``mincore``: a page a call wrote stays resident,
  since the machine has no swap or the memory is locked on fault; otherwise every page is
  zeroed). The rules of reset.py hold unchanged: an instance whose call trapped, faulted or
  was interrupted, or whose memory grew, is never used again.
* **Memory tiers**: a call with a big input starts with its memory grown by the host to its
  tier (``boundary.memory_tier`` and ``grown_size``, as on every boundary), so it does not
  outgrow it and its instance can be reset and reused; idle instances are kept per module
  and tier, and one past 256 KiB is charged to the call tree that reuses it
  (``memory.adopt``).
* **One store per instance**, and each thread keeps up to :data:`IDLE_INSTANCES` reset
  instances, least recently used first out, within the engine's ``thread_cache_bytes`` of
  what they keep resident: no store-wide instance count, so calls rotating over many apps
  keep reusing their instances. An instance that cannot be reused is dropped with its store
  at once.

``ribosome.select_boundary`` picks this path (``native``, the default) when the extension is
built and loads, and says once in the log when it falls back to the ctypes one.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

from zomehost.core.codec import unpack
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
from zomehost.ribosome import fastpath, memory
from zomehost.ribosome.boundary import (
    GUEST_ALLOCATOR,
    GUEST_CODE,
    MEMORY_TIERS,
    HostDispatch,
    active_calls,
    grown_size,
    host_input_error,
    host_result,
    memory_tier,
    reentrant_error,
    result_value,
    stray_host_call,
    trap_error,
)
from zomehost.ribosome.engine import EPOCH_TICK_S, HOST_FUNCTIONS, WasmEngine, ZomeModule
from zomehost.ribosome.native import load

# Reset instances a thread keeps for later calls, across all modules (one store each), at
# most; the bytes they keep resident are bounded by the engine's thread_cache_bytes.
IDLE_INSTANCES = 256
# A reset instance reused by a later call tree is charged to it (memory.adopt) when its
# memory is bigger than this (memory.py: smaller ones cost no budget until they grow).
UNCHARGED_BYTES = 256 * 1024
SMALL_INPUT = MEMORY_TIERS[0][0]  # inputs up to this size use the module's own memory
# failure codes of _boundary.invoke (FAIL_* in _boundary.c)
_FAIL_ERROR, _FAIL_TRAP, _FAIL_NO_INPUT, _FAIL_INPUT_PTR = 1, 2, 3, 4
_FAIL_OUTPUT_LIMIT, _FAIL_OUTPUT_PTR, _FAIL_FUEL, _FAIL_DEADLINE = 5, 6, 7, 9
# _boundary.invoke's flags: reset after a clean call; an {"Ok": v} result as v's bytes
_RESET, _OK_VALUE = 1, 2
# what a host function's fault is about (HOST_* in _boundary.c)
_HOST_REENTRANT, _HOST_INPUT_LIMIT, _HOST_INPUT_PTR, _HOST_NO_RESULT = 2, 3, 4, 5
_HOST_RESULT_PTR, _HOST_ALLOC_TRAP, _HOST_ALLOC_ERROR = 6, 7, 8

_WASMTIME_FUNCTIONS = (
    "wasmtime_func_call_unchecked",
    "wasmtime_memory_data",
    "wasmtime_memory_data_size",
    "wasmtime_trap_new",
    "wasmtime_context_set_epoch_deadline",
    "wasmtime_context_set_fuel",
    "wasmtime_global_set",
    "wasmtime_memory_grow",
    "wasmtime_error_delete",
)

_ext: Any = None
_unavailable: str | None = None
_probe_lock = threading.Lock()


def unavailable() -> str | None:
    """Why the native path cannot run here, or ``None`` when it can."""
    global _ext, _unavailable
    why = fastpath.unavailable()  # the same pinned wasmtime and C symbols
    if why is not None:
        return why
    with _probe_lock:
        if _ext is not None or _unavailable is not None:
            return _unavailable
        module, why_not = load()
        if module is None:
            _unavailable = why_not
            return _unavailable
        from wasmtime import _ffi

        try:
            addrs = {}
            for name in _WASMTIME_FUNCTIONS:
                addrs[name] = ctypes.cast(getattr(_ffi.dll, name), ctypes.c_void_p).value
            module.setup(addrs, _body, _fault, _stray, EPOCH_TICK_S)
        except (AttributeError, KeyError) as exc:
            _unavailable = f"wasmtime's C API is missing a symbol: {exc}"
            return _unavailable
        _ext = module
        return None


# -- what the C side asks of Python ---------------------------------------------------
def _body(call: GuestCall, index: int, raw: bytes) -> bytes | tuple[bytes] | str:
    """Host function ``index``'s body: the envelope to write back (or ``(value,)``: bytes
    whose ``Ok`` envelope the C side writes), or (with ``call.fault`` set) the message of
    the trap the guest gets. Never raises."""
    name = HOST_FUNCTIONS[index]
    try:
        return host_result(call, name, raw, frame=True)
    except ZomehostError as exc:
        call.fault = exc
    except Exception as exc:
        call.fault = RibosomeError(f"host function {name} failed: {type(exc).__name__}: {exc}")
    except BaseException as exc:  # KeyboardInterrupt...: re-raised by invoke, as elsewhere
        call.fault = RibosomeError(f"host function {name} failed: {type(exc).__name__}: {exc}")
        call.interrupt = exc
    return call.fault.message


def _fault(call: GuestCall, index: int, what: int, a: int, b: int) -> str:
    """Record the typed error for a host call the C side refused; return its message."""
    name = HOST_FUNCTIONS[index]
    size = call.memory_len()
    fault: ZomehostError
    if what == _HOST_REENTRANT:
        fault = reentrant_error(name)
    elif what == _HOST_INPUT_LIMIT:
        fault = host_input_error(call, name, a) or LimitExceeded(f"host function {name} input")
    elif what == _HOST_INPUT_PTR:
        fault = _pointer_error(f"host function {name} input", a, b, size)
    elif what == _HOST_NO_RESULT:
        fault = OutOfMemory(f"host function {name} result: the guest could not allocate {a} bytes")
    elif what == _HOST_RESULT_PTR:
        fault = _pointer_error(f"host function {name} result (guest allocator)", a, b, size)
    else:  # the guest allocator trapped or failed while taking the result
        c = call.c
        exc = c.trap(a) if what == _HOST_ALLOC_TRAP else c.error(a)
        where = f"host function {name}: the guest allocator"
        fault = call.fault or trap_error(exc, where, call.limits, size, GUEST_ALLOCATOR)
    call.fault = call.fault or fault
    return call.fault.message


def _stray(index: int) -> str:
    """The trap's message for a host call with no zome call of this boundary to serve (a
    start function: the :class:`boundary.Starting` on the stack records the fault)."""
    stack = active_calls.stack
    return stray_host_call(stack[-1] if stack else None, HOST_FUNCTIONS[index]).message


def _pointer_error(what: str, ptr: int, length: int, size: int) -> InvalidGuestPointer:
    return InvalidGuestPointer(
        f"{what}: guest pointer {ptr:#x}+{length} is outside guest memory ({size} bytes)"
    )


# -- instances ------------------------------------------------------------------------------
class _Instance(fastpath._Instance):
    """A fastpath instance (its externs and globals) with its C counterpart, its memory
    grown by the host to its tier's size when that is bigger than the module's own and the
    call tree's budget has room (``tier`` is 0 when it was not grown)."""

    __slots__ = ("native", "tier")

    def __init__(
        self,
        boundary: Boundary,
        store: fastpath._Store,
        prepared: fastpath._Prepared,
        limits: Limits,
        tier: int,
    ) -> None:
        super().__init__(boundary.c, store, prepared, limits, reset_max=1 << 62, snapshot=False)
        image = None
        if prepared.reset_globals is not None and len(self.globals) == len(prepared.reset_globals):
            image = boundary.image(prepared, self)
        size = grown_size(tier, self.size)
        self.tier = tier if size > self.size else 0
        try:
            self.native = _ext.Instance(
                store.ctx,
                self.memory,
                self.alloc,
                self.free,
                self.buf,
                image,
                tuple(self.globals),
                size,
            )
        except RuntimeError as exc:  # the host could not grow it: a wasmtime error
            why = self.c.error(exc.args[0])
            raise RibosomeError(f"cannot grow the instance's memory: {why}") from None
        self.size = size


# An idle instance (a slot of a thread's ``_boundary.Pool``): its store, itself, the call
# object of ``Boundary.run`` that last used it (None when it was not a ``run``: the next
# ``run`` on it takes that object over), its C counterpart, its export addresses by name
# and its store's memory cap. What it keeps resident is its C counterpart's ``dirty``.
_Slot = tuple[fastpath._Store, _Instance, "GuestCall | None", Any, dict[str, "int | None"], int]


class _Local(threading.local):
    """Each thread's idle instances (a ``_boundary.Pool``: one thread-local lookup per call),
    least recently kept first, within the engine's ``thread_cache_bytes`` of what they keep
    resident and :data:`IDLE_INSTANCES`."""

    def __init__(self, cache: int) -> None:
        self.idle = _ext.Pool(active_calls.stack, cache, IDLE_INSTANCES, UNCHARGED_BYTES, _unserved)


def _unserved(name: str, value: Any) -> Any:
    """The dispatch of an idle ``run`` call object: its last call is over, and what that
    call's dispatch held (its context) is not kept with the idle instance."""
    raise RibosomeError(f"host function {name} was called outside a zome call")


def _drop(idle: Any, key: tuple[bytes, int]) -> _Slot | None:
    """Take the slot of ``key`` out of the thread's idle instances."""
    slot: _Slot | None = idle.slots.pop(key, None)
    if slot is not None:
        idle.held -= slot[3].dirty
    return slot


class Boundary(fastpath.Boundary):
    """The native boundary: fastpath's linker (host imports defined with the C trampoline),
    pre-linked modules, and per-thread idle instances, one store each."""

    kind = "native"

    def __init__(self, engine: WasmEngine, reuse: bool | None = None) -> None:
        why = unavailable()
        if why is not None:
            raise RibosomeError(f"the native wasm boundary is unavailable: {why}")
        super().__init__(engine, reuse)
        self.fuel = engine.fuel
        # fuel for a call whose limits set none; -1: the engine does not consume fuel
        self.no_fuel = 2**62 if engine.fuel else -1
        self._images: dict[bytes, Any] = {}  # module key -> its fresh state (an Image)
        self._local = _Local(engine.memory.budgets.thread_cache_bytes)

    def _host_callback(self, index: int, name: str) -> tuple[Any, int | None]:
        return _ext.trampoline_address(), index + 1

    def image(self, prepared: fastpath._Prepared, inst: fastpath._Instance) -> Any:
        """The module's fresh state, from its first instance (all instances of a module
        start identical: instantiation is deterministic, and a start function cannot call
        the host)."""
        image = self._images.get(prepared.key)
        if image is None:
            n = len(inst.globals)
            values = ctypes.string_at(inst.vals, n * self.c.val_size) if n else b""
            image = self._images.setdefault(prepared.key, _ext.Image(inst.base, inst.size, values))
        return image

    def idle(self, key: tuple[bytes, int], limits: Limits) -> _Slot | None:
        """This thread's idle instance of ``key`` (module, tier), reset to its fresh state and
        taken out of the idle ones, when this call may use it."""
        idle = self._local.idle
        slot: _Slot | None = idle.slots.get(key)
        # an instance bigger than this call's cap could not start fresh: nor is it reused
        if slot is not None and slot[1].size <= limits.memory_bytes:
            _drop(idle, key)
            # beyond the uncharged allowance, the call tree pays for all of it
            if slot[1].size <= UNCHARGED_BYTES or memory.adopt(slot[1].base):
                slot[0].limit_memory(limits.memory_bytes)
                return slot
        return None

    def instance(
        self, prepared: fastpath._Prepared, limits: Limits, deadline: float, tier: int = 0
    ) -> tuple[fastpath._Store, fastpath._Instance]:
        """An idle instance of the module and tier reset to its fresh state, else a fresh
        one in a store of its own (``invoke`` sets the call's deadline and fuel)."""
        slot = self.idle((prepared.key, tier), limits)
        if slot is not None:
            return slot[0], slot[1]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("the call's deadline passed before the zome started")
        store = fastpath._Store(self.c, self.engine_ptr, self._stores)
        self._arm(store, limits, remaining)  # a start function runs under the deadline
        return store, _Instance(self, store, prepared, limits, tier)

    def keep(self, store: fastpath._Store, inst: _Instance, call: GuestCall | None = None) -> None:
        """Keep a reset instance (and the ``run`` call object that used it) for this
        thread's next call of its module and tier, within the thread's cache: least
        recently used ones go first."""
        idle = self._local.idle
        key = (inst.key, inst.tier)
        native = inst.native
        held = native.dirty
        slots = idle.slots
        if key in slots or held > idle.cache:
            return  # one idle instance per module and tier; this one goes with its store
        if call is not None:
            call.dispatch = _unserved
        slots[key] = (store, inst, call, native, inst.funcs, store.memory_limit)
        idle.held += held
        idle.trim()

    def take(self, inst: _Instance) -> None:
        """Take ``inst`` out of this thread's idle instances if it is there."""
        key = (inst.key, inst.tier)
        idle = self._local.idle
        slot = idle.slots.get(key)
        if slot is not None and slot[1] is inst:
            _drop(idle, key)

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
        """:func:`boundary.run_call`, with the result envelope read on the C side.

        The usual call — a small input, an idle instance that served an earlier ``run``
        with the export looked up, the same memory cap, a memory within the uncharged
        allowance — is one C call (``Pool.run``: take the instance and its call object,
        invoke, reset, keep); anything else goes through :meth:`GuestCall._invoke`."""
        out = None
        key = (zm.wasm_hash.raw, 0)
        if len(payload) <= SMALL_INPUT:
            fuel = limits.fuel if self.fuel and limits.fuel is not None else self.no_fuel
            out = self._local.idle.run(
                key,
                export,
                payload,
                deadline,
                fuel,
                limits.max_output_bytes,
                limits.max_host_payload_bytes,
                limits.memory_bytes,
                limits,
                dispatch,
                _RESET | _OK_VALUE,
            )
        if out is None:
            call = GuestCall(self, zm, limits, deadline, dispatch, run=True)
            try:
                out = call._invoke(export, payload, _RESET | _OK_VALUE)
            except BaseException:
                call.close()
                raise
        elif out.__class__ is tuple and len(out) == 2:
            call, failure = out
            try:  # the failure is read from the call's instance, so before it is let go
                error = call.failed(failure, export)
            finally:
                call.close()
            raise error
        # a clean call: its instance (and call object) may serve the next call already
        if out.__class__ is bytes:
            return unpack(out, what=f"{what} result")
        return result_value(out[0], what)


class GuestCall(fastpath.GuestCall):
    """One call on the native boundary: the call itself is ``_boundary.invoke``; fastpath's
    memory access serves nested-call accounting and error messages."""

    __slots__ = ("_boundary", "_invoked", "_prepared", "_run", "_spoiled")

    def __init__(
        self,
        boundary: Boundary,
        zm: ZomeModule,
        limits: Limits,
        deadline: float,
        dispatch: HostDispatch,
        run: bool = False,
    ) -> None:
        """``run``: a call object of ``Boundary.run``, which nothing outside sees: kept with
        its instance for the next ``run`` on it."""
        prepared = boundary._pre.get(zm.wasm_hash.raw) or boundary.pre(zm)
        store, inst = boundary.instance(prepared, limits, deadline)
        self.c = boundary.c
        self.limits = limits
        self.deadline = deadline
        self.dispatch = dispatch
        self.fault: ZomehostError | None = None
        self.interrupt: BaseException | None = None
        self._boundary = boundary
        self._prepared = prepared
        self._exports = prepared.exports
        self._spoiled = False  # its instance served a call that failed: never reused
        self._invoked = False
        self._run = run
        self._take(store, inst)

    def _take(self, store: fastpath._Store, inst: fastpath._Instance) -> None:
        self.store, self._inst, self.ctx = store, inst, store.ctx
        store.turn += 1
        self._turn = store.turn

    def _retier(self, tier: int) -> _Instance:
        """Trade the call's instance for one of ``tier``; the old one goes back to the idle
        ones (reset if it served an earlier invoke, never if that invoke failed)."""
        old = self._inst
        assert isinstance(old, _Instance)
        boundary = self._boundary
        # one that has not run this call's code is as it was taken: fresh or reset
        if not self._spoiled and (not self._invoked or old.native.dirty >= 0):
            boundary.keep(self.store, old)
        deadline = max(self.deadline, time.monotonic() + 1e-3)
        store, inst = boundary.instance(self._prepared, self.limits, deadline, tier)
        assert isinstance(inst, _Instance)
        self._take(store, inst)
        return inst

    def invoke(self, export: str, payload: bytes) -> bytes:
        """Call a zome export with input bytes; return the result envelope's bytes.

        Afterwards the instance is reset and kept for the thread's next call of its module
        when the call ended normally; otherwise it is dropped with its store."""
        out = self._invoke(export, payload, _RESET)
        assert out.__class__ is bytes
        return out

    def _invoke(self, export: str, payload: bytes, flags: int) -> Any:
        store = self.store
        if store.turn != self._turn:
            raise RibosomeError("a guest call was used after the next call on its thread began")
        inst: Any = self._inst
        boundary = self._boundary
        if self._invoked:
            boundary.take(inst)  # invoked again: it is not idle while it runs
        limits = self.limits
        if inst.tier or len(payload) > SMALL_INPUT:
            tier = memory_tier(len(payload), limits.memory_bytes)
            if tier != inst.tier:
                inst = self._retier(tier)
                store = self.store
        self._invoked = True
        func = inst.funcs.get(export)
        if func is None:
            func = inst.func(self.ctx, export) if export in self._exports else None
            if func is None:
                raise GuestError(f"the zome does not export {export!r}")
        return self.enter(inst, func, export, payload, flags)

    def enter(self, inst: _Instance, func: int, export: str, payload: bytes, flags: int) -> Any:
        """Run ``func`` (an export of ``inst``, this call's instance) in C; return what
        ``_boundary.invoke`` gives back for a clean call, after keeping the instance for the
        thread's next call; raise the typed error for anything else."""
        boundary = self._boundary
        limits = self.limits
        fuel = limits.fuel if boundary.fuel and limits.fuel is not None else boundary.no_fuel
        stack = active_calls.stack
        stack.append(self)
        try:
            out = _ext.invoke(
                inst.native,
                func,
                payload,
                self.deadline,
                fuel,
                limits.max_output_bytes,
                limits.max_host_payload_bytes,
                self,
                flags,
            )
        finally:
            stack.pop()
        clean = out.__class__ is bytes or len(out) == 1
        if clean and self.fault is None and self.interrupt is None:
            if inst.native.dirty >= 0:  # reset by invoke: it can serve the next call
                boundary.keep(self.store, inst, self if self._run else None)
            return out
        raise self.failed(out, export)

    def failed(self, out: Any, export: str) -> BaseException:
        """What to raise for a call that did not end cleanly (``out``: what
        ``_boundary.invoke`` gave back); its instance is never used again."""
        self._spoiled = True
        if out.__class__ is tuple and len(out) == 3 and out[0] == _FAIL_DEADLINE:
            return Timeout(f"the call's deadline passed before {export} started")
        failure = self._failure(out, export)  # takes over what wasmtime handed back
        return failure if self.interrupt is None else self.interrupt

    def _failure(self, out: Any, export: str) -> ZomehostError:
        """The typed error for what ``_boundary.invoke`` reported. A trap or error it
        hands back is taken over (and so freed) even when the call's fault says why."""
        what, a, b = out if out.__class__ is tuple and len(out) == 3 else (0, 0, 0)
        c = self.c
        exc: Any = None
        if what in (_FAIL_ERROR, _FAIL_FUEL):
            exc = c.error(a)
        elif what == _FAIL_TRAP:
            exc = c.trap(a)
        if self.fault is not None:
            return self.fault
        if not what:  # cannot happen: a clean result with a fault recorded
            return RibosomeError(f"{export}: the call failed")
        size = self.memory_len()
        if what in (_FAIL_ERROR, _FAIL_TRAP):
            running = GUEST_CODE if b == 1 else GUEST_ALLOCATOR  # the input's block or free
            return trap_error(exc, export, self.limits, size, running)
        if what == _FAIL_FUEL:
            return RibosomeError(f"cannot set fuel: {exc}")
        if what == _FAIL_NO_INPUT:
            return OutOfMemory(f"input: the guest could not allocate {a} bytes")
        if what == _FAIL_INPUT_PTR:
            return _pointer_error("input (guest allocator)", a, b, size)
        if what == _FAIL_OUTPUT_LIMIT:
            return LimitExceeded(
                f"{export} returned {a} bytes, limit {self.limits.max_output_bytes}"
            )
        return _pointer_error(f"{export} result", a, b, size)
