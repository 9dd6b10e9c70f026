"""A spinning or flooding zome cannot starve other cells: their calls keep completing, far
faster than the hostile call's deadline (bench/hostile_latency.py measures it properly)."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from zomehost.core.hash import CellId
from zomehost.errors import ZomehostError
from zomehost.fuzz.testbed import TestBed


@pytest.mark.parametrize("attack", ["spin", "flood_sys_time", "memory_fill_bomb"])
def test_other_cells_keep_being_served(
    bed: TestBed, hostile: CellId, writer: CellId, attack: str
) -> None:
    stop = threading.Event()
    attacks: list[str] = []

    def spinner() -> None:
        while not stop.is_set():
            try:
                bed.call(hostile, "hostile", attack)
            except ZomehostError as exc:
                attacks.append(exc.kind)

    threads = [threading.Thread(target=spinner) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.1)
        latencies = []
        before = bed.chain_len(writer)
        for i in range(40):
            start = time.perf_counter()
            bed.call(writer, "writer", "create_entry" if i % 2 else "ok", i)
            latencies.append(time.perf_counter() - start)
        assert bed.chain_len(writer) == before + 20
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert attacks, "the attack never ran"
    # a starved call would wait for the hostile call's 1 s deadline
    assert statistics.median(latencies) < 0.05, latencies
    assert max(latencies) < 0.5, latencies
