"""Many apps on one conductor (section ``apps``).

* **App-count curve** (``apps_curve``, ``apps_100_over_1``): one conductor in this process
  with up to 200 installed apps, each with its own module (bench_echo with a custom section
  naming the app: same code, its own hash, compile and instances). For each count N, calls
  of ``echo_1k`` (1 KiB) go round-robin over the first N apps on one thread, at the
  ribosome (``Ribosome.run`` with each app's own call context, as ``inproc_call_us``) and
  through ``Conductor.call_zome`` (``conductor_per_call_us``: authorization, workspace and
  each cell's chain as well), on the C-level floor (one floor instance per app's module)
  and on the ctypes boundary (``ctypes_per_call_us``: the default before the native one);
  rounds of all counts are interleaved, per-call CPU time of
  the calling thread is measured, and ``apps_100_over_1`` is the median over rounds of the
  ribosome's per-call time at 100 apps over its time at one app (the conductor's ratio is
  beside it). ``shared_module_per_call_us``: the same rotation over the apps' own cells and
  call contexts, all running the first app's module — what the apps' own objects cost,
  apart from their modules' code and memory.
* **1,000 apps** (``cold_start_1000_apps_s``, ``idle_app_mib``): a home with 1,000
  installed apps (each its own DNA, by network seed, and its own agent; they share
  bench_echo's module, whose compiled form is cached on disk). A fresh process opens the
  conductor (keystore unsealed at zomehost's default Argon2id cost) and calls ``noop`` in
  each app once; ``cold_start_1000_apps_s`` is open → every app answered (median of runs,
  warm module cache; ``cpu_s`` beside it, the process's CPU time over the same span, which
  moves less with the machine's load), ``idle_app_mib`` the growth of the process's
  resident memory over the same span, per app, after the calls (what 1,000 idle apps hold:
  cells, chains' cached heads, keys, and whatever instances the calling thread keeps).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from zomehost.bench.coldstart import _variant
from zomehost.bench.floor import Floor
from zomehost.bench.harness import (
    PASSPHRASE,
    BenchConductor,
    app_bundle,
    make_home,
    quiet_gc,
    wasm_path,
)
from zomehost.chain.source_chain import Workspace
from zomehost.core.capability import Authorization
from zomehost.core.codec import pack
from zomehost.core.zome_call import ZomeCall
from zomehost.ribosome.engine import ZomeModule
from zomehost.ribosome.ribosome import Ribosome

COUNTS = (1, 2, 4, 8, 16, 32, 64, 100, 128, 200)
MANY = 1000
PAYLOAD = os.urandom(1024)


def measure_curve(rounds: int = 7, calls: int = 400) -> dict[str, Any]:
    """Per-call CPU time with calls rotating over N apps, at the ribosome (each app's own
    module and call context, as ``inproc_call_us``) and through ``Conductor.call_zome``."""
    bc = BenchConductor.create(durable=False)
    try:
        wasm = wasm_path("bench_echo").read_bytes()
        c = bc.conductor
        ways: dict[str, list[Callable[[], Any]]] = {
            "ribosome": [],
            "shared": [],
            "conductor": [],
            "floor": [],
            "ctypes": [],
        }
        ctypes_ribosome = Ribosome(c.engine, "fast")
        payload = pack(PAYLOAD)
        shared: ZomeModule | None = None  # the first app's module
        for i in range(max(COUNTS)):
            path = bc.root / f"bench_echo-{i}.wasm"
            path.write_bytes(_variant(wasm, i))
            app = c.install_app(app_bundle(bc.root, f"app{i}", [("echo", str(path))]), f"app{i}")
            call = ZomeCall(app.cell_id("main"), "echo", "echo_1k", payload, app.agent)
            c.call_zome(call)  # init, caches
            ways["conductor"].append(partial(c.call_zome, call))
            cell = c.cell(app.cell_id("main"))
            ws = Workspace(cell.chain, c.signer(cell.id.agent))
            ctx, zm = c._context(
                cell, "echo", "echo_1k", Authorization(cell.id.agent), ws, time.monotonic() + 1e6, 0
            )
            ways["ribosome"].append(partial(c.ribosome.run, ctx, zm, "echo_1k", payload))
            shared = shared or zm
            ways["shared"].append(partial(c.ribosome.run, ctx, shared, "echo_1k", payload))
            ways["ctypes"].append(partial(ctypes_ribosome.run, ctx, zm, "echo_1k", payload))
            ways["floor"].append(partial(Floor(c.engine, zm.module).call, "echo_1k", payload))
        samples: dict[tuple[str, int], list[float]] = {(w, n): [] for w in ways for n in COUNTS}
        with quiet_gc():
            for _ in range(rounds):
                for n in COUNTS:
                    for way, fns in ways.items():
                        k = max(calls, n)
                        for j in range(n):  # one pass first: every app's instance is idle
                            fns[j]()
                        t0 = time.thread_time()
                        for j in range(k):
                            fns[j % n]()
                        samples[(way, n)].append((time.thread_time() - t0) / k * 1e6)
        boundary = c.ribosome.boundary.kind
    finally:
        bc.close()

    def ratio(way: str) -> float:
        pairs = zip(samples[(way, 100)], samples[(way, 1)], strict=True)
        return statistics.median(a / b for a, b in pairs)

    def curve(way: str) -> dict[str, float]:
        return {str(n): statistics.median(samples[(way, n)]) for n in COUNTS}

    return {
        "apps_curve": {
            "value": None,
            "unit": "µs",
            "boundary": boundary,
            "per_call_us": curve("ribosome"),
            "conductor_per_call_us": curve("conductor"),
            "floor_per_call_us": curve("floor"),
            "ctypes_per_call_us": curve("ctypes"),
            "shared_module_per_call_us": curve("shared"),
        },
        "apps_100_over_1": {
            "median": ratio("ribosome"),
            "value": ratio("ribosome"),
            "unit": "x",
            "one_app_us": statistics.median(samples[("ribosome", 1)]),
            "apps_100_us": statistics.median(samples[("ribosome", 100)]),
            "conductor_100_over_1": ratio("conductor"),
            "floor_100_over_1": ratio("floor"),
            "ctypes_100_over_1": ratio("ctypes"),
            "shared_module_100_over_1": ratio("shared"),
            "boundary": boundary,
        },
    }


CHILD = r"""
import gc, json, sys, time
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from pathlib import Path
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.zome_call import ZomeCall
home_path, passphrase, plan = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
gc.collect()
rss0 = rss_mib()
t0, cpu0 = time.perf_counter(), time.process_time()
home = Home(Path(home_path))
keystore = home.open_keystore(passphrase)
t_unsealed = time.perf_counter()
conductor = Conductor(home, keystore)
bad = []
for dna, agent in plan:
    cell = CellId(DnaHash(bytes.fromhex(dna)), AgentPubKey(bytes.fromhex(agent)))
    try:
        conductor.call_zome(ZomeCall(cell, "echo", "noop", pack(b""), cell.agent))
    except Exception as exc:
        bad.append(f"{type(exc).__name__}: {exc}")
