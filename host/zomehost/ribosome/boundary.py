"""The wasm boundary: the one module that crosses into and out of a guest.

Everything that touches guest memory or calls a guest export lives here, so a faster
crossing can replace this module without touching the host functions. Every pointer from
the guest is bounds-checked before use (wasmtime's ``Memory.read`` truncates silently).

Host imports are defined once per engine. A host import finds the call it belongs to on a
per-thread stack of active guest calls: nested inter-zome and bridge calls run on the same
thread, and a guest only calls the host while it is the innermost active call.
A Python exception must never escape a host import (wasmtime-py keeps it in a
module-global): each is recorded on the call and turned into a wasm trap.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import wasmtime

from zomehost.core import on_loop
from zomehost.core.codec import pack, unpack
from zomehost.core.limits import Limits
from zomehost.errors import (
    DeserializeError,
    GuestError,
    InvalidGuestPointer,
    LimitExceeded,
    OutOfMemory,
    RibosomeError,
    Timeout,
    Trap,
    ZomehostError,
)
from zomehost.ribosome import memory
from zomehost.ribosome.engine import HOST_FUNCTIONS, HOST_MODULE, WasmEngine, ZomeModule
from zomehost.ribosome.resources import MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES

_U32 = 0xFFFFFFFF
log = logging.getLogger("zomehost.ribosome")


def guest_abi_type() -> wasmtime.FuncType:
    """``(i32, i32) -> i64``, fresh for each engine (wasmtime panics on a shared one)."""
    return wasmtime.FuncType(
        [wasmtime.ValType.i32(), wasmtime.ValType.i32()], [wasmtime.ValType.i64()]
    )


KIB, MIB = 1024, 1024 * 1024
WASM_PAGE = 65536
# The memory a call's instance starts with, by the size of the call's input: (largest input,
# memory bytes; 0 keeps the module's own initial memory), then TOP_TIER. The host grows a
# fresh instance's memory to its tier before the input goes in, on every boundary, so a
# call with a big input does not grow the memory itself and the native boundary can reset
# and reuse its instance. A call's tier depends only on its own input and memory cap.
MEMORY_TIERS = ((4 * KIB, 0), (64 * KIB, 1 * MIB), (512 * KIB, 8 * MIB), (2 * MIB, 32 * MIB))
TOP_TIER = 64 * MIB


def memory_tier(payload_len: int, cap: int) -> int:
    """The tier of a call with ``payload_len`` input bytes under ``cap``: the memory (bytes)
    it starts with; 0: the module's own initial memory."""
    size = next((size for most, size in MEMORY_TIERS if payload_len <= most), TOP_TIER)
    return size if size <= cap else 0


def grown_size(tier: int, size: int) -> int:
    """The memory an instance of ``size`` bytes starts a call of ``tier`` with: the tier
    when the call tree's budget (memory.py) has room for the growth, else its own size (the
    guest then grows its memory itself, within the budgets, as on every boundary)."""
    if tier <= size:
        return size
    room = memory.room()
    return size if room is not None and tier - size > room else tier


# What the ribosome plugs into a guest call: (host function name, decoded input) -> output.
HostDispatch = Callable[[str, Any], Any]

# {"Ok": …} as MessagePack: a map of one entry whose key is the fixstr "Ok" (what the SDKs
# write, and the host for its own results): the value follows.
OK_PREFIX = b"\x81\xa2Ok"


def result_value(raw: bytes, what: str) -> Any:
    """The value of ``what``'s (``zome.export``) result envelope ``{"Ok": value}``; a
    :class:`GuestError` for ``{"Err": …}`` or anything else. Decoding the value alone when the
    envelope starts with :data:`OK_PREFIX` is the same decode, without the map."""
    if raw[:4] == OK_PREFIX:
        return unpack(raw[4:], what=f"{what} result")
    envelope = unpack(raw, what=f"{what} result")
    if isinstance(envelope, dict) and len(envelope) == 1:
        if "Ok" in envelope:
            return envelope["Ok"]
        if "Err" in envelope:
            err = envelope["Err"]
            text = err if isinstance(err, str) else repr(err)
            raise GuestError(f"{what} returned an error: {text}")
    raise GuestError(f"{what} returned a malformed result envelope")


