"""Every zome instance's linear memory, and the budgets every grow is checked against.

wasmtime bounds one memory (``Store`` limits: the per-instance cap, ``memory_bytes``) but
knows nothing of call trees or of other threads. So the engine gets a *memory creator*
(wasmtime's ``MemoryCreator`` through the C API): wasmtime asks it for every linear memory
and for every ``memory.grow``, and it answers from two budgets:

* a **call tree** (:class:`CallTree`): one outermost call and every instance nested in it
  on its thread (inter-zome and bridge calls, ``init``, ``post_commit``, local remote
  signals) share the outermost call's ``memory_bytes``. Memory is charged to the tree when
  it is created or grows, and credited back when it is freed, so a callee's memory counts
  while it is allocated and no longer once its instance is gone (the boundaries free the
  instances of calls that ended, beyond a small per-thread cache);
* the **conductor** (:class:`MemoryBudget`): all running call trees together. When a tree
  ends, its charge leaves the conductor's count.

A refused grow is not a trap: the guest's ``memory.grow`` returns -1 (its allocator
decides); a refused memory fails the instantiation. Either way the tree records why, and
the boundary turns the trap or failure that follows into ``OutOfMemory`` naming the budget
(:func:`refusal`). A memory nobody charged (an instance outside any call tree; a reset
instance reused by a later tree, until it grows: it is at most 256 KiB and bounded by the
per-thread cache) costs no budget.

The memory itself is an anonymous mapping of wasmtime's full reservation (address space
only, ``MAP_NORESERVE``), made accessible as the memory grows; unmapping it when wasmtime
drops the memory returns every page to the system. Linux only: elsewhere wasmtime's own
allocator is kept, and only the per-instance cap applies (:func:`install` says so).
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from ctypes import CFUNCTYPE, POINTER, Structure, c_int, c_long, c_size_t
from ctypes import c_void_p as _ptr
from typing import Any

from zomehost.core.limits import MemoryBudgets

log = logging.getLogger("zomehost.ribosome")

_PROT_NONE, _PROT_RW = 0, 3
_MAP_PRIVATE, _MAP_ANONYMOUS, _MAP_NORESERVE = 0x02, 0x20, 0x4000
_MAP_FAILED = ctypes.c_void_p(-1).value


class MemoryBudget:
    """The conductor-wide budget: bytes of linear memory all running call trees may hold."""

    def __init__(self, budgets: MemoryBudgets | None = None) -> None:
        self.budgets = budgets or MemoryBudgets()
        self.limit = self.budgets.conductor_bytes
        self.used = 0  # bytes charged by the call trees now running


class CallTree:
    """One outermost call and every instance nested in it, on one thread: one budget."""

    __slots__ = ("budget", "charged", "limit", "open", "refused", "thread", "used")

    def __init__(self, budget: MemoryBudget, limit: int, thread: _Thread) -> None:
        self.budget = budget
        self.limit = limit
        self.thread = thread
        self.used = 0  # bytes of linear memory charged to it and not freed yet
        self.charged = False  # whether anything ever was (a memory may point at it then)
        self.open = True
        self.refused: str | None = None  # why the last grow or memory was refused


class _Thread:
    """A thread's call trees (a plain object: one thread-local lookup per call)."""

    __slots__ = ("spare", "tree")

    def __init__(self) -> None:
        self.tree: CallTree | None = None  # the call tree running on this thread
        self.spare: CallTree | None = None  # an ended tree nothing was charged to


class _Local(threading.local):
    def __init__(self) -> None:
        self.thread = _Thread()


_local = _Local()
_lock = threading.Lock()  # guards every budget's and tree's ``used``


def _current() -> CallTree | None:
    return _local.thread.tree


def enter(budget: MemoryBudget, limit: int) -> CallTree | None:
    """Open this thread's call tree for an outermost call (the caller ends it with
    :func:`leave`); None when one is running: the call nests in it."""
    thread = _local.thread
    if thread.tree is not None:
        return None
    tree = thread.spare
    if tree is None or tree.budget is not budget:
        tree = CallTree(budget, limit, thread)
    else:  # most calls charge nothing (a reused instance that does not grow)
        thread.spare = None
        tree.limit, tree.open, tree.refused = limit, True, None
    thread.tree = tree
    return tree


def leave(tree: CallTree) -> None:
    """End the tree: its charge leaves the conductor's count; memory it leaves behind (a
    thread's cached instances) is no longer charged to anyone."""
    thread = tree.thread
    thread.tree = None
    if not tree.charged:  # only this thread charges it: no lock, and it can serve again
        tree.open = False
        thread.spare = tree
        return
    with _lock:
        tree.open = False
        tree.budget.used -= tree.used


