"""Concurrent writers on ONE cell, every write synced before its call returns.

* ``relaxed_writers_*``: 4 threads in the conductor's process calling
  ``bench_echo.create_one_relaxed`` back to back: calls/s acknowledged (the median of
  :data:`ROUNDS` rounds, each followed by a round of bare synced commits, as the other
  figures' medians over interleaved rounds), failed calls, the chain verified after;
  ``strict_writers_*``: the same with the strict ``create_one`` (its calls take turns:
  conductor/combining.py).
* ``relaxed_writers_clients_*``: 4 clients, each its own process and app WebSocket, doing
  the same against a real ``zomehost run`` (signing, the socket, the API's workers
  included; the clients share the machine's two cores with the conductor).
* ``lmdb_synced_commits_per_s`` with each: what the disk gave bare synced commits in the
  same run (it varies many times over on this shared machine).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zomehost.bench import client, writes
from zomehost.bench.harness import BenchConductor, app_bundle, run_on_threads
from zomehost.core.codec import pack
from zomehost.errors import ZomehostError

WRITERS = 4
ROUNDS = 5


def _quiet_disk() -> None:
    """Write back what earlier sections left dirty (the query curves build chains of up to
    a million records without syncs): the kernel's writeback would slow these syncs."""
    os.sync()


def measure_threads(seconds: float = 6.0, writers: int = WRITERS) -> dict[str, Any]:
    _quiet_disk()
    bc = BenchConductor.create(durable=True)
    try:
        bc.install("one", [("echo", "bench_echo")])
        counter = iter(range(1 << 62))
        app = bc.apps["one"]

        def call(fn: str) -> Callable[[], Any]:
            from zomehost.core.zome_call import ZomeCall

            cell = app.cell_id("main")
            run = bc.conductor.call_zome
            return lambda: run(
                ZomeCall(cell, "echo", fn, pack(b"entry #%d" % next(counter)), app.agent)
            )

        relaxed, strict = call("create_one_relaxed"), call("create_one")
        for _ in range(20):
            relaxed()
        rates, floors, ok_r, failed_r = [], [], 0, 0
        for _ in range(ROUNDS):
            ok, failed, elapsed = run_on_threads(
                [relaxed] * writers, seconds / ROUNDS, (ZomehostError,)
            )
            rates.append(ok / elapsed)
            ok_r, failed_r = ok_r + ok, failed_r + failed
            floor_round = writes.lmdb_floor(seconds / ROUNDS / 3)
            floors.append(floor_round["lmdb_synced_commits_per_s"]["value"])
        ok_s, failed_s, el_s = run_on_threads([strict] * writers, seconds / 2, (ZomehostError,))
        n = bc.conductor.cell(app.cell_id("main")).chain.verify()
        rate, floor = statistics.median(rates), statistics.median(floors)
        return {
            "relaxed_writers_calls_per_s": {
                "median": rate,
                "value": rate,
                "rounds": rates,
                "unit": "calls/s",
                "n": ok_r,
                "writers": writers,
                "cells": 1,
                "mode": f"{writers} threads, one cell, bench_echo.create_one_relaxed, synced",
                "chain_verified_records": n,
                "lmdb_synced_commits_per_s": floor,  # this disk's bare rate, same run
            },
            "relaxed_writers_failed_calls": failed_r,
            "strict_writers_calls_per_s": {
                "value": ok_s / el_s,
                "unit": "calls/s",
                "failed_calls": failed_s,
                "failed_share": failed_s / max(1, ok_s + failed_s),
            },
        }
    finally:
        bc.close()


def measure_clients(seconds: float = 6.0, writers: int = WRITERS) -> dict[str, Any]:
    _quiet_disk()
    root = Path(tempfile.mkdtemp(prefix="zomehost-bench-writers-"))
    conductor = client.conductor_process(root)
    try:
        conductor.start()
        bundle = app_bundle(root, "bench", [("echo", "bench_echo")])
        setup = asyncio.run(client.setup_app(conductor, bundle, "writers"))
        results = client.concurrent_clients(setup, [1] * writers, seconds, "create_one_relaxed")
        floor = writes.lmdb_floor()["lmdb_synced_commits_per_s"]["value"]
    finally:
        if conductor.running:
            conductor.stop()
        shutil.rmtree(root, ignore_errors=True)
    total = sum(r["calls"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    return {
        "relaxed_writers_clients_calls_per_s": {
            "value": total / elapsed,
            "unit": "calls/s",
            "n": total,
            "writers": writers,
            "cells": 1,
            "mode": f"{writers} client processes over the app WebSocket, one cell, "
            "bench_echo.create_one_relaxed, synced",
            "errors": [e for r in results for e in r["errors"]][:5],
            "lmdb_synced_commits_per_s": floor,
        },
        "relaxed_writers_clients_failed_calls": sum(r["failed"] for r in results),
    }


def measure(seconds: float = 6.0) -> dict[str, Any]:
    return {**measure_threads(seconds), **measure_clients(seconds)}


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure(seconds=3.0), indent=2, default=str))
