"""The C-level floor: the least any Python host can do for one zome call.

The same bench_echo module, compiled by zomehost's engine, driven straight through wasmtime's
C API with ctypes (declared with plain argument types, as in ``ribosome/fastpath.py``): one
instance made once and reused with no reset and no limits, a ``memoryview`` over guest
memory, a raw callback for the one host function (``random_bytes``: msgpack int in, the
``{"Ok": bytes}`` envelope out through the guest's allocator), the result envelope decoded.
Everything zomehost adds on top — a fresh state per call, deadlines, limits, typed errors,
the host-function table — is what the ``inproc_*_over_floor`` ratios measure.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import c_int64, c_size_t, c_void_p
from typing import Any

import msgpack
import wasmtime

from zomehost.ribosome import fastpath
from zomehost.ribosome.engine import WasmEngine

_U32 = 0xFFFFFFFF
_CALLBACK = ctypes.CFUNCTYPE(c_size_t, c_void_p, c_void_p, ctypes.POINTER(c_int64), c_size_t)


class Floor:
    """bench_echo on one instance, called through the C API (see the module doc)."""

    def __init__(self, engine: WasmEngine, module: wasmtime.Module) -> None:
        c = fastpath._lib()
        self.c = c
        self.module = module
        self.store = wasmtime.Store(engine.engine)
        self.store.set_epoch_deadline(1 << 40)
        self.ctx: int = ctypes.cast(self.store._context(), c_void_p).value or 0
        linker = wasmtime.Linker(engine.engine)
        ty = wasmtime.FuncType(
            [wasmtime.ValType.i32(), wasmtime.ValType.i32()], [wasmtime.ValType.i64()]
        )
        self._callbacks = [_CALLBACK(self._random_bytes), _CALLBACK(self._refuse)]
        linker_ptr = ctypes.cast(linker.ptr(), c_void_p).value
        type_ptr = ctypes.cast(ty.ptr(), c_void_p).value
        for imp in self.module.imports:
            namespace, name = imp.module.encode(), str(imp.name).encode()
            cb = self._callbacks[0 if name == b"random_bytes" else 1]
            err = c.define_unchecked(
                linker_ptr, namespace, len(namespace), name, len(name), type_ptr, cb, None, None
            )
            assert not err, "cannot define a host function"
        self._keep = (linker, ty)
        exports = linker.instantiate(self.store, self.module).exports(self.store)
        self._exports = exports

        def addr(name: str) -> int:
            item: Any = exports[name]
            raw = item._func if isinstance(item, wasmtime.Func) else item._memory
            return ctypes.addressof(raw)

        self.memory = addr("memory")
        self.alloc, self.free = addr("__zh_alloc"), addr("__zh_free")
        self.funcs = {n: addr(n) for n in ("echo_1k", "noop")}
        self.vals = (c_int64 * 4)()
        self.aux = (c_int64 * 4)()
        self.trap = c_void_p()
        self.vals_addr, self.aux_addr = ctypes.addressof(self.vals), ctypes.addressof(self.aux)
        self.trap_addr = ctypes.addressof(self.trap)
        self.size = 0
        self.view = memoryview(b"")
        self._refresh()

    def _refresh(self) -> None:
        c = self.c
        size = c.memory_data_size(self.ctx, self.memory)
        if size != self.size:
            self.size = size
            self.view = c.memoryview(c.memory_data(self.ctx, self.memory), size, 0x200)

    def _alloc(self, n: int) -> int:
        self.aux[0] = n
        assert not self.c.call(self.ctx, self.alloc, self.aux_addr, 1, self.trap_addr)
        assert not self.trap.value
        self._refresh()
        return int(self.aux[0]) & _U32

    def _random_bytes(self, env: Any, caller: Any, args: Any, nargs: int) -> int:
        ptr, length = args[0] & _U32, args[2] & _U32
        n = msgpack.unpackb(self.view[ptr : ptr + length])
        out = msgpack.packb({"Ok": os.urandom(n)})
        dst = self._alloc(len(out))
        self.view[dst : dst + len(out)] = out
        args[0] = (dst << 32) | len(out)
        return 0

    def _refuse(self, env: Any, caller: Any, args: Any, nargs: int) -> int:
        return int(self.c.new_trap("not available in the floor harness"))

    def call(self, export: str, payload: bytes) -> Any:
        """Call ``export`` with msgpack ``payload``; the decoded ``Ok`` value."""
        c = self.c
        n = len(payload)
        ptr = self._alloc(n)
        self.view[ptr : ptr + n] = payload
        vals = self.vals
        vals[0], vals[2] = ptr, n
        assert not c.call(self.ctx, self.funcs[export], self.vals_addr, 2, self.trap_addr)
        assert not self.trap.value
        self._refresh()
        packed = int(vals[0])
        out_ptr, out_len = (packed >> 32) & _U32, packed & _U32
        out = self.view[out_ptr : out_ptr + out_len].tobytes()
        self.aux[0], self.aux[2] = out_ptr, out_len
        assert not c.call(self.ctx, self.free, self.aux_addr, 2, self.trap_addr)
        return msgpack.unpackb(out)["Ok"]
