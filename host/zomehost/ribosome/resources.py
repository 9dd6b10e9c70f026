"""What a zome module declares that costs host memory outside its linear memory, and the
bounds on it.

wasmtime counts tables, memories and instances per *store*, and the fast boundary keeps
several instances of different zomes in one store per thread: a module that declared many
or huge tables would make the *next* zome's instantiation on that thread fail ("table
count too high"). Every module is therefore bounded by what one instance may hold, at
install and again whenever the conductor loads a module (so one installed before a bound
existed cannot start either), and the store is sized for that many instances of the
largest allowed module (``fastpath``). Tables, globals, functions and segments also size an
instance's host-side state (its vmctx, table storage, segment state), outside the memory
cap: each is bounded.

The scan reads only section headers and the declarations (never function bodies) of a
module wasmtime already validated.
"""

from __future__ import annotations

from dataclasses import dataclass

from zomehost.errors import WasmError
from zomehost.ribosome.wasm_reader import WasmReader

MAX_TABLES = 4  # per instance (defined; zomes import only functions)
MAX_TABLE_ELEMENTS = 100_000  # a table's initial size, and what it may grow to
MAX_MEMORIES = 1  # linear memories per instance: every byte under `memory_bytes`
MAX_GLOBALS = 10_000
MAX_FUNCTIONS = 100_000  # imported and defined
MAX_DATA_SEGMENTS = 100_000
MAX_ELEM_SEGMENTS = 10_000
MAX_ELEM_ITEMS = MAX_TABLES * MAX_TABLE_ELEMENTS  # references in all element segments


@dataclass(frozen=True, slots=True)
class Declared:
    """A module's per-instance resources (besides linear memory pages)."""

    tables: tuple[int, ...]  # initial elements of each table
    memories: int
    globals: int
    functions: int
    data_segments: int
    elem_segments: int
    elem_items: int


class _Scan(WasmReader):
    __slots__ = ()

    def reftype(self) -> None:
        t = self.byte()
        if t in (0x63, 0x64):  # (ref null ht) / (ref ht)
            self.uleb()

    def const_expr(self) -> None:
        """Skip a constant expression: the instructions a validated one may hold."""
        while True:
            op = self.byte()
            if op == 0x0B:
                return
            if op in (0x41, 0x42, 0x23, 0xD2, 0xD0):  # i32/i64.const global.get ref.func null
                self.uleb()
            elif op == 0x43:
                self.skip(4)
            elif op == 0x44:
                self.skip(8)
            elif op == 0xFD:  # v128.const
                self.uleb()
                self.skip(16)
            elif not 0x6A <= op <= 0x7E:  # extended const: add/sub/mul, no immediates
                raise ValueError(f"instruction {op:#04x} in a constant expression")


def declared(wasm: bytes) -> Declared:
    """Count what a (validated) module declares; ValueError when it cannot be read."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a core wasm module")
    r = _Scan(wasm, 8, len(wasm))
    tables: list[int] = []
    memories = globals_ = functions = data = elems = items = 0
    while r.pos < r.end:
        sid = r.byte()
        size = r.uleb()
        body = _Scan(wasm, r.pos, r.pos + size)
        r.skip(size)
        if sid == 2:  # imports
            for _ in range(body.uleb()):
                body.skip(body.uleb())
                body.skip(body.uleb())
                kind = body.byte()
                if kind == 0x00:
                    functions += 1
                    body.uleb()
                elif kind == 0x01:
                    body.reftype()
                    tables.append(body.limits())
                elif kind == 0x02:
                    memories += 1
                    body.limits()
                elif kind == 0x03:
                    globals_ += 1
                    body.reftype()  # its value type
                    body.byte()  # mutability
                else:  # a tag
                    body.byte()
                    body.uleb()
        elif sid == 3:
            functions += body.uleb()
        elif sid == 4:
            for _ in range(body.uleb()):
                if body.data[body.pos] == 0x40:  # a table with an initialiser expression
                    body.skip(2)
                    body.reftype()
                    tables.append(body.limits())
                    body.const_expr()
                else:
                    body.reftype()
                    tables.append(body.limits())
        elif sid == 5:
            memories += body.uleb()
        elif sid == 6:
            globals_ += body.uleb()
        elif sid == 9:
            elems = body.uleb()
            for _ in range(elems):
                items += _elem_items(body)
        elif sid == 11:
            data = body.uleb()
        elif sid == 12:
            data = max(data, body.uleb())
    return Declared(tuple(tables), memories, globals_, functions, data, elems, items)


def _elem_items(r: _Scan) -> int:
    """Skip one element segment; return how many references it holds."""
    flags = r.uleb()
    if flags & 1 == 0:  # active
        if flags & 2:
            r.uleb()  # table index
        r.const_expr()
    if flags & 3:  # an element kind (flags 1-3) or a reference type (5-7) follows
        if flags & 4:
            r.reftype()
        else:
            r.byte()
    n = r.uleb()
    for _ in range(n):
        if flags & 4:
            r.const_expr()
        else:
            r.uleb()
    return n


def check(wasm: bytes, zome_name: str) -> Declared:
    """Refuse (WasmError) a module that declares more than one instance may hold."""
    try:
        d = declared(wasm)
    except (ValueError, IndexError) as exc:
        raise WasmError(f"zome {zome_name!r}: cannot read its declarations: {exc}") from None

    def refuse(what: str, n: int, limit: int) -> None:
        if n > limit:
            raise WasmError(f"zome {zome_name!r} declares {n} {what}, limit {limit}")

    refuse("tables", len(d.tables), MAX_TABLES)
    refuse("elements in a table", max(d.tables, default=0), MAX_TABLE_ELEMENTS)
    refuse("memories", d.memories, MAX_MEMORIES)
    refuse("globals", d.globals, MAX_GLOBALS)
    refuse("functions", d.functions, MAX_FUNCTIONS)
    refuse("data segments", d.data_segments, MAX_DATA_SEGMENTS)
    refuse("element segments", d.elem_segments, MAX_ELEM_SEGMENTS)
    refuse("element segment items", d.elem_items, MAX_ELEM_ITEMS)
    return d
