"""Fair service under a flood (issue 13.7): what everyone else sees while one client floods.

One ``zomehost run``: a flooder opens three connections to one cell and keeps every slot the
admission bounds give it busy with calls that spin until their deadline (more calls than
the daemon has workers); meanwhile a bystander calls ``echo_1k`` on another cell back to
back. Reported: the bystander's p50/p99 under the flood beside the same calls with no flood,
in the same run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from zomehost.bench.client import ORIGIN, PAYLOAD, conductor_process, setup_app
from zomehost.bench.harness import app_bundle, summary

SPIN_MS = 2000
FLOOD_CONNECTIONS = 3
FLOOD_PER_CONNECTION = 32  # a connection's request bound (MAX_IN_FLIGHT)


async def _client(setup: dict[str, Any]) -> tuple[Any, Any, Any]:
    from zomehost.client import AppClient, SigningCredentials
    from zomehost.core.hash import AgentPubKey, CellId, DnaHash

    cell = CellId(
        DnaHash(bytes.fromhex(setup["cell"][0])), AgentPubKey(bytes.fromhex(setup["cell"][1]))
    )
    creds = SigningCredentials.from_doc(setup["creds"])
    url = f"ws://127.0.0.1:{setup['port']}"
    app = await AppClient.connect(url, bytes.fromhex(setup["token"]), origin=ORIGIN)
    return app, cell, creds


async def _bystander(setup: dict[str, Any], calls: int) -> list[float]:
    app, cell, creds = await _client(setup)
    lat = []
    async with app:
        for _ in range(calls):
            t0 = time.perf_counter()
            await app.call_zome("echo", "echo_1k", PAYLOAD, cell_id=cell, credentials=creds)
            lat.append(time.perf_counter() - t0)
    return lat


async def _flood(setup: dict[str, Any], stop: asyncio.Event) -> int:
    clients = [await _client(setup) for _ in range(FLOOD_CONNECTIONS)]
    done = 0

    async def keep_busy(app: Any, cell: Any, creds: Any) -> None:
        nonlocal done
        while not stop.is_set():
            try:
                await app.call_zome("probe", "spin", None, cell_id=cell, credentials=creds)
            except Exception:  # every spin ends with its deadline: that is the point
                done += 1

    tasks = [
        asyncio.create_task(keep_busy(*c)) for c in clients for _ in range(FLOOD_PER_CONNECTION)
    ]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for app, _, _ in clients:
        await app.close()
    return done


async def _run(flooded: dict[str, Any], quiet: dict[str, Any], calls: int) -> dict[str, Any]:
    alone = await _bystander(quiet, calls)
    stop = asyncio.Event()
    flood = asyncio.create_task(_flood(flooded, stop))
    await asyncio.sleep(1.0)  # the flood holds what it may
    under = await _bystander(quiet, calls)
    stop.set()
    return {"alone": alone, "under": under, "flood_calls_ended": await flood}


def measure(calls: int = 300) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="zomehost-bench-fair-"))
    conductor = conductor_process(root)
    config = conductor.home / "conductor-config.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["limits"] = {"timeout_ms": SPIN_MS}
    config.write_text(yaml.safe_dump(doc))
    try:
        conductor.start()
        bundle = app_bundle(root, "fair", [("echo", "bench_echo"), ("probe", "probe")])
        flooded = asyncio.run(setup_app(conductor, bundle, "flooded"))
        quiet = asyncio.run(setup_app(conductor, bundle, "bystander"))
        got = asyncio.run(_run(flooded, quiet, calls))
    finally:
        if conductor.running:
            conductor.stop()
        shutil.rmtree(root, ignore_errors=True)
    alone, under = (
        summary([x * 1e3 for x in got["alone"]]),
        summary([x * 1e3 for x in got["under"]]),
    )
    flood = FLOOD_CONNECTIONS * FLOOD_PER_CONNECTION
    return {
        "flood_bystander_p50_ms": {"value": under["median"], "unit": "ms", "n": under["n"],
                                   "alone": alone["median"], "flood_calls": flood},
        "flood_bystander_p99_ms": {"value": under["p99"], "unit": "ms", "n": under["n"],
                                   "alone": alone["p99"], "flood_calls": flood},
    }  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure(100), indent=2))
