"""Durable writes: calls that each create one entry, and latency as the chain grows.

The write call is ``bench_echo.create_one``: one fresh instance, one ``create`` host call
(a signed action), then a synced LMDB commit (``durable: true``, the default), in-process.

* ``write_calls_per_s``: one thread, back to back: each call waits for its own sync
  before the next one starts (with its latency).
* ``write_calls_per_s_4_writers``: ``WRITERS`` threads, each making back-to-back calls on
  its own cell (its own chain, so no head conflicts): concurrent commits share a
  transaction and one sync (group commit). Every call still returns only once its commit
  is synced. On one interpreter the threads share the GIL: the calls' Python work does
  not overlap, only the syncs (and the signature, the guest code) run beside it.
* ``write_calls_per_s_probe``: one writer calling ``probe.create_entry``, the figure of
  earlier runs: the probe has a ``post_commit`` callback, so a call runs two instances.
* ``write_latency_ratio_100k_vs_100``: median create-call latency with the chain at
  100 000 records over the same at 100. The long chain is built with real signed actions
  appended through the same workspace code a call uses (1000 per commit, to build it in
  seconds rather than minutes). Short chains grow as they are measured, so the short side
  rotates over several cells, each measured from ``small`` to ``small + 50`` records.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from zomehost.bench.harness import BenchConductor, quiet_gc, run_on_threads, summary, time_calls
from zomehost.chain.source_chain import INDEX_BATCH, Workspace
from zomehost.core.action import Entry
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.hash import CellId

WRITERS = 4  # threads (one cell each) of the concurrent figure
_LEAN = ("echo", "bench_echo")
_PROBE = ("probe", "probe")
_counter = iter(range(1 << 62))


def _create(bc: BenchConductor, app_id: str, zome: str) -> Callable[[], Any]:
    """A call creating one entry with a fresh value, on the lean zome or the probe."""
    from zomehost.core.zome_call import ZomeCall

    app = bc.apps[app_id]
    cell_id = app.cell_id("main")
    run = bc.conductor.call_zome
    fn = "create_entry" if zome == "probe" else "create_one"

    def value(n: int) -> Any:
        if zome == "probe":
            return {"value": {"n": n, "text": "a benchmark entry"}}
        return b"a benchmark entry #%d" % n

    def call() -> Any:
        return run(ZomeCall(cell_id, zome, fn, pack(value(next(_counter))), app.agent))

    return call


def _install(bc: BenchConductor, app_id: str, zome: tuple[str, str]) -> Callable[[], Any]:
    bc.install(app_id, [zome])
    return _create(bc, app_id, zome[0])


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


def _one_writer(call: Callable[[], Any], seconds: float) -> dict[str, Any]:
    with quiet_gc():
        n, lat = 0, []
        t_end = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while time.perf_counter() < t_end:
            lat += time_calls(call, 50)
            n += 50
        elapsed = time.perf_counter() - t0
    s = summary([x * 1e3 for x in lat])
    return {
        "value": n / elapsed,
        "unit": "calls/s",
        "n": n,
        "latency_ms_p50": s["median"],
        "latency_ms_p99": s["p99"],
    }


def _writers(calls: list[Callable[[], Any]], seconds: float) -> dict[str, Any]:
    """Each call function back to back on its own thread for ``seconds``."""
    n, _, elapsed = run_on_threads(calls, seconds)
    return {
        "value": n / elapsed,
        "unit": "calls/s",
        "n": n,
        "writers": len(calls),
        "cells": len(calls),
        "mode": f"{len(calls)} threads, one cell each, bench_echo.create_one",
    }


def measure_rate(seconds: float = 4.0, writers: int = WRITERS) -> dict[str, Any]:
    bc = BenchConductor.create(durable=True)
    try:
        lean = [_install(bc, f"w{i}", _LEAN) for i in range(writers)]
        probe = _install(bc, "probe", _PROBE)
        for call in [*lean, probe]:
            for _ in range(20):
                call()
        return {
            "write_calls_per_s": _one_writer(lean[0], seconds),
            f"write_calls_per_s_{writers}_writers": _writers(lean, seconds),
            "write_calls_per_s_probe": _one_writer(probe, seconds),
            **lmdb_floor(),
        }
    finally:
        bc.close()


def measure_growth(
    small: int = 100, large: int = 100_000, samples: int = 1000, per_round: int = 20
) -> dict[str, Any]:
    """Two conductors, one chain at ``large`` records and short chains at ``small``,
    measured in alternating rounds so that both see the same disk (its sync latency
    drifts). Each short chain takes at most 50 calls, so it stays near ``small``."""
    big = BenchConductor.create(durable=True)
    little = BenchConductor.create(durable=True)
    try:
        t0 = time.perf_counter()
        big_call = _install(big, "g", _LEAN)
        extend_chain(big, big.apps["g"].cell_id("main"), large)
        build_s = time.perf_counter() - t0
        little_calls = []
        for i in range(max(1, samples // 50)):
            little_calls.append(_install(little, f"g{i}", _LEAN))
            extend_chain(little, little.apps[f"g{i}"].cell_id("main"), small)
        for call in [big_call, *little_calls]:
            for _ in range(5):
                call()
        lat: dict[int, list[float]] = {small: [], large: []}
        rounds = max(1, samples // per_round)
        with quiet_gc():
            for r in range(rounds):
                lat[small] += time_calls(little_calls[r % len(little_calls)], per_round)
                lat[large] += time_calls(big_call, per_round)
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
                "short_chains": len(little_calls),
                "index_batch": INDEX_BATCH,
                "n": len(lat[large]),
            }
        }
    finally:
        big.close()
        little.close()


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure_rate(2.0), indent=2))
    print(json.dumps(measure_growth(100, 10_000, 200), indent=2))
