"""Fuel (optional instruction budget) and wall-clock deadlines, from the conductor config
and narrowed per DNA; both end a call with a typed error and write nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zomehost.errors import LimitExceeded, Timeout
from zomehost.fuzz.testbed import TestBed, wat

from .conftest import BOUNDARIES


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_fuel_exhaustion_is_limit_exceeded(tmp_path: Path, boundary: str) -> None:
    bed = TestBed(tmp_path / "h", {"timeout_ms": 5000, "fuel": 50_000_000}, boundary=boundary)
    try:
        assert bed.conductor.engine.fuel
        cell = bed.install({"hostile": wat("hostile")})
        narrow = bed.install({"hostile": wat("hostile")}, limits={"fuel": 100_000})
        for c in (cell, narrow):
            assert bed.call(c, "hostile", "ok") is None  # plenty for a normal call
        before = bed.chain_len(cell)
        start = time.monotonic()
        with pytest.raises(LimitExceeded, match=r"ran out of fuel \(50000000 units\)"):
            bed.call(cell, "hostile", "spin")
        with pytest.raises(LimitExceeded, match="ran out of fuel"):
            bed.call(cell, "hostile", "write_then", 1)  # a write, then a spin
        assert time.monotonic() - start < 5  # fuel, not the 5 s deadline, stopped them
        assert bed.chain_len(cell) == before
        with pytest.raises(LimitExceeded, match=r"\(100000 units\)"):  # the DNA's own budget
            bed.call(narrow, "hostile", "spin")
        # fuel spent inside the guest allocator, while the host writes a result
        with pytest.raises(LimitExceeded, match="ran out of fuel"):
            bed.call(narrow, "hostile", "alloc_mode", 5)
    finally:
        bed.close()


def test_deadline_from_config_and_dna(tmp_path: Path) -> None:
    bed = TestBed(tmp_path / "h", {"timeout_ms": 1500})
    try:
        cell = bed.install({"hostile": wat("hostile")})
        quick = bed.install({"hostile": wat("hostile")}, limits={"timeout_ms": 200})
        for c, seconds in ((cell, 1.5), (quick, 0.2)):
            bed.call(c, "hostile", "ok")
            start = time.monotonic()
            with pytest.raises(Timeout, match=f"at most {int(seconds * 1000)} ms"):
                bed.call(c, "hostile", "spin")
            elapsed = time.monotonic() - start
            assert seconds <= elapsed + 0.01 < seconds + 0.75, elapsed
        # a caller may ask for less time than the cell allows
        start = time.monotonic()
        with pytest.raises(Timeout):
            bed.call(cell, "hostile", "spin", timeout_ms=100)
        assert time.monotonic() - start < 0.75
        # ... never for more
        start = time.monotonic()
        with pytest.raises(Timeout):
            bed.call(quick, "hostile", "spin", timeout_ms=60_000)
        assert time.monotonic() - start < 0.95
    finally:
        bed.close()
