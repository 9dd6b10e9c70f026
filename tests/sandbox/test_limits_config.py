"""Limits: safe defaults, the conductor config, and per-DNA narrowing (dna.yaml `limits:`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zomehost.conductor.packing import read_dna_dir
from zomehost.core.bundle import Bundle, DnaFile
from zomehost.core.limits import Limits, MemoryBudgets
from zomehost.errors import BundleError, InvalidInput, LimitExceeded
from zomehost.fuzz.testbed import TestBed, dna, wat


def test_defaults_are_finite() -> None:
    lim = Limits()
    assert lim.timeout_ms == 10_000
    assert lim.memory_bytes == 64 * 1024 * 1024
    assert lim.max_call_depth == 16
    for name in ("max_input_bytes", "max_output_bytes", "max_entry_bytes"):
        assert 0 < getattr(lim, name) <= 64 * 1024 * 1024


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(InvalidInput, match=r"unknown key limits\.nope"):
        Limits.from_config({"nope": 1})
    for bad in (0, -5, "10", 1.5, True):
        with pytest.raises(InvalidInput):
            Limits.from_config({"timeout_ms": bad})
    assert Limits.from_config({"fuel": None}).fuel is None


def test_narrowing_only_tightens() -> None:
    base = Limits(timeout_ms=5000, fuel=None)
    n = base.narrowed({"timeout_ms": 60_000, "max_call_depth": 4, "fuel": 1000})
    assert n.timeout_ms == 5000  # a DNA cannot widen
    assert n.max_call_depth == 4  # but can narrow
    assert n.fuel == 1000
    assert base.narrowed(None) == base


def test_dna_manifest_limits_round_trip() -> None:
    d = dna({"w": wat("writer")}, limits={"timeout_ms": 300, "max_entry_bytes": 10})
    assert d.manifest.limits == {"timeout_ms": 300, "max_entry_bytes": 10}
    back = DnaFile.from_bundle(Bundle.decode(d.to_bundle().encode()))
    assert back.manifest.limits == d.manifest.limits
    assert back.with_modifiers("other-seed", None).manifest.limits == d.manifest.limits
    # limits are local policy, not DNA identity
    assert dna({"w": wat("writer")}).hash == d.hash


def test_dna_manifest_bad_limits_refused() -> None:
    typo = r"unknown key limits\.timeout \(did you mean limits\.timeout_ms\?\)"
    with pytest.raises(BundleError, match=typo):
        dna({"w": wat("writer")}, limits={"timeout": 5})
    with pytest.raises(BundleError, match="positive integer"):
        dna({"w": wat("writer")}, limits={"timeout_ms": -1})
    with pytest.raises(BundleError):
        dna({"w": wat("writer")}, limits=["timeout_ms"])  # type: ignore[arg-type]


def test_dna_dir_packing_keeps_limits(tmp_path: Path) -> None:
    (tmp_path / "w.wasm").write_bytes(wat("writer"))
    (tmp_path / "dna.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "d",
                "coordinator": {"zomes": [{"name": "w", "path": "w.wasm"}]},
                "limits": {"max_entry_bytes": 64},
            }
        )
    )
    assert read_dna_dir(tmp_path).manifest.limits == {"max_entry_bytes": 64}


def test_cell_limits_are_narrowed_by_the_dna(tmp_path: Path) -> None:
    bed = TestBed(tmp_path / "h", {"timeout_ms": 4000, "max_entry_bytes": 1 << 20})
    try:
        narrow = bed.install({"writer": wat("writer")}, limits={"max_entry_bytes": 64})
        wide = bed.install({"writer": wat("writer")}, limits={"timeout_ms": 999_999})
        cn, cw = bed.conductor.cell(narrow), bed.conductor.cell(wide)
        assert cn.limits.max_entry_bytes == 64 and cn.limits.timeout_ms == 4000
        assert cw.limits.timeout_ms == 4000  # the conductor's ceiling holds
        bed.call(narrow, "writer", "ok")  # runs genesis' init step
        before = bed.chain_len(narrow)
        with pytest.raises(LimitExceeded, match="limit 64"):
            bed.call(narrow, "writer", "create_entry", b"x" * 100)
        assert bed.chain_len(narrow) == before
        bed.call(wide, "writer", "create_entry", b"x" * 100)  # the other DNA is not narrowed
        # the limits survive a restart (read back from the stored manifest)
        bed.conductor.close()
        bed.conductor = type(bed.conductor).open(bed.home, "sandbox-test-passphrase")
        assert bed.conductor.cell(narrow).limits.max_entry_bytes == 64
    finally:
        bed.close()


def test_memory_budgets_have_defaults_and_refuse_bad_values(tmp_path: Path) -> None:
    assert MemoryBudgets() == MemoryBudgets.from_config(None)
    assert MemoryBudgets().conductor_bytes == 1 << 30
    assert MemoryBudgets().thread_cache_bytes == 8 << 20
    with pytest.raises(InvalidInput, match=r"unknown key memory_budget\.nope"):
        MemoryBudgets.from_config({"nope": 1})
    for bad in (0, -5, "10", 1.5, True, None):
        with pytest.raises(InvalidInput):
            MemoryBudgets.from_config({"conductor_bytes": bad})
    with pytest.raises(InvalidInput):
        MemoryBudgets.from_config([1])
    # the conductor reads them from its config into its engine
    bed = TestBed(tmp_path / "h")
    try:
        doc = yaml.safe_load(bed.home.config_path.read_text())
        assert doc["memory_budget"] == {}  # a fresh config names the section
        doc["memory_budget"] = {"conductor_bytes": 3 << 20, "thread_cache_bytes": 1 << 20}
        bed.home.config_path.write_text(yaml.safe_dump(doc))
        bed.close()
        bed.conductor = bed.open()
        assert bed.conductor.engine.memory.limit == 3 << 20
        assert bed.conductor.engine.memory.budgets.thread_cache_bytes == 1 << 20
    finally:
        bed.close()
