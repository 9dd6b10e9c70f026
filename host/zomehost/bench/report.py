"""Targets, verdicts and the files the suite writes (bench/results.json, bench/results.md).

A verdict compares a figure with its target from the issue (2-core machine): ``met`` or
``missed``, with the factor by which it is missed, and why when it is (``WHY`` below,
completed with the suite's own floor measurements).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# name -> (direction, target, unit, label)
TARGETS: dict[str, tuple[str, float, str, str]] = {
    "inproc_call_us": ("<=", 15.0, "µs", "in-process zome call, 1 KiB through one host fn"),
    "inproc_1k_over_floor": ("<=", 2.0, "x", "1 KiB through one host fn / the C-level floor"),
    "inproc_64k_over_floor": ("<=", 3.0, "x", "64 KiB through one host fn / the floor"),
    "inproc_1m_over_floor": ("<=", 3.0, "x", "1 MiB in and out (no host fn) / the floor"),
    "extism_over_inproc": (">=", 3.0, "x", "Extism's time / zomehost's, 1 KiB, side by side"),
    "apps_100_over_1": ("<=", 1.5, "x", "100 apps round-robin on one thread / one app"),
    "client_call_p50_ms": ("<=", 0.3, "ms", "signed call over the app WebSocket, Python, p50"),
    "client_call_p99_ms": ("<=", 1.0, "ms", "same, p99"),
    "client_p50_over_ws_echo": ("<=", 2.5, "x", "signed Python client call p50 / bare WS echo"),
    "write_calls_per_s": (">=", 2500.0, "calls/s", "create_one calls, one writer, synced"),
    "write_latency_ratio_100k_vs_100": ("<=", 1.2, "x", "write latency, chain 100 000 / 100"),
    "remote_call_p50_ms": ("<=", 0.5, "ms", "call_remote round trip, two processes, p50"),
    "cold_start_10_apps_s": ("<=", 0.5, "s", "10 apps to first answers, warm module cache"),
    "cold_start_1000_apps_s": ("<=", 2.0, "s", "1,000 apps: open to every app answered"),
    "idle_app_mib": ("<=", 0.25, "MiB", "resident memory per idle app (1,000 apps)"),
    "concurrent_read_calls_per_s": (">=", 3000.0, "calls/s", "100 concurrent clients"),
    "query_100k_ms": ("<=", 2.0, "ms", "query returning 10 of 100 000 records, slowest filter"),
    "query_growth_100k_over_1k": ("<=", 1.5, "x", "query latency, chain 100 000 / 1 000, worst"),
    "relaxed_writers_failed_calls": ("<=", 0.0, "calls", "4 relaxed writers on one cell: failed"),
    "relaxed_writers_calls_per_s": (">=", 2500.0, "calls/s", "same, acknowledged calls/s"),
}

# Figures shown without a target (comparisons and breakdowns), in table order.
EXTRA: dict[str, tuple[str, str]] = {
    "extism_us": ("µs", "Extism Python SDK, equivalent plugin (instance reused)"),
    "wasmtime_public_api_us": ("µs", "same zome, public wasmtime-py API, fresh instance"),
    "wasmtime_public_api_reused_instance_us": ("µs", "same, one instance reused"),
    "inproc_call_ctypes_boundary_us": ("µs", "zomehost with ZOMEHOST_BOUNDARY=fast (ctypes)"),
    "inproc_call_public_boundary_us": ("µs", "zomehost with ZOMEHOST_BOUNDARY=public"),
    "conductor_call_us": ("µs", "Conductor.call_zome in-process (auth, workspace, commit)"),
    "inproc_call_no_reuse_us": ("µs", "inproc_call_us with instance reuse off (fresh per call)"),
    "fresh_instance_us": ("µs", "floor: a fresh instance (store, instantiate, exports)"),
    "noop_call_us": ("µs", "floor: zome call without a host function (bench_echo.noop)"),
    "client_call_js_p50_ms": ("ms", "signed call from @holochain/client, p50"),
    "client_call_js_p99_ms": ("ms", "same, p99"),
    "remote_call_p99_ms": ("ms", "call_remote round trip, p99"),
    "write_calls_per_s_4_writers": ("calls/s", "4 threads on 4 cells (group commit), create_one"),
    "write_calls_per_s_probe": ("calls/s", "one writer, probe.create_entry (+ post_commit)"),
    "lmdb_synced_commits_per_s": ("calls/s", "floor: bare LMDB synced commits, this disk"),
    "cold_start_10_apps_cold_cache_s": ("s", "10 apps, module cache deleted (compiles)"),
    "call_tree_memory_budget_mb": ("MiB", "memory one call tree may hold (memory_bytes)"),
    "call_tree_peak_rss_mb": ("MB", "resident memory a 15-level hostile call tree added, peak"),
    "call_tree_after_rss_mb": ("MB", "same, left after the call (a worker's cache)"),
    "four_call_trees_peak_rss_mb": ("MB", "four such trees at once on four threads, peak"),
    "four_call_trees_after_rss_mb": ("MB", "same, left after the calls"),
    "strict_writers_calls_per_s": ("calls/s", "4 strict writers on one cell (they take turns)"),
    "relaxed_writers_clients_calls_per_s": (
        "calls/s",
        "4 relaxed writers on one cell as client processes over the app WebSocket",
    ),
}

WHY: dict[str, str] = {
    "inproc_call_us": (
        "the usual call is one C call (native boundary); of its ~14 µs, ~4 are the guest's "
        "code and the crossings, ~2 the reset, ~4 the host function's os.urandom of 1 KiB "
        "and ~4 Python: the host function's body, the result's decode, the ribosome's run "
        "(docs/performance.md, one call piece by piece)"
    ),
    "extism_over_inproc": (
        "Extism's median moves by ±15% from run to run, and the host function's own work "
        "(os.urandom of 1 KiB, ~4 µs on this VM) is in both; zomehost adds a reset (the "
        "pages a call wrote), limits and deadlines and ~4 µs of Python per call "
        "(docs/performance.md, one call piece by piece)"
    ),
    "inproc_1k_over_floor": (
        "Python around the C call: the host function's body, the result's decode, the "
        "ribosome's run (docs/performance.md, one call piece by piece)"
    ),
    "inproc_64k_over_floor": "see inproc_1k_over_floor and the payload curve",
    "inproc_1m_over_floor": "see inproc_1k_over_floor and the payload curve",
    "apps_100_over_1": (
        "each app has its own compiled module and memory: rotating over 100 of them misses "
        "the CPU caches, as the floor shows (floor_100_over_1 beside it, the same rotation "
        "on a minimal host); the apps' own objects cost nothing (shared_module_100_over_1), "
        "the reset's pages (image and the call's writes) are cold at 100 modules "
        "(docs/performance.md, many apps)"
    ),
    "idle_app_mib": "",
    "cold_start_1000_apps_s": (
        "wall time on a shared machine (cpu_s beside it): each app's first call opens its "
        "cell (the app index, its DNA manifest and wasm hashes, its chain head checked) on "
        "one thread; the keystore's Argon2id unseal is ~0.1 s of CPU"
    ),
    "client_call_p50_ms": (
        "a call crosses two Python processes and a WebSocket on two shared cores: the "
        "client's signing, the server's decode and Ed25519 check (see the breakdown), nonce "
        "and grant checks, the call (conductor_call_us; a fast read runs on the event loop "
        "itself, anything else on a worker thread that writes the answer)"
    ),
    "client_p50_over_ws_echo": (
        "on top of the echo: the Ed25519 check (~60 µs), the call itself (a fast read such "
        "as echo_1k runs on the event loop: no hand-over to a worker) and the client's "
        "signing (docs/performance.md, fast reads on the event loop)"
    ),
    "client_call_p99_ms": (
        "the tail is scheduling on two cores shared by the client, the server's event loop "
        "and worker threads, the epoch ticker, and whatever else the machine runs"
    ),
    "write_calls_per_s": (
        "one caller waits for its own synced commit (LMDB: a data sync and a synced meta "
        "page write; lmdb_synced_commits_per_s is the disk's bare rate in the same run) "
        "before its next call, so a call costs its CPU plus one sync. The CPU is one "
        "instance, the host function, an Ed25519 signature and the commit's Python. "
        "Concurrent callers share syncs (write_calls_per_s_4_writers) but not the GIL: "
        "their Python work is serial, and it is as long as the sync"
    ),
    "write_latency_ratio_100k_vs_100": "",
    "relaxed_writers_calls_per_s": (
        "every call returns only once its commit is synced, and the four writers each wait "
        "for their answer, so nothing overlaps the sync: a cycle of four writes is ~1.45-1.9 "
        "ms, all on one GIL but the sync: the other three callers woken and back in line "
        "(~300 µs of thread hand-overs), the four calls run back to back on one thread "
        "(~90 µs each, conductor/combining.py), the commit's jobs (~75 µs each: rebase, "
        "signature, puts) and the sync (~450 µs; relaxed_writers_calls_per_s."
        "lmdb_synced_commits_per_s: the bare synced commit rate in the same run; the rounds "
        "of one run vary by a quarter; docs/performance.md, strict writers take turns)"
    ),
    "remote_call_p50_ms": (
        "the round trip is CPU in two Python processes on two shared cores: B's whole call "
        "pipeline (conductor_call_us and more), four AEAD steps and four frame "
        "encodes/decodes, and two process wake-ups (no thread hops: the thread the bytes "
        "wake handles them; no Ed25519 per call: the agent's session binding is checked "
        "once per connection); each step runs 2-4x its in-process cost after the thread "
        "slept (docs/performance.md, remote calls)"
    ),
    "cold_start_10_apps_s": (
        "the keystore's Argon2id unseal and the 10 first calls (each cell's init, "
        "module deserialization) share two cores with whatever else runs"
    ),
    "concurrent_read_calls_per_s": (
        "one conductor process serves every call under one GIL, on two cores shared with "
        "the 100 clients' own processes; each call pays the signature check, the WebSocket "
        "and the call itself (breakdown)"
    ),
}


def _value(results: dict[str, Any], name: str) -> float | None:
    item = results.get(name)
    if isinstance(item, (int, float)) and not isinstance(item, bool):  # a ratio or a count
        return float(item)
    if not isinstance(item, dict):
        return None
    v = item.get("value")
    return float(v) if isinstance(v, (int, float)) else None


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """Add the derived ratio and a verdict for every target."""
    ext, inproc = _value(results, "extism_us"), _value(results, "inproc_call_us")
    if ext is not None and inproc and _value(results, "extism_over_inproc") is None:
        # the payload section measures it side by side; without it, from the inproc section
        results["extism_over_inproc"] = {"value": ext / inproc, "median": ext / inproc}
    out: dict[str, Any] = {}
    for name, (direction, target, _unit, _label) in TARGETS.items():
        v = _value(results, name)
        if v is None:
            item = results.get(name)
            note = item.get("note", "not measured") if isinstance(item, dict) else "not measured"
            out[name] = {"status": "not measured", "note": note}
            continue
        met = v <= target if direction == "<=" else v >= target
        if direction == "<=":
            factor = v / target if target else float("inf")
        else:
            factor = target / v if v else float("inf")
        out[name] = {
            "status": "met" if met else "missed",
            "target": f"{direction} {target:g}",
            "missed_by": None if met else round(factor, 2),
            "why": None if met else WHY.get(name) or None,
        }
    return out


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit in ("calls/s",):
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def boundaries(results: dict[str, Any]) -> str:
    """Which wasm boundary ran the zome calls, by the figures that record it (a conductor
    process that fell back to the ctypes one says so only in its log otherwise)."""
    seen = {
        name: item["boundary"]
        for name, item in results.items()
        if isinstance(item, dict) and item.get("boundary") is not None
    }
    odd = {name: kind for name, kind in seen.items() if kind != "native"}
    if not odd:
        return (
            "Zome calls ran on the native wasm boundary in every figure that records it "
            f"({len(seen)})."
        )
    listed = ", ".join(f"`{name}` on {kind}" for name, kind in sorted(odd.items()))
    return f"**Not on the native wasm boundary**: {listed}."


def markdown(doc: dict[str, Any]) -> str:
    results, verdict, env = doc["results"], doc["verdicts"], doc["environment"]
    lines = [
        "| figure | measured | target | verdict |",
        "|---|---|---|---|",
    ]
    for name, (direction, target, unit, label) in TARGETS.items():
        v = _value(results, name)
        item = results.get(name)
        p99 = item.get("p99") if isinstance(item, dict) else None
        shown = _fmt(v, unit) + (f" (p99 {_fmt(p99, unit)})" if p99 is not None else "")
        beside = [
            f"{who} {_fmt(item[key], u)} {u}"
            for key, who, u in (
                ("zomehost_us", "zomehost", "µs"),
                ("floor_us", "floor", "µs"),
                ("extism_us", "Extism", "µs"),
                ("client_p50_ms", "client", "ms"),
                ("ws_echo_p50_ms", "WebSocket echo", "ms"),
            )
            if isinstance(item, dict) and item.get(key) is not None
        ]
        shown += f" ({', '.join(beside)})" if beside else ""
        ver = verdict[name]
        if ver["status"] == "met":
            text = "met"
        elif ver["status"] == "missed":
            text = f"**missed x{ver['missed_by']}**"
        else:
            text = f"not measured: {ver.get('note', '')}"
        lines.append(
            f"| `{name}` — {label} | {shown} {unit} | {direction} {target:g} {unit} | {text} |"
        )
    lines += ["", "| comparison / breakdown | measured | what |", "|---|---|---|"]
    for name, (unit, label) in EXTRA.items():
        item = results.get(name) or {}
        v = _value(results, name)
        p99 = item.get("p99")
        shown = _fmt(v, unit) + (f" (p99 {_fmt(p99, unit)})" if p99 is not None else "")
        if v is None and "note" in item:
            shown = item["note"]
        lines.append(f"| `{name}` | {shown} {unit if v is not None else ''} | {label} |")
    sizes = (results.get("payload_curve") or {}).get("sizes")
    if sizes:
        lines += [
            "",
            "| payload | call | zomehost µs | ctypes boundary µs | floor µs | Extism µs "
            "| zomehost / floor |",
            "|---|---|---|---|---|---|---|",
        ]
        for size, row in sorted(sizes.items(), key=lambda kv: int(kv[0])):
            keys = ("zomehost_us", "ctypes_us", "floor_us", "extism_us")
            cells = [_fmt(row.get(k), "µs") for k in keys]
            lines.append(
                f"| {int(size) // 1024} KiB | `{row['export']}` | {' | '.join(cells)} "
                f"| {_fmt(row.get('over_floor'), 'x')} |"
            )
    per_call = (results.get("apps_curve") or {}).get("per_call_us")
    if per_call:
        counts = sorted(per_call, key=int)
        lines += [
            "",
            "| apps round-robin | " + " | ".join(counts) + " |",
            "|---|" + "---|" * len(counts),
            "| µs per call, Ribosome.run | "
            + " | ".join(_fmt(per_call[n], "µs") for n in counts)
            + " |",
        ]
        for label, key in (
            ("Conductor.call_zome", "conductor_per_call_us"),
            ("Ribosome.run, every app on one module", "shared_module_per_call_us"),
            ("C-level floor", "floor_per_call_us"),
            ("ctypes boundary", "ctypes_per_call_us"),
        ):
            curve = results["apps_curve"].get(key) or {}
            if curve:
                lines.append(
                    f"| µs per call, {label} | "
                    + " | ".join(_fmt(curve.get(n), "µs") for n in counts)
                    + " |"
                )
    if doc.get("plot") and not str(doc["plot"]).startswith("not drawn"):
        lines += ["", f"![payload and app-count curves]({doc['plot']})"]
    parts = (results.get("call_breakdown_cpu_us") or {}).get("parts")
    if parts:
        lines += ["", "| one call, piece by piece (CPU µs, same run) | µs |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in parts.items()]
        reused = results["call_breakdown_cpu_us"]["totals"].get("echo_on_one_reused_instance")
        if reused is not None:
            lines.append(
                f"| (not a zomehost mode) the echo call on one reused instance | {reused:.1f} |"
            )
    missed = [(n, v) for n, v in verdict.items() if v["status"] == "missed" and v.get("why")]
    if missed:
        lines += ["", "Why the missed targets are missed:", ""]
        for name, v in missed:
            lines.append(f"- `{name}` (x{v['missed_by']}): {v['why']}.")
    lines += ["", boundaries(results)]
    lines += [
        "",
        f"Medians over {doc['settings']} (p99 where it is a latency). Machine: "
        f"{env.get('cpus')} CPUs ({env.get('cpu') or env.get('machine')}), Python "
        f"{env.get('python')}, wasmtime {env.get('wasmtime')}, extism {env.get('extism')}, "
        f"node {env.get('node')}; load average at start {env.get('load_avg_at_start')}, "
        f"at end {env.get('load_avg_at_end')}. Run {doc['started_at']} "
        f"({doc['duration_s']:.0f} s).",
    ]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
HEADLINE_BEGIN, HEADLINE_END = "<!-- bench-headline:begin -->", "<!-- bench-headline:end -->"


def headline(md_text: str) -> str:
    """The verdict table and the line naming the run: what the project README shows."""
    blocks = md_text.strip().split("\n\n")
    return f"{blocks[0]}\n\n{blocks[-1]}\n"


def refresh(path: Path, begin: str, end: str, body: str) -> None:
    """Replace what stands between ``begin`` and ``end`` in ``path`` (if both are there)."""
    if not path.exists():
        return
    text = path.read_text()
    if begin in text and end in text:
        pattern = re.escape(begin) + ".*?" + re.escape(end)
        path.write_text(re.sub(pattern, lambda _: f"{begin}\n{body}{end}", text, flags=re.S))


def write(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "results.json"
    js.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    md_text = markdown(doc)
    md = out_dir / "results.md"
    md.write_text("# zomehost benchmark results\n\n" + md_text)
    refresh(out_dir / "README.md", BEGIN, END, md_text)  # bench/README.md: everything
    refresh(out_dir.parent / "README.md", HEADLINE_BEGIN, HEADLINE_END, headline(md_text))
    return js, md