class Starting:
    """On top of the active stack while an instance starts (its start function runs): a host
    function called then is refused, and never served for the call the instance nests in."""

    __slots__ = ("fault",)

    def __init__(self) -> None:
        self.fault: ZomehostError | None = None


def stray_host_call(top: object, name: str) -> ZomehostError:
    """The error for a host function called with no zome call of this boundary to serve:
    from a start function (``top`` is a :class:`Starting`, which records it), or, which
    cannot happen, outside any call."""
    if isinstance(top, Starting):
        top.fault = Trap(
            f"host function {name} was called from the zome's start function: host "
            "functions serve zome calls, and none has begun while the instance starts"
        )
        return top.fault
    return RibosomeError(f"host function {name} was called outside a zome call")


class _Active(threading.local):
    def __init__(self) -> None:
        self.stack: list[GuestSide | Starting] = []
        self.serving: set[int] = set()  # ids of the calls a host function is running for


active_calls = _Active()


def active_depth() -> int:
    return len(active_calls.stack)


class GuestCall:
    """One fresh instance of a zome for one call: nothing survives into the next call."""

    def __init__(
        self,
        boundary: Boundary,
        zm: ZomeModule,
        limits: Limits,
        deadline: float,
        dispatch: HostDispatch,
    ) -> None:
        self.limits = limits
        self.deadline = deadline
        self.dispatch = dispatch
        self.fault: ZomehostError | None = None
        self.store = wasmtime.Store(boundary.engine.engine)
        self.store.set_limits(
            memory_size=limits.memory_bytes,
            table_elements=MAX_TABLE_ELEMENTS,
            instances=1,
            tables=MAX_TABLES,
            memories=MAX_MEMORIES,
        )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("the call's deadline passed before the zome started")
        self.store.set_epoch_deadline(boundary.engine.deadline_ticks(remaining))
        if boundary.engine.fuel:
            self.store.set_fuel(limits.fuel if limits.fuel is not None else 2**62)
        start = Starting()
        active_calls.stack.append(start)
        try:
            instance = boundary.pre(zm).instantiate(self.store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise start.fault or instantiate_error(_forget_frames(exc), limits) from None
        finally:
            active_calls.stack.pop()
        exports = instance.exports(self.store)
        self.exports = exports
        memory, alloc, free = exports["memory"], exports["__zh_alloc"], exports["__zh_free"]
        if (
            not isinstance(memory, wasmtime.Memory)
            or not isinstance(alloc, wasmtime.Func)
            or not isinstance(free, wasmtime.Func)
        ):
            raise RibosomeError("the zome's memory or allocator exports have the wrong kind")
        self.memory, self._alloc, self._free = memory, alloc, free

    # -- memory ---------------------------------------------------------------------
    def memory_len(self) -> int:
        return int(self.memory.data_len(self.store))

    def _check(self, store: Any, ptr: int, length: int, what: str) -> int:
        size = self.memory.data_len(store)
        if ptr < 0 or length < 0 or ptr + length > size:
            raise InvalidGuestPointer(
                f"{what}: guest pointer {ptr:#x}+{length} is outside guest memory ({size} bytes)"
            )
        return ctypes.addressof(self.memory.data_ptr(store).contents)

    def read(self, store: Any, ptr: int, length: int, what: str) -> bytes:
        base = self._check(store, ptr, length, what)
        return ctypes.string_at(base + ptr, length)

    def write_new(self, store: Any, data: bytes, what: str) -> int:
        """Allocate a block in the guest and copy ``data`` into it."""
        ptr = int(self._alloc(store, len(data))) & _U32
        if ptr == 0 and data:
            raise OutOfMemory(f"{what}: the guest could not allocate {len(data)} bytes")
        base = self._check(store, ptr, len(data), f"{what} (guest allocator)")
        ctypes.memmove(base + ptr, data, len(data))
        return ptr

    # -- calls ----------------------------------------------------------------------
    def invoke(self, export: str, payload: bytes) -> bytes:
        """Call a zome export with input bytes; return the result envelope's bytes."""
        func = self.exports.get(export)
        if not isinstance(func, wasmtime.Func):
            raise GuestError(f"the zome does not export {export!r}")
        active_calls.stack.append(self)
        running = GUEST_ALLOCATOR  # what the guest runs, named if the deadline hits there
        try:
            size = self.memory.data_len(self.store)
            grown = grown_size(memory_tier(len(payload), self.limits.memory_bytes), size)
            if grown > size:
                self.memory.grow(self.store, (grown - size) // WASM_PAGE)
            ptr = self.write_new(self.store, payload, "input")
            running = GUEST_CODE
            packed = int(func(self.store, ptr, len(payload)))
            out_ptr, out_len = (packed >> 32) & _U32, packed & _U32
            if out_len > self.limits.max_output_bytes:
                raise LimitExceeded(
                    f"{export} returned {out_len} bytes, limit {self.limits.max_output_bytes}"
                )
            out = self.read(self.store, out_ptr, out_len, f"{export} result")
            running = GUEST_ALLOCATOR
            self._free(self.store, out_ptr, out_len)
            return out
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise self._trap_error(_forget_frames(exc), export, running) from None
        finally:
            active_calls.stack.pop()

    def close(self) -> None:
        """Let go of the store (and so of the instance's memory): the call is over. A
        fault's traceback can keep this object alive in a cycle until the next garbage
        collection; the memory must not wait for it."""
        del self.store, self.exports, self.memory, self._alloc, self._free

    def _trap_error(
        self, exc: wasmtime.WasmtimeError | wasmtime.Trap, export: str, running: str
    ) -> ZomehostError:
        if self.fault is not None:
            return self.fault
        size = self.memory.data_len(self.store)
        return trap_error(exc, export, self.limits, size, running)


GUEST_CODE = "in guest code"
START_FUNCTION = "in the zome's start function"
GUEST_ALLOCATOR = "in the guest allocator"


_Wasmtime = TypeVar("_Wasmtime", bound=BaseException)


def _forget_frames(exc: _Wasmtime) -> _Wasmtime:
    """Drop a wasmtime-py exception's traceback: its frames hold the store, and wasmtime-py
    keeps the trap in one of them (a cycle), so the instance's memory would stay allocated
    until the next garbage collection."""
    exc.__traceback__ = None
    return exc


def trap_error(
    exc: wasmtime.WasmtimeError | wasmtime.Trap,
    export: str,
    limits: Limits,
    memory_len: int,
    running: str = GUEST_CODE,
) -> ZomehostError:
    """The typed error for a trap or wasmtime error out of ``export`` (both boundaries);
    ``running``: what the guest was doing, named when the deadline ran out there."""
    code = getattr(exc, "trap_code", None)
    frames = getattr(exc, "frames", None) or []
    names = [f.func_name or f"func[{f.func_index}]" for f in frames]
    where = f" in {' <- '.join(names[:8])}" if names else ""
    if code == wasmtime.TrapCode.INTERRUPT:
        return past_deadline(export, running, limits)
    if code == wasmtime.TrapCode.OUT_OF_FUEL:  # deterministic: not worth a retry
        return LimitExceeded(f"{export} ran out of fuel ({limits.fuel} units)")
    # wasmtime's text is "error while executing at wasm backtrace: <frames> Caused by: <why>"
    lines = [ln.strip() for ln in str(getattr(exc, "message", "") or exc).splitlines()]
    lines = [ln for ln in lines if ln]
    msg = lines[-1].removeprefix("wasm trap: ") if lines else "trap"
    refused = memory.refusal()  # a budget refused a grow in this call tree: that is why
    if refused is not None:
        return OutOfMemory(f"{export} ran out of memory: {refused} ({msg}){where}")
    # A refused memory.grow is not a trap: the guest's allocator sees -1 and aborts. So a
    # trap with memory near the cap (a linear bomb), or an abort with more than half of it
    # in use (a doubling vector whose next doubling was refused), is out of memory.
    cap = limits.memory_bytes
    if memory_len + 65536 * 16 >= cap or (
        code == wasmtime.TrapCode.UNREACHABLE and 2 * memory_len > cap
    ):
        return OutOfMemory(
            f"{export} ran out of memory: {memory_len} bytes in use, cap {cap} ({msg}){where}"
        )
    if code == wasmtime.TrapCode.STACK_OVERFLOW:
        return Trap(f"{export}: stack overflow{where}")
    return Trap(f"{export} trapped: {msg}{where}")


def past_deadline(what: str, running: str, limits: Limits) -> Timeout:
    """The call's deadline ran out while ``running`` (guest code, a host function...)."""
    return Timeout(
        f"{what}: the call ran past its deadline {running} "
        f"(the cell allows at most {limits.timeout_ms} ms)"
    )


def instantiate_error(exc: wasmtime.WasmtimeError | wasmtime.Trap, limits: Limits) -> ZomehostError:
    """The typed error for an instantiation that wasmtime refused or that trapped in the
    start function (both boundaries)."""
    if isinstance(exc, wasmtime.Trap) or getattr(exc, "trap_code", None) is not None:
        return trap_error(exc, "instantiate", limits, 0, START_FUNCTION)
    refused = memory.refusal()
    if refused is not None:  # a budget refused its memory
        return OutOfMemory(f"the zome cannot start: {refused}")
    text = " ".join(str(exc).split())
    if "memory" in text and "limit" in text:  # its initial memory is past the cap
        return OutOfMemory(
            f"the zome cannot start within its memory cap of {limits.memory_bytes} bytes: {text}"
        )
    return RibosomeError(f"cannot instantiate the zome: {text}")


class GuestSide(Protocol):
    """What a host import needs from the guest call it serves (both boundaries)."""

    limits: Limits
    deadline: float
    dispatch: HostDispatch
    fault: ZomehostError | None

    def read(self, store: Any, ptr: int, length: int, what: str) -> bytes: ...

    def write_new(self, store: Any, data: bytes, what: str) -> int: ...

    def memory_len(self) -> int: ...


def reentrant_error(name: str) -> Trap:
    """A host function the guest allocator called while the host served the same call."""
    return Trap(
        f"host function {name} was called from the guest allocator while the host was "
        "writing another host function's result: re-entrant host calls are refused"
    )


def host_input_error(call: GuestSide, name: str, length: int) -> LimitExceeded | None:
    """The error for a host function input of ``length`` bytes, or None when it may run."""
    if length > call.limits.max_host_payload_bytes:
        return LimitExceeded(
            f"host function {name}: input of {length} bytes, "
            f"limit {call.limits.max_host_payload_bytes}"
        )
    return None


def host_result(
    call: GuestSide, name: str, raw: bytes, frame: bool = False
) -> bytes | tuple[bytes]:
    """Decode a host function's input, run it, and encode its ``{"Ok"|"Err"}`` envelope.

    With ``frame``, an ``Ok`` value that is ``bytes`` comes back unencoded as ``(value,)``:
    the native boundary writes its envelope (:func:`ok_bytes_size` bytes, the same as
    ``pack({"Ok": value})``) straight into guest memory.
    Raises the typed error that fails the call (bad input, a breached limit, a deadline)."""
    if len(raw) > on_loop.MAX_BYTES and on_loop.current() is not None:
        on_loop.refuse(f"host function {name} with {len(raw)} bytes of input")
    value = unpack(raw, what=f"host function {name} input")
    err: dict[str, str] | None = None
    try:
        value = call.dispatch(name, value)
    except (DeserializeError, InvalidGuestPointer, LimitExceeded, Timeout, on_loop.Moved):
        raise
    except ZomehostError as exc:
        err = {"kind": exc.kind, "message": exc.message}
    if time.monotonic() >= call.deadline:  # it waited past the deadline: say so
        raise past_deadline(
            f"host function {name}", f"while waiting in host function {name}", call.limits
        )
    framed = frame and err is None and value.__class__ is bytes
    if framed:
        size = ok_bytes_size(len(value))
    else:
        out = OK_PREFIX + pack(value) if err is None else pack({"Err": err})
        size = len(out)
    if size > call.limits.max_host_payload_bytes:
        raise LimitExceeded(
            f"host function {name}: result of {size} bytes, "
            f"limit {call.limits.max_host_payload_bytes}"
        )
    return (value,) if framed else out


def ok_bytes_size(n: int) -> int:
    """The size of ``pack({"Ok": b})`` for ``n`` bytes ``b``: the envelope's map and key,
    msgpack's shortest ``bin`` header, the bytes."""
    return len(OK_PREFIX) + (2 if n < 1 << 8 else 3 if n < 1 << 16 else 5) + n


def serve_host_call(call: GuestSide, name: str, store: Any, ptr: int, length: int) -> int | None:
    """Run host function ``name`` for the guest; return the packed ``(ptr << 32) | len``
    result as a signed i64, or ``None`` with ``call.fault`` set (the caller then traps).

    Never raises: a Python exception must not cross into wasmtime.
    """
    serving = active_calls.serving
    if id(call) in serving:  # the guest allocator called the host while it served the guest
        call.fault = reentrant_error(name)
        return None
    serving.add(id(call))
    try:
        too_big = host_input_error(call, name, length)
        if too_big is not None:
            raise too_big
        raw = call.read(store, ptr, length, f"host function {name} input")
        out = host_result(call, name, raw)
        assert out.__class__ is bytes  # only the native boundary asks for framed bytes
        out_ptr = call.write_new(store, out, f"host function {name} result")
        return ((out_ptr << 32) | len(out)) - (1 << 64 if out_ptr >= 1 << 31 else 0)
    except ZomehostError as exc:
        call.fault = exc
    except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:  # inside the guest allocator
        _forget_frames(exc)
        what = f"host function {name}: the guest allocator"
        fault = trap_error(exc, what, call.limits, call.memory_len(), GUEST_ALLOCATOR)
        call.fault = call.fault or fault
    except Exception as exc:  # never let a Python exception cross into wasmtime
        call.fault = RibosomeError(f"host function {name} failed: {type(exc).__name__}: {exc}")
    finally:
        serving.discard(id(call))
    return None


def _host_import(name: str) -> Callable[..., int]:
    def host_fn(caller: wasmtime.Caller, ptr: int, length: int) -> int:
        stack = active_calls.stack
        call = stack[-1] if stack else None
        if not isinstance(call, GuestCall):  # a start function: no call to serve
            raise wasmtime.Trap(stray_host_call(call, name).message)
        out = serve_host_call(call, name, caller, ptr & _U32, length & _U32)
        if out is None:
            assert call.fault is not None
            raise wasmtime.Trap(call.fault.message)
        return out

    return host_fn


class Boundary:
    """Per-engine crossing machinery: the linker with every host import, InstancePre cache."""

    kind = "public"

    def __init__(self, engine: WasmEngine) -> None:
        self.engine = engine
        self.linker = wasmtime.Linker(engine.engine)
        abi_type = guest_abi_type()  # a FuncType binds to the first engine it is used with
        for name in HOST_FUNCTIONS:
            self.linker.define_func(
                HOST_MODULE, name, abi_type, _host_import(name), access_caller=True
            )
        self._pre: dict[bytes, wasmtime.InstancePre] = {}
        self._lock = threading.Lock()

    def pre(self, zm: ZomeModule) -> wasmtime.InstancePre:
        pre = self._pre.get(zm.wasm_hash.raw)
        if pre is None:
            with self._lock:
                pre = self._pre.get(zm.wasm_hash.raw)
                if pre is None:
                    pre = self.linker.instantiate_pre(zm.module)
                    self._pre[zm.wasm_hash.raw] = pre
        return pre

    def guest_call(
        self, zm: ZomeModule, limits: Limits, deadline: float, dispatch: HostDispatch
    ) -> GuestCall:
        """A fresh instance of ``zm`` for one call."""
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


def run_call(
    boundary: WasmBoundary,
    zm: ZomeModule,
    limits: Limits,
    deadline: float,
    dispatch: HostDispatch,
    export: str,
    payload: bytes,
    what: str,
) -> Any:
    """One whole call on ``boundary``: a guest call, the export, the value of its result
    (:func:`result_value`). A failed call's instance is let go at once, even if the error's
    traceback keeps the call object."""
    guest = boundary.guest_call(zm, limits, deadline, dispatch)
    try:
        raw = guest.invoke(export, payload)
    except BaseException:
        guest.close()
        raise
    return result_value(raw, what)


class GuestInvocation(Protocol):
    def invoke(self, export: str, payload: bytes) -> bytes: ...

    def close(self) -> None: ...


class WasmBoundary(Protocol):
    """What the ribosome needs from a boundary (this module's and the fast path's)."""

    @property
    def kind(self) -> str: ...

    def guest_call(
        self, zm: ZomeModule, limits: Limits, deadline: float, dispatch: HostDispatch
    ) -> GuestInvocation: ...

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
        """:func:`run_call`: the value of ``export``'s result, or the typed error."""
        ...
