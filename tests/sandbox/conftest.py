"""Fixtures for the sandbox tests: a conductor with hostile and well-behaved cells, on each
way into a guest (testbed.BOUNDARY_PATHS: the native path, the default, and the ctypes
C-API path, each with instance reuse on and off, and the public wasmtime-py path, the last
fallback)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from zomehost.core.hash import CellId
from zomehost.fuzz.testbed import BOUNDARY_PATHS, TestBed, wat

# Tight limits so breaches are quick; the defaults are checked in test_limits_config.py.
LIMITS = {
    "timeout_ms": 1000,
    "max_writes_per_call": 200,
    "max_write_bytes_per_call": 8 * 1024 * 1024,
}
BOUNDARIES = tuple(BOUNDARY_PATHS)


@pytest.fixture(scope="module", params=BOUNDARIES)
def bed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestBed]:
    tb = TestBed(
        Path(tmp_path_factory.mktemp(f"sandbox-{request.param}")) / "home",
        LIMITS,
        boundary=request.param,
    )
    kind, reuse = BOUNDARY_PATHS[request.param]
    boundary = tb.conductor.ribosome.boundary
    assert boundary.kind == kind and getattr(boundary, "reuse", None) == reuse
    yield tb
    tb.close()


@pytest.fixture(scope="module")
def hostile(bed: TestBed) -> CellId:
    cell = bed.install({"hostile": wat("hostile")}, app_id="hostile")
    bed.call(cell, "hostile", "ok")  # genesis' init step, so chain lengths below are stable
    return cell


@pytest.fixture(scope="module")
def writer(bed: TestBed) -> CellId:
    cell = bed.install({"writer": wat("writer")}, app_id="writer")
    bed.call(cell, "writer", "ok")
    return cell


def host_raw(index: int, mode: int, ptr: int = 0, length: int = 0, data: bytes = b"") -> bytes:
    """The input of hostile.host_raw: call host function ``index`` with a raw (ptr, len)
    (mode 0) or with ``data`` copied into guest memory (mode 1)."""
    return struct.pack("<BBII", index, mode, ptr & 0xFFFFFFFF, length & 0xFFFFFFFF) + data
