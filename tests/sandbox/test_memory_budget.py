"""Memory budgets (ribosome/memory.py): one call tree shares one budget, checked at every
grow; the memory of calls that ended goes back to the system; the conductor bounds all
running calls together. zomes/hostile/memory_tree.wat grows its memory at every level of a
nested call tree *after* its callee returned (each level used to get a full cap of its own,
and the memory of finished calls stayed allocated: one 15-level call took the process from
45 MB to ~990 MB and kept it).

Resident memory is measured in a child process per scenario (zomehost.bench.memory, which
``just bench`` reports too: its peak from ``VmHWM``, reset first), on every way into a
guest.
"""

from __future__ import annotations

from typing import Any

import pytest

from zomehost.bench import memory

from .conftest import BOUNDARIES

MIB = 1024 * 1024
SLACK_MB = 24  # host-side noise: Python objects, wasmtime's own structures, page tables


def run(path: str, scenario: str, limits: dict[str, int], budgets: dict[str, int]) -> Any:
    out = memory.run(scenario, path, limits, budgets)
    assert out["used_after"] == 0  # every charge given back
    assert out["writer"] is None  # the conductor still serves
    return out


@pytest.mark.parametrize("path", BOUNDARIES)
def test_a_deep_tree_holds_one_budget_and_gives_it_back(path: str) -> None:
    out = run(path, "deep", {"memory_bytes": 64 * MIB}, {})
    assert out["results"] == ["ok"]
    assert out["peak"] <= out["base"] + 64 + SLACK_MB, out  # was ~990 MB
    assert out["after"] <= out["base"] + 8 + SLACK_MB, out  # was ~990 MB too


@pytest.mark.parametrize("path", BOUNDARIES)
def test_a_tree_that_needs_more_than_its_budget_is_out_of_memory(path: str) -> None:
    out = run(path, "strict", {"memory_bytes": 64 * MIB}, {})
    [result] = out["results"]
    assert result.startswith("OutOfMemory: "), result
    assert "the call tree's memory budget of 67108864 bytes is spent" in result
    assert out["peak"] <= out["base"] + 64 + SLACK_MB, out
    assert out["after"] <= out["base"] + 8 + SLACK_MB, out


@pytest.mark.parametrize("path", BOUNDARIES)
def test_concurrent_trees_each_hold_their_budget_and_give_it_back(path: str) -> None:
    out = run(path, "concurrent", {"memory_bytes": 16 * MIB}, {})
    assert out["results"] == ["ok"] * 4
    assert out["peak"] <= out["base"] + 4 * 16 + SLACK_MB, out  # was ~950 MB
    assert out["after"] <= out["base"] + 4 * 8 + SLACK_MB, out


@pytest.mark.parametrize("path", BOUNDARIES)
def test_the_conductor_budget_bounds_a_flood_of_trees(path: str) -> None:
    """Eight trees at once, each needing 15 MiB (1 MiB held at each level), under a 32 MiB
    conductor budget: however they interleave, the process never holds much more than the
    budget, and every tree either succeeds or gets OutOfMemory naming a budget."""
    out = run(
        path,
        "flood",
        {"memory_bytes": 64 * MIB},
        {"conductor_bytes": 32 * MIB, "thread_cache_bytes": 2 * MIB},
    )
    assert len(out["results"]) == 8
    for result in out["results"]:
        assert result == "ok" or (
            result.startswith("OutOfMemory: ") and "memory budget of" in result
        ), result
    assert out["peak"] <= out["base"] + 32 + 8 * 2 + SLACK_MB, out


@pytest.mark.parametrize("path", BOUNDARIES)
def test_the_conductor_budget_bounds_all_running_calls(path: str) -> None:
    """A call holds 16 MiB (of a 20 MiB conductor budget) while it waits; a tree that then
    needs 8 MiB more gets OutOfMemory naming the conductor's budget, and the same tree
    succeeds once the holder is done. The holder itself is never disturbed."""
    out = run(
        path,
        "conductor",
        {"memory_bytes": 32 * MIB},
        {"conductor_bytes": 20 * MIB, "thread_cache_bytes": 2 * MIB},
    )
    refused, later = out["results"]
    assert refused.startswith("OutOfMemory: "), refused
    assert "the conductor's memory budget of 20971520 bytes is spent" in refused
    assert out["used_while_holding"] >= 16 * MIB
    assert later == "ok"
