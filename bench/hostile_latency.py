"""Other cells' call latency while a hostile zome spins.

One conductor, two cells: ``hostile`` (zomes/hostile/hostile.wat) and ``writer``
(zomes/hostile/writer.wat). Client threads make normal calls on writer cells (one each), first
alone (the baseline), then while spinner threads keep the hostile cell busy with calls
that never return on their own:

* ``spin``           a tight wasm loop (stopped by the deadline),
* ``flood_sys_time`` a host-function flood (Python runs on every iteration: the GIL),
* ``memory_fill_bomb`` fills its 64 MiB memory cap, over and over,
* ``flood_trace``    a trace flood (the host logs 1000 lines, then drops the rest).

Prints the median / p99 / max latency of the normal calls per scenario and writes
``bench/hostile_latency.json``.

    .venv/bin/python bench/hostile_latency.py [--calls 400] [--spinners 2] [--boundary fast]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from zomehost.errors import ZomehostError
from zomehost.fuzz.testbed import TestBed, wat

OUT = Path(__file__).resolve().parent / "hostile_latency.json"
SCENARIOS = ("baseline", "spin", "flood_sys_time", "memory_fill_bomb", "flood_trace")
NORMAL_CALLS = (("ok", None), ("create_entry", "a normal write"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_scenario(
    bed: TestBed, hostile: Any, writers: list[Any], attack: str, calls: int, spinners: int
) -> dict[str, Any]:
    stop = threading.Event()
    attacks = [0]
    errors: dict[str, int] = {}

    def spinner() -> None:
        while not stop.is_set():
            try:
                bed.call(hostile, "hostile", attack)
            except ZomehostError as exc:  # the expected way out: Timeout, OutOfMemory
                errors[exc.kind] = errors.get(exc.kind, 0) + 1
            attacks[0] += 1

    threads = []
    if attack != "baseline":
        threads = [threading.Thread(target=spinner, daemon=True) for _ in range(spinners)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # let the attack get going
    lat: dict[str, list[float]] = {fn: [] for fn, _ in NORMAL_CALLS}
    failures: dict[str, int] = {}

    def client(writer: Any) -> None:
        for i in range(calls // len(writers)):
            fn, payload = NORMAL_CALLS[i % len(NORMAL_CALLS)]
            start = time.perf_counter()
            try:
                bed.call(writer, "writer", fn, payload)
            except ZomehostError as exc:
                failures[exc.kind] = failures.get(exc.kind, 0) + 1
            lat[fn].append((time.perf_counter() - start) * 1000)

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(w,)) for w in writers]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    stop.set()
    for t in threads:
        t.join()
    row: dict[str, Any] = {
        "scenario": attack,
        "normal_calls": sum(len(v) for v in lat.values()),
        "normal_failures": failures,
        "throughput_per_s": round(sum(len(v) for v in lat.values()) / wall, 1),
        "hostile_calls_completed": attacks[0],
        "hostile_errors": errors,
    }
    for fn, values in lat.items():
        row[fn] = {
            "median_ms": round(statistics.median(values), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "max_ms": round(max(values), 3),
        }
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=400, help="normal calls per scenario")
    ap.add_argument(
        "--clients", type=int, default=2, help="threads making normal calls (a cell each)"
    )
    ap.add_argument("--spinners", type=int, default=2, help="threads running the attack")
    ap.add_argument("--timeout-ms", type=int, default=2000, help="the hostile calls' deadline")
    ap.add_argument("--boundary", choices=("fast", "public"), default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    logging.getLogger("zomehost").setLevel(logging.CRITICAL)  # the trace flood's lines

    with tempfile.TemporaryDirectory() as tmp:
        bed = TestBed(Path(tmp) / "home", {"timeout_ms": args.timeout_ms}, boundary=args.boundary)
        try:
            hostile = bed.install({"hostile": wat("hostile")}, app_id="hostile")
            bed.call(hostile, "hostile", "ok")  # init, module compiled and cached
            # one writer cell per client thread: a cell's writes are serial (HeadMoved)
            writers = []
            for i in range(args.clients):
                writers.append(bed.install({"writer": wat("writer")}, app_id=f"writer{i}"))
                bed.call(writers[-1], "writer", "ok")
            rows = [
                run_scenario(bed, hostile, writers, s, args.calls, args.spinners) for s in SCENARIOS
            ]
            kind = bed.conductor.ribosome.boundary.kind
        finally:
            bed.close()

    print(
        f"normal calls on other cells while {args.spinners} threads attack the hostile one "
        f"({kind} boundary, {os.cpu_count()} CPUs, hostile deadline {args.timeout_ms} ms)"
    )
    print(f"{'scenario':<18} {'call':<13} {'median ms':>10} {'p99 ms':>10} {'max ms':>10}  fails")
    for row in rows:
        for fn, _ in NORMAL_CALLS:
            r = row[fn]
            print(
                f"{row['scenario']:<18} {fn:<13} {r['median_ms']:>10.3f} {r['p99_ms']:>10.3f} "
                f"{r['max_ms']:>10.3f}  {row['normal_failures'] or ''}"
            )
    doc = {
        "benchmark": "hostile_latency",
        "boundary": kind,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "spinners": args.spinners,
        "clients": args.clients,
        "calls_per_scenario": args.calls,
        "hostile_timeout_ms": args.timeout_ms,
        "results": rows,
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
