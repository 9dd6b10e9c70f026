"""The memory a call tree may hold: its budget, and the resident memory measured while and
after a hostile tree runs (zomes/hostile/memory_tree.wat grows its memory at every level of
a 15-level nested call; ribosome/memory.py is what bounds it).

Each scenario runs in a child process (``python -m zomehost.bench.memory SCENARIO PATH
LIMITS BUDGETS``, one JSON line out), so nothing else in the process moves its resident
memory; the peak is the kernel's high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs`` first). tests/sandbox/test_memory_budget.py runs the same
scenarios and asserts on them.

Scenarios: ``deep`` (every level takes all it may after its callee returned), ``strict``
(every level holds 8 MiB while its callee runs: the tree runs out), ``concurrent`` (four
``deep`` trees on four threads), ``flood`` (eight trees at once on eight threads, each
holding 1 MiB at each of 15 levels: with a small conductor budget some are refused),
``conductor`` (a call holds 16 MiB while it waits in a host function, and a tree that
needs more is refused by the conductor's budget).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from zomehost.bench.harness import REPO

MIB = 1024 * 1024
SCENARIOS = ("deep", "strict", "concurrent", "flood", "conductor")


def _status_mb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    raise KeyError(key)


def probe(scenario: str, path: str, limits: dict[str, int], budgets: dict[str, int]) -> Any:
    """Run one scenario in this process (the child); return what it measured."""
    from zomehost.core.codec import pack
    from zomehost.core.response import ZomeCallResponse
    from zomehost.errors import ZomehostError
    from zomehost.fuzz.testbed import TestBed, wat

    bed = TestBed(Path(tempfile.mkdtemp()) / "h", limits, boundary=path)
    if budgets:
        doc = yaml.safe_load(bed.home.config_path.read_text())
        doc["memory_budget"] = budgets
        bed.home.config_path.write_text(yaml.safe_dump(doc))
        bed.close()
        bed.conductor = bed.open()
    cell = bed.install({"memory_tree": wat("memory_tree")})
    writer = bed.install({"writer": wat("writer")})
    pool = ThreadPoolExecutor(8)  # workers that live on, as the daemon's do
    for _ in range(8):
        pool.submit(bed.call, cell, "memory_tree", "ok").result()

    def tree(depth: int, mib: int, strict: int) -> str:
        try:
            bed.call(cell, "memory_tree", "tree", raw=bytes([depth, mib, strict]))
            return "ok"
        except ZomehostError as exc:
            return f"{type(exc).__name__}: {exc.message}"

    out: dict[str, Any] = {"budget_mb": limits.get("memory_bytes", 64 * MIB) // MIB}
    base = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size
    if scenario == "deep":
        out["results"] = [pool.submit(tree, 14, 0, 0).result()]
    elif scenario == "strict":
        out["results"] = [pool.submit(tree, 14, 8, 1).result()]
    elif scenario == "concurrent":
        futures = [pool.submit(tree, 14, 0, 0) for _ in range(4)]
        out["results"] = [f.result() for f in futures]
    elif scenario == "flood":  # eight trees that each hold 1 MiB per level, at once
        futures = [pool.submit(tree, 14, 1, 1) for _ in range(8)]
        out["results"] = [f.result() for f in futures]
    elif scenario == "conductor":
        release, holding = threading.Event(), threading.Event()

        def hung_peer(*_: Any) -> ZomeCallResponse:  # a peer that answers when told to
            holding.set()
            release.wait(10)
            return ZomeCallResponse.network_error("timed out")

        bed.conductor.remote_caller = hung_peer
        remote = pack(
            {"agent": writer.agent.raw, "zome_name": "writer", "fn_name": "ok", "payload": b""}
        )
        held = pool.submit(bed.call, cell, "memory_tree", "hold", raw=bytes([16]) + remote)
        holding.wait(10)
        out["results"] = [pool.submit(tree, 7, 1, 1).result()]
        out["used_while_holding"] = bed.conductor.engine.memory.used
        release.set()
        held.result()
        out["results"].append(pool.submit(tree, 7, 1, 1).result())
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    out["base"], out["peak"], out["after"] = base, _status_mb("VmHWM"), _status_mb("VmRSS")
    out["used_after"] = bed.conductor.engine.memory.used
    out["writer"] = bed.call(writer, "writer", "ok")  # the conductor still serves
    pool.shutdown()
    bed.close()
    return out


def run(
    scenario: str,
    path: str = "fast",
    limits: dict[str, int] | None = None,
    budgets: dict[str, int] | None = None,
) -> Any:
    """Run one scenario in a child process; return its measurements."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "host")}
    lim = {"timeout_ms": 20_000, **(limits or {})}
    args = [scenario, path, json.dumps(lim), json.dumps(budgets or {})]
    proc = subprocess.run(
        [sys.executable, "-m", "zomehost.bench.memory", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {scenario} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure() -> dict[str, Any]:
    """The bench section: a 15-level tree with the default budget, and four at once."""
    deep = run("deep", limits={"memory_bytes": 64 * MIB})
    four = run("concurrent", limits={"memory_bytes": 64 * MIB})
    note = "15-level memory_tree, every level grows after its callee returned"
    return {
        "call_tree_memory_budget_mb": {"value": 64.0, "unit": "MiB", "note": "memory_bytes"},
        "call_tree_peak_rss_mb": {"value": deep["peak"] - deep["base"], "unit": "MB", "note": note},
        "call_tree_after_rss_mb": {"value": deep["after"] - deep["base"], "unit": "MB"},
        "four_call_trees_peak_rss_mb": {"value": four["peak"] - four["base"], "unit": "MB"},
        "four_call_trees_after_rss_mb": {"value": four["after"] - four["base"], "unit": "MB"},
    }


if __name__ == "__main__":
    scenario, path, limits, budgets = sys.argv[1:5]
    print(json.dumps(probe(scenario, path, json.loads(limits), json.loads(budgets))))
