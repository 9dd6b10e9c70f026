"""Many apps on one conductor (section ``apps``).

* **App-count curve** (``apps_curve``, ``apps_100_over_1``): one conductor in this process
  with up to 200 installed apps, each with its own module (bench_echo with a custom section
  naming the app: same code, its own hash, compile and instances). For each count N, calls
  of ``echo_1k`` (1 KiB) go round-robin over the first N apps on one thread; rounds of all
  counts are interleaved, and ``apps_100_over_1`` is the median over rounds of the per-call
  time at 100 apps over the time at one app.
* **1,000 apps** (``cold_start_1000_apps_s``, ``idle_app_mib``): a home with 1,000
  installed apps (each its own DNA, by network seed, and its own agent; they share
  bench_echo's module, whose compiled form is cached on disk). A fresh process opens the
  conductor (keystore unsealed at zomehost's default Argon2id cost) and calls ``noop`` in
  each app once; ``cold_start_1000_apps_s`` is open → every app answered (median of runs,
  warm module cache), ``idle_app_mib`` the growth of the process's resident memory over the
  same span, per app, after the calls (what 1,000 idle apps hold: cells, chains' cached
  heads, keys, and whatever instances the calling thread keeps).
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
from pathlib import Path
from typing import Any

from zomehost.bench.coldstart import _variant
from zomehost.bench.harness import PASSPHRASE, BenchConductor, app_bundle, make_home, wasm_path
from zomehost.core.codec import pack
from zomehost.core.zome_call import ZomeCall

COUNTS = (1, 2, 4, 8, 16, 32, 64, 100, 128, 200)
MANY = 1000
PAYLOAD = os.urandom(1024)


def measure_curve(rounds: int = 7, calls: int = 400) -> dict[str, Any]:
    bc = BenchConductor.create(durable=False)
    try:
        wasm = wasm_path("bench_echo").read_bytes()
        c = bc.conductor
        call_list = []
        for i in range(max(COUNTS)):
            path = bc.root / f"bench_echo-{i}.wasm"
            path.write_bytes(_variant(wasm, i))
            app = c.install_app(app_bundle(bc.root, f"app{i}", [("echo", str(path))]), f"app{i}")
            call = ZomeCall(app.cell_id("main"), "echo", "echo_1k", pack(PAYLOAD), app.agent)
            c.call_zome(call)  # init, caches
            call_list.append(call)
        run = c.call_zome
        samples: dict[int, list[float]] = {n: [] for n in COUNTS}
        for _ in range(rounds):
            for n in COUNTS:
                k = max(calls, n)
                for j in range(n):  # one pass first: every app's instance is idle again
                    run(call_list[j])
                t0 = time.perf_counter()
                for j in range(k):
                    run(call_list[j % n])
                samples[n].append((time.perf_counter() - t0) / k * 1e6)
        boundary = c.ribosome.boundary.kind
    finally:
        bc.close()
    ratio = statistics.median(a / b for a, b in zip(samples[100], samples[1], strict=True))
    return {
        "apps_curve": {
            "value": None,
            "unit": "µs",
            "boundary": boundary,
            "per_call_us": {str(n): statistics.median(v) for n, v in samples.items()},
        },
        "apps_100_over_1": {
            "median": ratio,
            "value": ratio,
            "unit": "x",
            "one_app_us": statistics.median(samples[1]),
            "apps_100_us": statistics.median(samples[100]),
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
t0 = time.perf_counter()
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
t_done = time.perf_counter()
gc.collect()
rss1 = rss_mib()
conductor.close()
print(json.dumps({
    "open_to_answered_s": t_done - t0,
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