def room() -> int | None:
    """Bytes this thread's call tree may still be charged (None: no tree, no budget)."""
    tree = _current()
    if tree is None or not tree.open:
        return None
    with _lock:
        return max(0, min(tree.limit - tree.used, tree.budget.limit - tree.budget.used))


def adopt(base: int) -> bool:
    """Charge this thread's call tree for all of the memory at ``base``: an instance reset
    and reused from a thread's cache, bigger than the uncharged allowance (its earlier tree
    is credited). False, and why on the tree, when the budgets cannot take it."""
    creation = _creation
    tree = _current()
    if creation is None or tree is None:
        return True
    with _lock:
        memory = creation.by_base.get(base)
    if memory is None or memory.tree is tree:
        return True
    if not _charge(tree, memory.size):
        return False
    _credit(memory.tree, memory.charged)
    memory.tree, memory.charged = tree, memory.size
    return True


def refusal() -> str | None:
    """Why this thread's call tree was refused memory, if it was."""
    tree = _current()
    return tree.refused if tree is not None else None


def _charge(tree: CallTree | None, n: int) -> bool:
    """Charge ``n`` bytes to ``tree`` and its conductor budget; False (and why, on the
    tree) when either would go over."""
    if tree is None or not tree.open or n <= 0:
        return True
    budget = tree.budget
    with _lock:
        if tree.used + n > tree.limit:
            tree.refused = (
                f"the call tree's memory budget of {tree.limit} bytes is spent "
                f"({tree.used} bytes in use by its instances, {n} more asked)"
            )
            return False
        if budget.used + n > budget.limit:
            tree.refused = (
                f"the conductor's memory budget of {budget.limit} bytes is spent "
                f"({budget.used} bytes in use by the running calls, {n} more asked)"
            )
            return False
        tree.used += n
        tree.charged = True
        budget.used += n
    return True


def _credit(tree: CallTree | None, n: int) -> None:
    if tree is None or n <= 0:
        return
    with _lock:
        if tree.open:
            tree.used -= n
            tree.budget.used -= n


# -- the memory creator (wasmtime's C API) -------------------------------------------------
_GET = CFUNCTYPE(_ptr, _ptr, POINTER(c_size_t), POINTER(c_size_t))
_GROW = CFUNCTYPE(_ptr, _ptr, c_size_t)
_FINALIZE = CFUNCTYPE(None, _ptr)
_NEW = CFUNCTYPE(_ptr, _ptr, _ptr, c_size_t, c_size_t, c_size_t, c_size_t, _ptr)


class _LinearMemory(Structure):  # wasmtime_linear_memory_t
    _fields_ = (("env", _ptr), ("get_memory", _GET), ("grow_memory", _GROW), ("fin", _FINALIZE))


class _Creator(Structure):  # wasmtime_memory_creator_t
    _fields_ = (("env", _ptr), ("new_memory", _NEW), ("fin", _FINALIZE))


class _Memory:
    """One linear memory: its mapping, its size, and the tree its bytes are charged to."""

    __slots__ = ("base", "capacity", "charged", "mapped", "size", "tree")

    def __init__(self, base: int, size: int, capacity: int, mapped: int) -> None:
        self.base, self.size, self.capacity, self.mapped = base, size, capacity, mapped
        self.tree: CallTree | None = None
        self.charged = 0