t_done, cpu_done = time.perf_counter(), time.process_time()
gc.collect()
rss1 = rss_mib()
conductor.close()
print(json.dumps({
    "open_to_answered_s": t_done - t0,
    "cpu_s": cpu_done - cpu0,
    "unseal_s": t_unsealed - t0,
    "rss_before_mib": rss0,
    "rss_after_mib": rss1,
    "bad": bad[:5],
    "boundary": conductor.ribosome.boundary.kind,
}))
"""


def build_many(root: Path, n: int) -> tuple[Path, Path]:
    """A home with ``n`` apps sharing bench_echo (own DNA and agent each); the call plan."""
    from zomehost.conductor.conductor import Conductor

    home = make_home(root / "home", durable=False, fast_keystore=False)
    bundle = app_bundle(root, "many", [("echo", "bench_echo")])
    conductor = Conductor.open(home, PASSPHRASE)
    plan = []
    try:
        for i in range(n):
            app = conductor.install_app(bundle, f"app{i}", network_seed=f"app{i}")
            cell = app.cell_id("main")
            plan.append([cell.dna_hash.raw.hex(), app.agent.raw.hex()])
    finally:
        conductor.close()
    plan_path = root / "plan.json"
    plan_path.write_text(json.dumps(plan))
    return home.path, plan_path


def _child(home: Path, plan: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
    if "ZOMEHOST_BOUNDARY" in os.environ:
        env["ZOMEHOST_BOUNDARY"] = os.environ["ZOMEHOST_BOUNDARY"]
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), PASSPHRASE, str(plan)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    if r.returncode != 0:
        raise RuntimeError(f"1000-app child failed: {r.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    if out["bad"]:
        raise RuntimeError(f"1000-app calls failed: {out['bad']}")
    return out


def measure_many(runs: int = 3, n: int = MANY) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="zomehost-apps-"))
    try:
        home, plan = build_many(root, n)
        _child(home, plan)  # every cell's init has run; the module cache is warm
        got = [_child(home, plan) for _ in range(runs)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    start = statistics.median(g["open_to_answered_s"] for g in got)
    idle = statistics.median((g["rss_after_mib"] - g["rss_before_mib"]) / n for g in got)
    return {
        "cold_start_1000_apps_s": {
            "median": start,
            "value": start,
            "unit": "s",
            "apps": n,
            "keystore_unseal_s": statistics.median(g["unseal_s"] for g in got),
            "cpu_s": statistics.median(g["cpu_s"] for g in got),
            "runs_s": [round(g["open_to_answered_s"], 3) for g in got],
            "boundary": got[0]["boundary"],
        },
        "idle_app_mib": {
            "median": idle,
            "value": idle,
            "unit": "MiB",
            "apps": n,
            "rss_before_mib": statistics.median(g["rss_before_mib"] for g in got),
            "rss_after_mib": statistics.median(g["rss_after_mib"] for g in got),
        },
    }


def measure(quick: bool = False) -> dict[str, Any]:
    out = measure_curve(rounds=3 if quick else 7, calls=200 if quick else 400)
    out.update(measure_many(runs=1 if quick else 3))
    return out


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure(quick=True), indent=2))
