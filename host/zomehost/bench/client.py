"""Calls over the app WebSocket of a real ``zomehost run`` process.

* ``client_call_p50_ms`` / ``client_call_p99_ms``: sequential signed calls (bench_echo
  ``echo_1k``, 1 KiB in and out) from the Python client (``zomehost.client.AppClient``);
  ``client_call_js_p50_ms`` / ``..._p99_ms``: the same from the real ``@holochain/client``
  (``bench/hc_client_bench.mjs``, run by node).
* ``client_p50_over_ws_echo``: the Python client's p50 over a bare WebSocket echo between
  two Python processes (``websockets``, same message size, no compression) in the same run:
  the floor any Python conductor API has.
* ``concurrent_read_calls_per_s``: 100 clients, each its own app WebSocket, calling the same
  read function in a loop for a fixed time: completed calls per second. The clients run as
  tasks on uvloop (as the conductor does) in ``CLIENT_PROCS`` separate processes, so signing
  is not done on one core.

The conductor and the clients share the machine's two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zomehost.bench.harness import PASSPHRASE, REPO, app_bundle, make_home, summary
from zomehost.testing.process import ConductorProcess, set_network, set_section

ORIGIN = "zomehost-bench"
PAYLOAD = bytes((i * 31) & 0xFF for i in range(1024))
CLIENT_PROCS = 2


def conductor_process(
    root: Path, *, network: dict[str, Any] | None = None, reads_on_loop: bool = True
) -> ConductorProcess:
    """``zomehost run`` (not started) on a fresh bench home; the peer network off unless
    ``network`` is given; ``reads_on_loop``: ``admission.reads_on_loop``.
    ``ZOMEHOST_BOUNDARY`` passes through to it."""
    home = make_home(root / "home").path
    set_network(home, network if network is not None else {"enabled": False})
    if not reads_on_loop:
        set_section(home, "admission", {"reads_on_loop": False})
    return ConductorProcess(
        home, root / "conductor.log", passphrase=PASSPHRASE, keep_env=("ZOMEHOST_BOUNDARY",)
    )


async def setup_app(conductor: ConductorProcess, bundle: bytes, app_id: str) -> dict[str, Any]:
    """Install + enable an app, attach an interface; returns what a client needs."""
    from zomehost.client import AdminClient

    async with await AdminClient.connect(conductor.admin_url, origin=ORIGIN) as admin:
        agent = await admin.generate_agent_pub_key()
        await admin.install_app(bundle=bundle, installed_app_id=app_id, agent_key=agent)
        info = await admin.enable_app(app_id)
        ((_role, cells),) = info["cell_info"].items()
        cell_wire = cells[0]["value"]["cell_id"]
        from zomehost.core.hash import CellId

        cell_id = CellId.from_wire(cell_wire)
        creds = await admin.authorize_signing_credentials(cell_id)
        port = await admin.attach_app_interface(allowed_origins=ORIGIN, installed_app_id=app_id)
        tokens = [
            await admin.issue_app_authentication_token(
                app_id, single_use=False, expiry_seconds=3600
            )
            for _ in range(1)
        ]
        return {
            "port": port,
            "token": tokens[0].hex(),
            "cell": [cell_id.dna_hash.raw.hex(), cell_id.agent.raw.hex()],
            "creds": creds.to_doc(),
        }


async def _python_latencies(setup: dict[str, Any], calls: int, warmup: int) -> list[float]:
    from zomehost.client import AppClient, SigningCredentials
    from zomehost.core.hash import AgentPubKey, CellId, DnaHash

    cell_id = CellId(
        DnaHash(bytes.fromhex(setup["cell"][0])), AgentPubKey(bytes.fromhex(setup["cell"][1]))
    )
    creds = SigningCredentials.from_doc(setup["creds"])
    url = f"ws://127.0.0.1:{setup['port']}"
    async with await AppClient.connect(url, bytes.fromhex(setup["token"]), origin=ORIGIN) as app:
        out = await app.call_zome("echo", "echo_1k", PAYLOAD, cell_id=cell_id, credentials=creds)
        assert out == PAYLOAD
        for _ in range(warmup):
            await app.call_zome("echo", "echo_1k", PAYLOAD, cell_id=cell_id, credentials=creds)
        lat = []
        clock = time.perf_counter
        for _ in range(calls):
            t0 = clock()
            await app.call_zome("echo", "echo_1k", PAYLOAD, cell_id=cell_id, credentials=creds)
            lat.append(clock() - t0)
        return lat


ECHO_SERVER = r"""
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def _ws_echo_latencies(calls: int, warmup: int, size: int) -> list[float]:
    """Round trips of a ``size``-byte message to a bare echo server in another process."""
    from websockets.asyncio.client import connect

    server = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())

        async def run() -> list[float]:
            message = os.urandom(size)
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
                for _ in range(warmup):
                    await ws.send(message)
                    await ws.recv()
                lat = []
                clock = time.perf_counter
                for _ in range(calls):
                    t0 = clock()
                    await ws.send(message)
                    await ws.recv()
                    lat.append(clock() - t0)
                return lat

        return asyncio.run(run())
    finally:
        server.kill()
        server.wait(5)


