"""Cold start: a conductor process with 10 installed apps, until each has answered a call.

A home gets 10 apps: bench_echo, probe, notes and the ghostwriter blog zome, in distinct
copies (each copy's wasm carries its own custom section, so it is a different module with
its own compile and cache entry, as 10 real apps would be). Then, in a fresh process each
time:

* ``cold_start_10_apps_s``: the module cache is warm (``home/cache/wasm`` as a previous run
  left it): ``Conductor.open`` (keystore unsealed with zomehost's default Argon2id cost)
  until the first call into each of the 10 apps has returned;
* ``cold_start_10_apps_cold_cache_s``: the same after deleting ``home/cache/wasm``, so
  every module is compiled again.

Each figure also records the time from spawning the process (interpreter start and imports
included) and how long unsealing the keystore took.
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

from zomehost.bench.harness import PASSPHRASE, app_bundle, make_home, wasm_path

# (zome name, built wasm, function, payload) per kind of app
KINDS: list[tuple[str, str, str, Any]] = [
    ("echo", "bench_echo", "noop", b""),
    ("probe", "probe", "echo", "hello"),
    ("notes", "notes", "list_notes", None),
    ("blog", "ghostwriter_blog", "list_posts", None),
]
APPS = 10


def _variant(wasm: bytes, tag: int) -> bytes:
    """The module with a custom section naming ``tag``: same code, different hash."""
    name = b"zomehost-bench-variant"
    body = bytes([len(name)]) + name + tag.to_bytes(4, "little")
    return wasm + b"\x00" + bytes([len(body)]) + body


def build_home(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    from zomehost.conductor.conductor import Conductor

    home = make_home(root / "home", fast_keystore=False)
    wasm_dir = root / "wasm"
    wasm_dir.mkdir()
    plan = []
    conductor = Conductor.open(home, PASSPHRASE)
    try:
        for i in range(APPS):
            zome, built, fn, payload = KINDS[i % len(KINDS)]
            path = wasm_dir / f"{built}-{i}.wasm"
            path.write_bytes(_variant(wasm_path(built).read_bytes(), i))
            app_id = f"app{i}"
            app = conductor.install_app(app_bundle(root, app_id, [(zome, str(path))]), app_id)
            plan.append(
                {
                    "cell": [app.cell_id("main").dna_hash.raw.hex(), app.agent.raw.hex()],
                    "zome": zome,
                    "fn": fn,
                    "payload": payload.hex() if isinstance(payload, bytes) else payload,
                    "bytes": isinstance(payload, bytes),
                }
            )
    finally:
        conductor.close()
    return home.path, plan


CHILD = r"""
import json, sys, time
t_start = time.perf_counter()
from zomehost.conductor.conductor import Conductor
from zomehost.core.zome_call import ZomeCall
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.keystore import Keystore
from zomehost.conductor.home import Home
t_imported = time.perf_counter()
home_path, passphrase, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t0 = time.perf_counter()
home = Home(__import__("pathlib").Path(home_path))
keystore = home.open_keystore(passphrase)
t_unsealed = time.perf_counter()
conductor = Conductor(home, keystore)
answers = []
for p in plan:
    cell = CellId(DnaHash(bytes.fromhex(p["cell"][0])), AgentPubKey(bytes.fromhex(p["cell"][1])))
    payload = bytes.fromhex(p["payload"]) if p["bytes"] else p["payload"]
    try:
        conductor.call_zome(ZomeCall(cell, p["zome"], p["fn"], pack(payload), cell.agent))
        answers.append("ok")
    except Exception as exc:
        answers.append(f"{type(exc).__name__}: {exc}")
t_done = time.perf_counter()
conductor.close()
print(json.dumps({
    "open_to_answered_s": t_done - t0,
    "unseal_s": t_unsealed - t0,
    "imports_s": t_imported - t_start,
    "wall_end": time.time(),
    "answers": answers,
}))
"""


def _run_child(home: Path, plan: list[dict[str, Any]]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
    if "ZOMEHOST_BOUNDARY" in os.environ:
        env["ZOMEHOST_BOUNDARY"] = os.environ["ZOMEHOST_BOUNDARY"]
    spawned = time.time()
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), PASSPHRASE, json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if r.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {r.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    out["spawn_to_answered_s"] = out.pop("wall_end") - spawned
    bad = [a for a in out["answers"] if a != "ok"]
    if bad:
        raise RuntimeError(f"cold-start calls failed: {bad}")
    return out


def measure(runs: int = 5) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="zomehost-coldstart-"))
    try:
        home, plan = build_home(root)
        cache = home / "cache" / "wasm"
        _run_child(home, plan)  # every cell's init has run; the cache is complete
        warm = [_run_child(home, plan) for _ in range(runs)]
        cold = []
        for _ in range(max(2, runs // 2)):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(_run_child(home, plan))

        def fig(rs: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "value": statistics.median(r["open_to_answered_s"] for r in rs),
                "unit": "s",
                "n": len(rs),
                "spawn_to_answered_s": statistics.median(r["spawn_to_answered_s"] for r in rs),
                "keystore_unseal_s": statistics.median(r["unseal_s"] for r in rs),
                "python_imports_s": statistics.median(r["imports_s"] for r in rs),
                "runs_s": [round(r["open_to_answered_s"], 4) for r in rs],
            }

        return {
            "cold_start_10_apps_s": fig(warm),
            "cold_start_10_apps_cold_cache_s": fig(cold),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure(3), indent=2))
