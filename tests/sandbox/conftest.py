"""Fixtures for the sandbox tests: a conductor with hostile and well-behaved cells."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zomehost.core.hash import CellId
from zomehost.fuzz.testbed import TestBed, wat

# Tight limits so breaches are quick; the defaults are checked in test_limits_config.py.
LIMITS = {"timeout_ms": 1500, "max_writes_per_call": 200}


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    tb = TestBed(Path(tmp_path_factory.mktemp("sandbox")) / "home", LIMITS)
    yield tb
    tb.close()


@pytest.fixture(scope="module")
def hostile(bed: TestBed) -> CellId:
    return bed.install({"hostile": wat("hostile")}, app_id="hostile")


@pytest.fixture(scope="module")
def writer(bed: TestBed) -> CellId:
    return bed.install({"writer": wat("writer")}, app_id="writer")