CONCURRENT_CHILD = r"""
import asyncio, json, sys, time
from zomehost.bench.client import concurrent_worker
setup, clients = json.loads(sys.argv[1]), int(sys.argv[2])
seconds, start_at, fn = float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
import uvloop  # the clients' own loop: uvloop, as the conductor's
print(json.dumps(uvloop.run(concurrent_worker(setup, clients, seconds, start_at, fn))))
"""


def concurrent_clients(
    setup: dict[str, Any], per_process: list[int], seconds: float, fn: str = "noop"
) -> list[dict[str, Any]]:
    """Client processes (``per_process[i]`` connections in process ``i``) calling
    ``echo.<fn>`` together for ``seconds``: each process's :func:`concurrent_worker` result."""
    start_at = time.time() + 3.0 + sum(per_process) * 0.02
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONCURRENT_CHILD,
                json.dumps(setup),
                str(n),
                str(seconds),
                str(start_at),
                fn,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in per_process
    ]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=seconds + 120)
        if p.returncode != 0:
            raise RuntimeError(f"concurrent client failed: {stderr[-2000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


async def concurrent_worker(
    setup: dict[str, Any], clients: int, seconds: float, start_at: float, fn: str = "noop"
) -> dict[str, Any]:
    """``clients`` connections calling ``echo.<fn>`` back to back until ``seconds`` after
    ``start_at``: completed calls, calls the conductor answered with an error (counted, the
    client goes on), and the first errors. ``noop`` gets 64 bytes; any other function a
    payload of its own per call (``create_one_relaxed``: a new entry each time)."""
    from zomehost.client import AppClient, ConductorApiError, SigningCredentials
    from zomehost.core.hash import AgentPubKey, CellId, DnaHash

    cell_id = CellId(
        DnaHash(bytes.fromhex(setup["cell"][0])), AgentPubKey(bytes.fromhex(setup["cell"][1]))
    )
    creds = SigningCredentials.from_doc(setup["creds"])
    url = f"ws://127.0.0.1:{setup['port']}"
    token = bytes.fromhex(setup["token"])
    apps = [await AppClient.connect(url, token, origin=ORIGIN) for _ in range(clients)]
    counts, failed = [0] * clients, [0] * clients
    errors: list[str] = []
    data = PAYLOAD[:64]
    tag = os.getpid()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    end = time.time() + seconds

    async def loop(k: int) -> None:
        app = apps[k]
        while time.time() < end:
            payload = data if fn == "noop" else b"entry %d-%d-%d" % (tag, k, counts[k])
            try:
                await app.call_zome("echo", fn, payload, cell_id=cell_id, credentials=creds)
                counts[k] += 1
            except ConductorApiError as exc:
                failed[k] += 1
                errors.append(f"{type(exc).__name__}: {exc}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return

    t0 = time.time()
    await asyncio.gather(*(loop(k) for k in range(clients)))
    elapsed = time.time() - t0
    for app in apps:
        await app.close()
    return {"calls": sum(counts), "failed": sum(failed), "elapsed": elapsed, "errors": errors[:5]}


def _js_latencies(conductor: ConductorProcess, happ: Path, calls: int) -> tuple[list[float], str]:
    node = shutil.which("node")
    client = REPO / "node_modules" / "@holochain" / "client"
    if node is None or not client.is_dir():
        return [], "node or @holochain/client is missing (run `npm install`)"
    env = {
        **os.environ,
        "ADMIN_PORT": str(conductor.endpoints["admin_port"]),
        "HAPP_PATH": str(happ),
        "CALLS": str(calls),
        "WARMUP": str(max(50, calls // 10)),
    }
    r = subprocess.run(
        [node, str(REPO / "bench" / "hc_client_bench.mjs")],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return [], f"node failed: {r.stderr[-500:]}"
    doc = json.loads(lines[-1])
    if not doc.get("ok"):
        return [], f"@holochain/client: {doc.get('error')}"
    return [x / 1e3 for x in doc["latencies_ms"]], ""


def measure(calls: int = 2000, clients: int = 100, seconds: float = 8.0) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="zomehost-bench-client-"))
    conductor = conductor_process(root)
    out: dict[str, Any] = {}
    try:
        conductor.start()
        boundary = conductor.endpoints.get("wasm_boundary")  # what the conductor runs on
        bundle = app_bundle(root, "bench", [("echo", "bench_echo")])
        happ = root / "bench.happ"
        setup = asyncio.run(setup_app(conductor, bundle, "bench-py"))
        lat = asyncio.run(_python_latencies(setup, calls, max(50, calls // 10)))
        s = summary([x * 1e3 for x in lat])
        out["client_call_p50_ms"] = {"value": s["median"], "unit": "ms", "n": s["n"]}
        out["client_call_p99_ms"] = {"value": s["p99"], "unit": "ms", "n": s["n"]}
        # A signed echo_1k request is ~1.4 KB on the wire: echo the same size.
        echo = summary([x * 1e3 for x in _ws_echo_latencies(calls, max(50, calls // 10), 1400)])
        out["ws_echo_p50_ms"] = {"value": echo["median"], "unit": "ms", "n": echo["n"]}
        ratio = s["median"] / echo["median"]
        out["client_p50_over_ws_echo"] = {
            "value": ratio,
            "median": ratio,
            "unit": "x",
            "client_p50_ms": s["median"],
            "ws_echo_p50_ms": echo["median"],
            "boundary": boundary,
        }
        print(
            f"    signed client call p50 {s['median']:.3f} ms, bare WebSocket echo p50 "
            f"{echo['median']:.3f} ms: {ratio:.2f}x",
            file=sys.stderr,
            flush=True,
        )
        js, why = _js_latencies(conductor, happ, calls)
        if js:
            s = summary([x * 1e3 for x in js])
            out["client_call_js_p50_ms"] = {"value": s["median"], "unit": "ms", "n": s["n"]}
            out["client_call_js_p99_ms"] = {"value": s["p99"], "unit": "ms", "n": s["n"]}
        else:
            note = f"not measured: {why}"
            out["client_call_js_p50_ms"] = {"value": None, "note": note}
            out["client_call_js_p99_ms"] = {"value": None, "note": note}
        # 100 concurrent clients, split over CLIENT_PROCS processes
        per = [clients // CLIENT_PROCS + (1 if i < clients % CLIENT_PROCS else 0)
               for i in range(CLIENT_PROCS)]  # fmt: skip
        results = concurrent_clients(setup, per, seconds)
        total = sum(r["calls"] for r in results)
        elapsed = max(r["elapsed"] for r in results)
        errors = [e for r in results for e in r["errors"]]
        out["concurrent_read_calls_per_s"] = {
            "value": total / elapsed,
            "median": total / elapsed,
            "unit": "calls/s",
            "n": total,
            "clients": clients,
            "client_processes": CLIENT_PROCS,
            "errors": errors,
            "boundary": boundary,
        }
    finally:
        if conductor.running:
            conductor.stop()
        shutil.rmtree(root, ignore_errors=True)
    return out


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure(300, 100, 4.0), indent=2))
