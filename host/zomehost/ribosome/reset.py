"""Which zome modules may reuse an instance, and the rewrite that makes their reset complete.

An instance may serve a second call only if everything the first call could change can be
put back to the state of a fresh instance. With threads, GC, exceptions, multi-memory,
memory64 and stack switching disabled (engine.py), an instance's mutable state is:

1. its linear memory: contents and size;
2. its mutable globals, including the ones it does not export;
3. its tables: contents and size;
4. the dropped state of its passive data and element segments.

:func:`instrument` decodes the module and accepts it for reuse only when (3) and (4) cannot
change after instantiation, by construction: no instruction that writes a table
(``table.set``/``grow``/``fill``/``copy``/``init``) and none that drops a segment
(``data.drop``/``elem.drop``) appears in any function body. An instruction the decoder
does not know (SIMD, and every proposal the engine disables) makes the module ineligible:
the decision errs on the side of a fresh instance. For (2) it rewrites the module to export
every defined mutable global under a reserved name (``__zh_reset_g<index>``), and marks an
accepted module with one more export of its memory (``__zh_reset_memory``); the marker
travels with the compiled module through the on-disk cache. The fast boundary restores (1)
and (2) from a snapshot taken right after instantiation, and discards an instance whose
memory grew (fastpath.py). Nothing in the rewrite changes what the module computes.

A zome that exports a reserved ``__zh_reset`` name itself is refused at install: otherwise
it could claim eligibility without this analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

from zomehost.errors import WasmError
from zomehost.ribosome.wasm_reader import MalformedWasm, WasmReader

RESET_VERSION = 1  # part of the module cache key: bump when the rewrite changes
RESERVED_PREFIX = "__zh_reset"
MARKER = "__zh_reset_memory"
GLOBAL_PREFIX = "__zh_reset_g"

_NUMERIC = {0x7F, 0x7E, 0x7D, 0x7C}  # i32 i64 f32 f64: the globals a raw value can restore
_FORBIDDEN_FC = {9: "data.drop", 12: "table.init", 13: "elem.drop", 14: "table.copy"}
_FORBIDDEN_FC |= {15: "table.grow", 17: "table.fill"}


class _Ineligible(Exception):
    """The module is valid as far as we know, but its reset would not be complete."""


@dataclass(frozen=True, slots=True)
class Instrumented:
    """The bytes to compile, and why the module is not reusable (``None``: it is)."""

    wasm: bytes
    ineligible: str | None


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _memarg(r: WasmReader) -> None:
    align = r.uleb()
    if align & 0x40:  # a memory index follows (multi-memory: disabled, but decode it)
        r.uleb()
    r.uleb()


def _expr(r: WasmReader) -> None:
    """Decode instructions up to the ``end`` that closes the expression."""
    depth = 0
    while True:
        op = r.byte()
        if op == 0x0B:
            if depth == 0:
                return
            depth -= 1
        elif op in (0x02, 0x03, 0x04):  # block, loop, if
            depth += 1
            bt = r.sleb()
            if bt in (-29, -28):  # 0x63 / 0x64: a reference type's heap type follows
                r.sleb()
        elif op <= 0x01 or op == 0x05 or op == 0x0F or op in (0x1A, 0x1B, 0xD1, 0xD4):
            pass  # unreachable nop else return drop select ref.is_null ref.as_non_null
        elif op in (0x0C, 0x0D, 0x10, 0x12, 0x14, 0x15, 0xD2, 0xD5, 0xD6, 0x25):
            r.uleb()  # br br_if call return_call call_ref return_call_ref ref.func br_on_*
        elif 0x20 <= op <= 0x24:  # local.* global.*
            r.uleb()
        elif op in (0x11, 0x13):  # call_indirect, return_call_indirect
            r.uleb()
            r.uleb()
        elif op == 0x0E:  # br_table
            for _ in range(r.uleb() + 1):
                r.uleb()
        elif op == 0x1C:  # select t*
            for _ in range(r.uleb()):
                r.valtype()
        elif 0x28 <= op <= 0x3E:  # loads and stores
            _memarg(r)
        elif op in (0x3F, 0x40):  # memory.size, memory.grow
            r.uleb()
        elif op == 0x41 or op == 0x42:
            r.sleb()
        elif op == 0x43:
            r.skip(4)
        elif op == 0x44:
            r.skip(8)
        elif 0x45 <= op <= 0xC4:  # numeric, sign extension: no immediates
            pass
        elif op == 0xD0:  # ref.null
            r.sleb()
        elif op == 0x26:
            raise _Ineligible("it writes a table (table.set)")
        elif op == 0xFC:
            sub = r.uleb()
            if sub in _FORBIDDEN_FC:
                raise _Ineligible(f"it uses {_FORBIDDEN_FC[sub]}")
            if sub <= 7:  # saturating truncations
                pass
            elif sub in (8, 10):  # memory.init, memory.copy
                r.uleb()
                r.uleb()
            elif sub in (11, 16):  # memory.fill, table.size
                r.uleb()
            else:
                raise _Ineligible(f"instruction 0xfc {sub} is not known to the reset check")
        else:
            raise _Ineligible(f"instruction {op:#04x} is not known to the reset check")


def _check_code(r: WasmReader) -> None:
    for _ in range(r.uleb()):
        size = r.uleb()
        end = r.pos + size
        body = WasmReader(r.data, r.pos, end)
        for _ in range(body.uleb()):  # local declarations
            body.uleb()
            body.valtype()
        _expr(body)
        if body.pos != end:
            raise _Ineligible("a function body did not decode to its declared size")
        r.pos = end


def instrument(wasm: bytes, zome_name: str) -> Instrumented:
    """Rewrite ``wasm`` for instance reuse when its reset can be complete (module doc)."""
    try:
        return _instrument(wasm, zome_name)
    except (_Ineligible, MalformedWasm) as why:
        return Instrumented(wasm, str(why))


def _instrument(wasm: bytes, zome_name: str) -> Instrumented:
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise _Ineligible("not a core wasm module")
    r = WasmReader(wasm, 8)
    mutable: list[int] = []
    exports: list[tuple[bytes, int, int]] = []
    export_span: tuple[int, int] | None = None  # the export section, header included
    insert_at = len(wasm)  # where a new export section would go (before start/elem/code...)
    memories = 0
    while r.pos < r.end:
        start = r.pos
        sid = r.byte()
        size = r.uleb()
        body = WasmReader(wasm, r.pos, r.pos + size)
        if r.pos + size > r.end:
            raise _Ineligible("truncated section")
        if sid in (8, 9, 10, 11, 12) and insert_at == len(wasm):
            insert_at = start
        if sid == 2:  # imports: zomes import host functions only (engine.check)
            for _ in range(body.uleb()):
                body.name()
                body.name()
                if body.byte() != 0x00:
                    raise _Ineligible("it imports something other than functions")
                body.uleb()
        elif sid == 5:
            memories += body.uleb()
        elif sid == 6:
            for index in range(body.uleb()):
                t = body.valtype()
                if body.byte() & 1:
                    if t not in _NUMERIC:
                        raise _Ineligible("it has a mutable global that is not a number")
                    mutable.append(index)
                _expr(body)
        elif sid == 7:
            export_span = (start, r.pos + size)
            for _ in range(body.uleb()):
                name = body.name()
                kind = body.byte()
                exports.append((name, kind, body.uleb()))
        elif sid == 10:
            _check_code(body)
        elif sid == 13:
            raise _Ineligible("it declares exception tags")
        r.pos += size
    reserved = [n for n, _, _ in exports if n.startswith(RESERVED_PREFIX.encode())]
    if reserved:
        raise WasmError(
            f"zome {zome_name!r} exports {reserved[0].decode(errors='replace')!r}: names "
            f"starting with "
            f"{RESERVED_PREFIX!r} are reserved for the host"
        )
    if memories != 1:
        raise _Ineligible(f"it defines {memories} memories, not one")
    added = [(f"{GLOBAL_PREFIX}{i}".encode(), 3, i) for i in mutable]
    added.append((MARKER.encode(), 2, 0))
    entries = b"".join(
        _uleb(len(name)) + name + bytes([kind]) + _uleb(index)
        for name, kind, index in exports + added
    )
    content = _uleb(len(exports) + len(added)) + entries
    section = b"\x07" + _uleb(len(content)) + content
    if export_span is not None:
        a, b = export_span
        return Instrumented(wasm[:a] + section + wasm[b:], None)
    return Instrumented(wasm[:insert_at] + section + wasm[insert_at:], None)
