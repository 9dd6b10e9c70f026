"""``python -m zomehost.bench`` (what ``just bench`` runs): every figure of issue #8, side by
side in one run, written to bench/results.json and bench/results.md (see bench/README.md).

    python -m zomehost.bench                 # the full suite (a few minutes)
    python -m zomehost.bench --quick         # fewer rounds: a smoke run
    python -m zomehost.bench --only inproc,writes   # re-measures these sections only; the
                                                   # other figures stay from the last run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zomehost.bench import report
from zomehost.bench.harness import REPO, environment

SECTIONS = (
    "inproc",
    "payload",
    "apps",
    "breakdown",
    "writes",
    "growth",
    "coldstart",
    "client",
    "remote",
    "memory",
    "fairness",
    "chains",
)
# what each section measures, for "not measured" notes when a section fails
FIGURES = {
    "inproc": ["inproc_call_us", "extism_us", "wasmtime_public_api_us"],
    "payload": [
        "inproc_1k_over_floor",
        "inproc_64k_over_floor",
        "inproc_1m_over_floor",
        "extism_over_inproc",
        "payload_curve",
    ],
    "apps": ["apps_100_over_1", "apps_curve", "cold_start_1000_apps_s", "idle_app_mib"],
    "breakdown": ["call_breakdown_cpu_us"],
    "writes": ["write_calls_per_s"],
    "growth": ["write_latency_ratio_100k_vs_100"],
    "coldstart": ["cold_start_10_apps_s", "cold_start_10_apps_cold_cache_s"],
    "client": ["client_call_p50_ms", "client_call_p99_ms", "concurrent_read_calls_per_s"],
    "remote": ["remote_call_p50_ms", "remote_call_p99_ms"],
    "memory": ["call_tree_peak_rss_mb", "call_tree_after_rss_mb"],
    "fairness": ["flood_bystander_p50_ms", "flood_bystander_p99_ms"],
    "chains": [
        "query_100k_ms",
        "query_growth_100k_over_1k",
        "relaxed_writers_failed_calls",
        "relaxed_writers_calls_per_s",
        "relaxed_writers_clients_calls_per_s",
    ],
}


def _section(name: str, quick: bool, out: Path) -> Callable[[], dict[str, Any]]:
    if name == "inproc":
        from zomehost.bench import inproc

        return lambda: inproc.measure(rounds=5 if quick else 20, per_round=200 if quick else 500)
    if name == "payload":
        from zomehost.bench import payload

        return lambda: payload.measure(rounds=3 if quick else 9)
    if name == "apps":
        from zomehost.bench import apps

        return lambda: apps.measure(quick=quick)
    if name == "breakdown":
        from zomehost.bench import breakdown

        return breakdown.measure
    if name == "writes":
        from zomehost.bench import writes

        return lambda: writes.measure_rate(seconds=2.0 if quick else 6.0)
    if name == "growth":
        from zomehost.bench import writes

        large = 10_000 if quick else 100_000
        return lambda: writes.measure_growth(100, large, 200 if quick else 1000)
    if name == "coldstart":
        from zomehost.bench import coldstart

        return lambda: coldstart.measure(runs=2 if quick else 5)
    if name == "client":
        from zomehost.bench import client

        return lambda: client.measure(
            calls=300 if quick else 3000, clients=100, seconds=3.0 if quick else 10.0
        )
    if name == "remote":
        from zomehost.bench import remote

        return lambda: remote.measure(pairs=200 if quick else 1500)
    if name == "memory":
        from zomehost.bench import memory

        return memory.measure
    if name == "fairness":
        from zomehost.bench import fairness

        return lambda: fairness.measure(calls=100 if quick else 300)
    if name == "chains":
        from zomehost.bench import query

        return lambda: query.measure(quick, plot_to=out / "query_latency.png")
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zomehost.bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    ap.add_argument("--only", default="", help=f"comma-separated sections: {','.join(SECTIONS)}")
    ap.add_argument("--out", type=Path, default=REPO / "bench", help="output directory")
    args = ap.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")
    started = time.time()
    env = environment()
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    previous = args.out / "results.json"
    if args.only and previous.exists():  # keep the other sections' figures from the last run
        try:
            old = json.loads(previous.read_text())
            results.update(old.get("results", {}))
            timings.update(old.get("sections", {}))
        except (OSError, ValueError):
            pass
    for name in chosen:
        print(f"==> {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        for fig in FIGURES[name]:
            results.pop(fig, None)
        try:
            results.update(_section(name, args.quick, args.out)())
        except Exception as exc:  # one broken section must not lose the others
            traceback.print_exc()
            for fig in FIGURES[name]:
                results.setdefault(
                    fig, {"value": None, "note": f"not measured: {type(exc).__name__}: {exc}"}
                )
        timings[name] = time.perf_counter() - t0
        print(f"    {timings[name]:.1f} s", file=sys.stderr, flush=True)
    with contextlib.suppress(OSError):
        env["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc: dict[str, Any] = {
        "started_at": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "duration_s": time.time() - started,
        "settings": "interleaved rounds (see each module's doc)"
        + (" — quick run" if args.quick else "")
        + (f"; re-measured in this run: {', '.join(chosen)}" if args.only else ""),
        "sections": timings,
        "environment": env,
        "results": results,
    }
    doc["verdicts"] = report.verdicts(results)
    from zomehost.bench import plot

    doc["plot"] = plot.curves(results, args.out)
    js, md = report.write(doc, args.out)
    print(md.read_text())
    print(f"wrote {js} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
