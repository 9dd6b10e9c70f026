"""A cursor over the wasm binary format: the one reader ``reset`` and ``resources`` share.

wasmtime validates and compiles modules but exposes no decoder for their sections, and no
well-kept Python library reads them (the PyPI ones are unmaintained): these few primitives
of the binary format (bytes, LEB128 integers, names, value and reference types, limits) are
all the install checks need. Malformed input is a :class:`MalformedWasm`, never an index
error or a runaway loop.
"""

from __future__ import annotations

_REF_PREFIX = frozenset({0x63, 0x64})  # (ref null ht), (ref ht): a heap type follows


class MalformedWasm(ValueError):
    """The bytes end early or hold an integer longer than LEB128 allows."""


class WasmReader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise MalformedWasm("truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise MalformedWasm("LEB128 too long")

    def sleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result - (1 << shift) if b & 0x40 else result
            if shift > 70:
                raise MalformedWasm("LEB128 too long")

    def skip(self, n: int) -> None:
        if self.pos + n > self.end:
            raise MalformedWasm("truncated")
        self.pos += n

    def name(self) -> bytes:
        n = self.uleb()
        start = self.pos
        self.skip(n)
        return self.data[start : self.pos]

    def valtype(self) -> int:
        t = self.byte()
        if t in _REF_PREFIX:
            self.sleb()  # heap type
        return t

    def limits(self) -> int:
        """A table's or memory's limits; returns the minimum."""
        flags = self.byte()
        minimum = self.uleb()
        if flags & 1:
            self.uleb()
        return minimum
