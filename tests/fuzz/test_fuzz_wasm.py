"""Fuzz the wasm an admin installs: damaged modules are refused at install with a typed
WasmError/BundleError (never a crash of the compiler or the host); the ones that still
compile and pass the install checks run only with typed errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given

from zomehost.errors import ZomehostError
from zomehost.fuzz import targets as t
from zomehost.fuzz.testbed import TestBed, wat

from .conftest import budget, count
from .strategies import mutated

SEEDS = [wat("writer"), wat("hostile"), wat("signal_loop")]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    tb = TestBed(Path(tmp_path_factory.mktemp("wasm")) / "home", {"timeout_ms": 300})
    yield tb
    tb.close()


@budget(600)
@given(mutated(SEEDS))
def test_damaged_modules(bed: TestBed, wasm: bytes) -> None:
    try:
        t.typed(lambda: bed.conductor.engine.check(wasm, "z"))
    except t.Expected:
        count("wasm modules", expected=True)
        return
    count("wasm modules")
    try:  # it compiled and passed the checks: install it and call what it exports
        cell = bed.install({"z": wasm})
        zm = bed.conductor.cell(cell).zome("z")[1]
    except ZomehostError:
        return
    for fn in zm.functions[:4]:
        if fn in ("spin", "flood_sys_time", "flood_trace", "write_then", "alloc_mode"):
            continue
        with contextlib.suppress(t.Expected):
            t.typed(lambda fn=fn: bed.call(cell, "z", fn))  # type: ignore[misc]