class _Creation:
    """The callbacks, the C functions they use, and the memories they made."""

    def __init__(self) -> None:
        from wasmtime import _ffi

        libc = ctypes.CDLL(None, use_errno=True)
        self.mmap = libc.mmap
        self.mmap.restype = _ptr
        self.mmap.argtypes = (_ptr, c_size_t, c_int, c_int, c_int, c_long)
        self.mprotect = libc.mprotect
        self.mprotect.restype = c_int
        self.mprotect.argtypes = (_ptr, c_size_t, c_int)
        self.munmap = libc.munmap
        self.munmap.restype = c_int
        self.munmap.argtypes = (_ptr, c_size_t)
        dll = ctypes.CDLL(str(_ffi.filename), handle=_ffi.dll._handle)
        self.error_new = dll["wasmtime_error_new"]
        self.error_new.restype = _ptr
        self.error_new.argtypes = (ctypes.c_char_p,)
        self.set_creator = dll["wasmtime_config_host_memory_creator_set"]
        self.set_creator.restype = None
        self.set_creator.argtypes = (_ptr, _ptr)
        self.memories: dict[int, _Memory] = {}
        self.by_base: dict[int, _Memory] = {}
        self.next_id = 1
        self.get_cb = _GET(self.get)
        self.grow_cb = _GROW(self.grow)
        self.fin_cb = _FINALIZE(self.finalize)
        self.new_cb = _NEW(self.new)
        # what every memory's wasmtime_linear_memory_t holds, but its env
        self.template = _LinearMemory(None, self.get_cb, self.grow_cb, self.fin_cb)
        self.template_addr = ctypes.addressof(self.template)
        self.template_size = ctypes.sizeof(_LinearMemory)
        self.creator = _Creator(None, self.new_cb, _FINALIZE())

    def error(self, message: str) -> int:
        return int(self.error_new(message.encode("utf-8", "replace")) or 0)

    # Every callback catches everything: ctypes would swallow an exception and wasmtime
    # would take the zeroed result for a success.
    def new(
        self,
        env: int | None,
        ty: int | None,
        minimum: int,
        maximum: int,
        reserved: int,
        guard: int,
        ret: int | None,
    ) -> int:
        try:
            # memory_may_move is off: the mapping must hold every size the memory may reach
            capacity = reserved or min(maximum, 1 << 32)
            if minimum > capacity:
                return self.error(f"a memory of {minimum} bytes exceeds its reservation")
            tree = _current()
            if not _charge(tree, minimum):
                return self.error(refusal() or "memory budget spent")
            mapped = capacity + guard
            flags = _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NORESERVE
            base = self.mmap(None, mapped, _PROT_NONE, flags, -1, 0)
            if base is None or base == _MAP_FAILED:
                _credit(tree, minimum)
                return self.error(f"cannot map {mapped} bytes of address space")
            if minimum and self.mprotect(base, minimum, _PROT_RW) != 0:
                self.munmap(base, mapped)
                _credit(tree, minimum)
                return self.error(f"cannot make {minimum} bytes of memory accessible")
            memory = _Memory(base, minimum, capacity, mapped)
            memory.tree, memory.charged = tree, minimum if tree is not None else 0
            with _lock:
                key = self.next_id
                self.next_id += 1
                self.memories[key] = memory
                self.by_base[base] = memory
            out = ret or 0
            ctypes.memmove(out, self.template_addr, self.template_size)  # the callbacks
            _ptr.from_address(out).value = key  # env
            return 0
        except BaseException as exc:
            return self.error(f"cannot create a memory: {type(exc).__name__}: {exc}")

    def get(self, env: int | None, size: Any, capacity: Any) -> int:
        try:
            memory = self.memories[env or 0]
            size[0] = memory.size
            capacity[0] = memory.capacity
            return memory.base
        except BaseException:
            return 0

    def grow(self, env: int | None, new_size: int) -> int:
        try:
            memory = self.memories[env or 0]
            delta = new_size - memory.size
            if delta <= 0:
                return 0
            if new_size > memory.capacity:
                return self.error("a memory cannot grow past its reservation")
            tree = _current()
            # a memory charged to an earlier tree (an instance reused from a thread's
            # cache) is charged in full to the tree that grows it
            moved = memory.tree is not tree
            need = new_size if moved else delta
            if not _charge(tree, need):
                return self.error(refusal() or "memory budget spent")
            if self.mprotect(memory.base + memory.size, delta, _PROT_RW) != 0:
                _credit(tree, need)
                return self.error(f"cannot make {delta} more bytes of memory accessible")
            if moved:
                _credit(memory.tree, memory.charged)
                memory.tree, memory.charged = tree, 0
            if tree is not None:
                memory.charged += need
            memory.size = new_size
            return 0
        except BaseException as exc:
            return self.error(f"cannot grow a memory: {type(exc).__name__}: {exc}")

    def finalize(self, env: int | None) -> None:
        try:
            with _lock:
                memory = self.memories.pop(env or 0)
                self.by_base.pop(memory.base, None)
            _credit(memory.tree, memory.charged)
            self.munmap(memory.base, memory.mapped)
        except BaseException:  # never into wasmtime; a leaked mapping is the worst case
            log.exception("could not free a zome's linear memory")


_creation: _Creation | None = None
_creation_lock = threading.Lock()


def install(config_ptr: Any) -> None:
    """Make this module the memory creator of the engine configured by ``config_ptr``
    (where it cannot run, the budgets are not enforced, and the log says so)."""
    global _creation
    if sys.platform != "linux" or ctypes.sizeof(ctypes.c_void_p) != 8:
        log.warning("zome memory budgets need 64-bit Linux: only the per-instance cap applies")
        return
    with _creation_lock:
        if _creation is None:
            _creation = _Creation()
            # wasmtime may call back while the interpreter tears down (a store freed late):
            # the callbacks must outlive every module global, so they are never freed
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(_creation))
    config = ctypes.cast(config_ptr, _ptr).value
    _creation.set_creator(config, ctypes.addressof(_creation.creator))
