"""What one instance may declare outside its linear memory (ribosome/resources.py): tables,
elements, memories, globals, functions, segments. Refused at install and again when a
module is loaded; and no zome's declarations may make another zome's call fail, on any
way into a guest (the fast boundary keeps instances of many zomes in one store per thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from zomehost.core.hash import CellId
from zomehost.errors import WasmError
from zomehost.fuzz.testbed import TestBed, wat
from zomehost.ribosome import resources
from zomehost.ribosome.engine import HOST_FUNCTIONS

from .conftest import BOUNDARIES

ABI = """
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "__zh_free") (param i32 i32))
  (data (i32.const 16) "\\81\\a2Ok\\c0")
  (func (export "ok") (param i32 i32) (result i64) (i64.const 0x1000000005))
"""


def module(declarations: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {declarations} {ABI})"))


def lines(n: int, text: str) -> str:
    return "\n".join(text.format(i=i) for i in range(n))


OVER = {
    "tables": (lines(5, "(table 1 funcref)"), "declares 5 tables, limit 4"),
    "elements": ("(table 100001 funcref)", "100001 elements in a table, limit 100000"),
    "globals": (lines(resources.MAX_GLOBALS + 1, "(global i32 (i32.const 0))"), "globals"),
    "functions": (lines(resources.MAX_FUNCTIONS, "(func)"), "functions"),  # + the ABI's 3
    "data segments": (lines(resources.MAX_DATA_SEGMENTS + 1, '(data "")'), "data segments"),
    "element segments": (lines(resources.MAX_ELEM_SEGMENTS + 1, "(elem func)"), "element seg"),
    "element items": (
        "(func $f) (elem func " + " ".join(["$f"] * (resources.MAX_ELEM_ITEMS + 1)) + ")",
        "element segment items",
    ),
}


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    tb = TestBed(Path(tmp_path_factory.mktemp("resources")) / "home")
    yield tb
    tb.close()


@pytest.mark.parametrize("what", sorted(OVER))
def test_one_past_each_bound_is_refused_at_install(bed: TestBed, what: str) -> None:
    declarations, match = OVER[what]
    before = bed.conductor.list_apps()
    with pytest.raises(WasmError, match=match):
        bed.install({"z": module(declarations)})
    assert bed.conductor.list_apps() == before


def test_at_the_bounds_installs(bed: TestBed) -> None:
    at = "(func $f) " + lines(4, "(table 100000 funcref)")
    at += lines(resources.MAX_GLOBALS, "(global i32 (i32.const 0))")
    at += "(elem (table 0) (i32.const 0) func " + " ".join(["$f"] * 1000) + ")"
    cell = bed.install({"z": module(at)})
    assert bed.call(cell, "z", "ok") is None


def test_the_scan_counts_every_kind_of_declaration() -> None:
    wasm = wasmtime.wat2wasm(
        """(module (table 3 funcref) (table 5 externref) (memory 1)
        (global i32 (i32.const 1)) (global (mut i64) (i64.const 1)) (func $a) (func $b)
        (elem (i32.const 0) $a $b) (elem funcref (ref.func $a)) (elem declare func $b)
        (elem (table 1) (i32.const 0) externref (ref.null extern))
        (data (i32.const 0) "ab") (data "passive"))"""
    )
    d = resources.declared(bytes(wasm))
    assert d == resources.Declared((3, 5), 1, 2, 2, 2, 4, 5)
    # hostile.wat holds every host function in its $host table, and an empty $scratch one
    assert resources.declared(wat("hostile")).tables == (len(HOST_FUNCTIONS), 0)


@pytest.fixture(scope="module", params=BOUNDARIES)
def path_bed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestBed]:
    tb = TestBed(
        Path(tmp_path_factory.mktemp(f"resources-{request.param}")) / "home",
        {"timeout_ms": 2000},
        boundary=request.param,
    )
    yield tb
    tb.close()


def test_the_largest_allowed_zome_never_fails_its_neighbours(path_bed: TestBed) -> None:
    """4 tables of 100,000 elements, instantiated again and again on this thread between
    other zomes (each with tables of their own): every call of every zome succeeds, and
    its tables cannot grow past the bound."""
    bed = path_bed
    big = bed.install({"max_tables": wat("max_tables")})
    hostile = bed.install({"hostile": wat("hostile")})
    writer = bed.install({"writer": wat("writer")})
    # zomes of distinct modules, so no instance is reused: each takes room in the store
    others: list[CellId] = [
        bed.install({"z": module(f"(table {i + 1} funcref) (global i32 (i32.const {i}))")})
        for i in range(5)
    ]
    for _ in range(40):
        assert bed.call(big, "max_tables", "ok") is None
        assert bed.call(big, "max_tables", "grow") is None  # growth past 100,000 refused
        assert bed.call(hostile, "hostile", "ok") is None
        assert bed.call(hostile, "hostile", "table_bomb") is None
        assert bed.call(writer, "writer", "ok") is None
        for cell in others:
            assert bed.call(cell, "z", "ok") is None


def test_a_module_stored_before_the_bounds_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that was installed (and compiled into the disk cache) when the bounds were
    wider is refused when loaded, before it takes any room; its neighbours go on."""
    bed = TestBed(tmp_path / "home", {"timeout_ms": 2000})
    try:
        with monkeypatch.context() as m:
            m.setattr(resources, "MAX_TABLES", 64)
            old = bed.install({"old": wat("refused/many_tables")})
        writer = bed.install({"writer": wat("writer")})
        bed.close()
        bed.conductor = bed.open()  # a restart: the module comes from the disk cache
        for _ in range(3):
            with pytest.raises(WasmError, match="declares 60 tables, limit 4"):
                bed.call(old, "old", "ok")
            assert bed.call(writer, "writer", "ok") is None
    finally:
        bed.close()
