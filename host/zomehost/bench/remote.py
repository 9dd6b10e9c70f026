"""``call_remote`` between two conductor processes over the encrypted peer transport.

A ``zomehost bootstrap`` process for discovery and two ``zomehost run`` processes (A and B),
each with the probe app. B grants ``echo`` to anyone; a Python client of A then alternates
two calls on A: ``call_remote_fn`` (A's zome calls ``echo`` on B through ``call_remote``)
and a plain local ``echo`` of the same payload. ``remote_call_p50_ms`` / ``..._p99_ms`` are
percentiles of the per-pair difference (remote minus local): the round trip A -> B -> A,
B's call included, without the client's own hop to A. The end-to-end figures are kept too.
A runs every client call on a worker (``admission.reads_on_loop: false``): by default its
local ``echo`` would run on the event loop and skip the worker hop the remote call pays
(``call_remote`` must not block the loop), and the difference would count that hop too.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from zomehost.bench.client import ORIGIN, conductor_process, setup_app
from zomehost.bench.harness import app_bundle, summary
from zomehost.testing.process import BootstrapProcess, ConductorProcess


async def _measure(a: dict[str, Any], b: dict[str, Any], pairs: int) -> dict[str, Any]:
    from zomehost.client import AppClient, SigningCredentials
    from zomehost.core.hash import AgentPubKey, CellId, DnaHash

    def cell(s: dict[str, Any]) -> CellId:
        return CellId(
            DnaHash(bytes.fromhex(s["cell"][0])), AgentPubKey(bytes.fromhex(s["cell"][1]))
        )

    ca, cb = cell(a), cell(b)
    creds_a = SigningCredentials.from_doc(a["creds"])
    creds_b = SigningCredentials.from_doc(b["creds"])
    url_a, url_b = f"ws://127.0.0.1:{a['port']}", f"ws://127.0.0.1:{b['port']}"
    app_a = await AppClient.connect(url_a, bytes.fromhex(a["token"]), origin=ORIGIN)
    app_b = await AppClient.connect(url_b, bytes.fromhex(b["token"]), origin=ORIGIN)
    try:
        grant = {"tag": "bench", "access": "Unrestricted", "functions": {"Listed": [["a", "echo"]]}}
        await app_b.call_zome("a", "make_grant", grant, cell_id=cb, credentials=creds_b)
        payload = "x" * 256
        arg = {"agent": cb.agent.raw, "zome_name": "a", "fn_name": "echo", "payload": payload}

        async def remote() -> Any:
            return await app_a.call_zome(
                "a", "call_remote_fn", arg, cell_id=ca, credentials=creds_a
            )

        async def local() -> Any:
            return await app_a.call_zome("a", "echo", payload, cell_id=ca, credentials=creds_a)

        end = time.monotonic() + 60  # discovery: until B is found
        while True:
            res = await remote()
            if isinstance(res, dict) and "Ok" in res:
                break
            if time.monotonic() > end:
                raise RuntimeError(f"B never answered: {res}")
            await asyncio.sleep(0.2)
        for _ in range(50):
            await remote()
            await local()
        diffs, e2e, loc = [], [], []
        clock = time.perf_counter
        for _ in range(pairs):
            t0 = clock()
            res = await remote()
            t1 = clock()
            await local()
            t2 = clock()
            if not (isinstance(res, dict) and "Ok" in res):
                raise RuntimeError(f"remote call failed: {res}")
            e2e.append(t1 - t0)
            loc.append(t2 - t1)
            diffs.append((t1 - t0) - (t2 - t1))
        d = summary([x * 1e3 for x in diffs])
        r = summary([x * 1e3 for x in e2e])
        lo = summary([x * 1e3 for x in loc])
        extra = {
            "end_to_end_p50_ms": r["median"],
            "end_to_end_p99_ms": r["p99"],
            "local_call_p50_ms": lo["median"],
            "n": d["n"],
        }
        return {
            "remote_call_p50_ms": {
                "value": d["median"],
                "median": d["median"],
                "unit": "ms",
                **extra,
            },
            "remote_call_p99_ms": {"value": d["p99"], "unit": "ms", **extra},
        }
    finally:
        await app_a.close()
        await app_b.close()


def measure(pairs: int = 1000) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="zomehost-bench-remote-"))
    boot = BootstrapProcess(root).start()
    procs: list[ConductorProcess] = []
    try:
        network = {"bootstrap_url": boot.url, "refresh_interval_s": 0.5, "call_timeout_ms": 15000}
        for name in ("a", "b"):
            sub = root / name
            sub.mkdir()
            procs.append(conductor_process(sub, network=network, reads_on_loop=name != "a"))
        for p in procs:
            p.start(ready=("admin_port", "network"))
        bundle = app_bundle(root, "probe", [("a", "probe")])
        setups = [asyncio.run(setup_app(p, bundle, "probe")) for p in procs]
        out = asyncio.run(_measure(setups[0], setups[1], pairs))
        kinds = {str(p.endpoints.get("wasm_boundary")) for p in procs}  # what A and B run on
        boundary = kinds.pop() if len(kinds) == 1 else " and ".join(sorted(kinds))
        for figure in out.values():
            figure["boundary"] = boundary
        return out
    finally:
        for p in procs:
            if p.running:
                p.stop()
        boot.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure(200), indent=2))
