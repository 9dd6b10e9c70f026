"""Durable writes: calls that each create one entry, and latency as the chain grows.

* ``write_calls_per_s``: back-to-back ``probe.create_entry`` calls on one cell, each a
  synced LMDB commit (``durable: true``, the default), in-process (no network).
* ``write_calls_per_s_4_cells``: four threads, each writing to its own cell (its own
  chain, so no head conflicts): the throughput the store allows with commits from
  several calls in flight.
* ``write_latency_ratio_100k_vs_100``: median create-call latency with the chain at
  100 000 records over the same at 100. The chain is extended between the two with real
  signed actions appended through the same workspace code a call uses (in batches of
  1000 per commit, to build it in seconds rather than minutes).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from zomehost.bench.harness import BenchConductor, quiet_gc, summary, time_calls
from zomehost.chain.source_chain import Workspace
from zomehost.core.action import Entry
from zomehost.core.codec import pack
from zomehost.core.hash import CellId
from zomehost.ribosome.host_fns import now_micros

_counter = iter(range(1 << 62))


def _create(bc: BenchConductor, app_id: str) -> Any:
    from zomehost.conductor.conductor import ZomeCall

    app = bc.apps[app_id]
    cell_id = app.cell_id("main")
    run = bc.conductor.call_zome

    def call() -> Any:
        payload = pack({"value": {"n": next(_counter), "text": "a benchmark entry"}})
        return run(ZomeCall(cell_id, "probe", "create_entry", payload, app.agent))

    return call


def extend_chain(bc: BenchConductor, cell_id: CellId, target: int, batch: int = 1000) -> None:
    """Append signed Create actions until the chain holds ``target`` records."""
    c = bc.conductor
    cell = c.cell(cell_id)
    while True:
        head = cell.chain.head()
        length = 0 if head is None else head.seq + 1
        if length >= target:
            return
        ws = Workspace(cell.chain, lambda d: c.sign(cell_id.agent, d))
        for i in range(min(batch, target - length)):
            ws.create(Entry("probe", pack({"filler": length + i})), now_micros())
        ws.commit()


def lmdb_floor(seconds: float = 2.0) -> dict[str, Any]:
    """Bare synced LMDB commits of one 200-byte put: what this disk allows one writer."""
    import os
    import shutil
    import tempfile

    import lmdb

    d = tempfile.mkdtemp(prefix="zomehost-bench-lmdb-")
    env = lmdb.open(d, map_size=1 << 30, sync=True, metasync=True)
    try:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            with env.begin(write=True) as txn:
                txn.put(os.urandom(16), b"x" * 200)
            n += 1
        elapsed = time.perf_counter() - t0
    finally:
        env.close()
        shutil.rmtree(d, ignore_errors=True)
    return {"lmdb_synced_commits_per_s": {"value": n / elapsed, "unit": "calls/s", "n": n}}


def measure_rate(seconds: float = 4.0) -> dict[str, Any]:
    bc = BenchConductor.create(durable=True)
    try:
        bc.install("w", [("probe", "probe")])
        call = _create(bc, "w")
        for _ in range(20):
            call()
        with quiet_gc():
            n, lat = 0, []
            t_end = time.perf_counter() + seconds
            t0 = time.perf_counter()
            while time.perf_counter() < t_end:
                lat += time_calls(call, 50)
                n += 50
            elapsed = time.perf_counter() - t0
        s = summary([x * 1e3 for x in lat])
        single = {
            "value": n / elapsed,
            "unit": "calls/s",
            "n": n,
            "latency_ms_p50": s["median"],
            "latency_ms_p99": s["p99"],
        }
        # four cells, four threads
        for i in range(4):
            bc.install(f"w{i}", [("probe", "probe")])
        calls = [_create(bc, f"w{i}") for i in range(4)]
        for c in calls:
            c()
        counts = [0] * 4
        stop = threading.Event()

        def worker(k: int) -> None:
            while not stop.is_set():
                calls[k]()
                counts[k] += 1

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        multi = {"value": sum(counts) / elapsed, "unit": "calls/s", "n": sum(counts)}
        return {
            "write_calls_per_s": single,
            "write_calls_per_s_4_cells": multi,
            **lmdb_floor(),
        }
    finally:
        bc.close()


def measure_growth(small: int = 100, large: int = 100_000, samples: int = 300) -> dict[str, Any]:
    """Two conductors, one chain at ``small`` and one at ``large`` records, measured in
    alternating rounds so that both see the same disk (its sync latency drifts)."""
    big = BenchConductor.create(durable=True)
    little = BenchConductor.create(durable=True)
    try:
        calls = {}
        build_s = 0.0
        for bc, size in ((big, large), (little, small)):
            app = bc.install("g", [("probe", "probe")])
            calls[size] = _create(bc, "g")
            calls[size]()
            t0 = time.perf_counter()
            extend_chain(bc, app.cell_id("main"), size)
            if size == large:
                build_s = time.perf_counter() - t0
            for _ in range(10):
                calls[size]()
        lat: dict[int, list[float]] = {small: [], large: []}
        rounds = max(1, samples // 20)
        with quiet_gc():
            for _ in range(rounds):
                for size in (small, large):
                    lat[size] += time_calls(calls[size], 20)
        med_small = statistics.median(lat[small]) * 1e3
        med_large = statistics.median(lat[large]) * 1e3
        return {
            "write_latency_ratio_100k_vs_100": {
                "value": med_large / med_small,
                "unit": "ratio",
                "latency_ms_at_100": med_small,
                "latency_ms_at_100k": med_large,
                "p99_ms_at_100": summary([x * 1e3 for x in lat[small]])["p99"],
                "p99_ms_at_100k": summary([x * 1e3 for x in lat[large]])["p99"],
                "chain_build_s": build_s,
                "n": len(lat[large]),
            }
        }
    finally:
        big.close()
        little.close()


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure_rate(2.0), indent=2))
    print(json.dumps(measure_growth(100, 10_000, 100), indent=2))
