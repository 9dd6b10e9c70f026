"""Crash safety: SIGKILL a conductor during sustained writes, many times; after each restart
`zomehost chain verify` finds every chain intact, and every write that was acknowledged to a
client is on its chain.

Two drivers:
* in-process: a writer subprocess opens the conductor itself (crash_writer.py) and writes
  on two cells from two threads; acknowledged = printed after ``call_zome`` returned;
* daemon: `zomehost run` with the real admin/app WebSocket API and the Python client;
  acknowledged = the client received the call's response.

Kills per run: ZOMEHOST_CRASH_KILLS for the daemon (default 20), ZOMEHOST_CRASH_INPROC_KILLS
for the in-process writer (default 10), so both fit in about a minute of CI; docs/sandbox.md
records a longer run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from zomehost.core.hash import ActionHash, CellId
from zomehost.fuzz.testbed import PASSPHRASE, TestBed, app_bundle, dna, make_home, wat
from zomehost.testing import ConductorProcess

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("ZOMEHOST_CRASH_KILLS", "20"))
INPROC_KILLS = int(os.environ.get("ZOMEHOST_CRASH_INPROC_KILLS", "10"))
WRITER = Path(__file__).with_name("crash_writer.py")
ENV = {**os.environ, "ZOMEHOST_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO / "host")}


def conductor_on(home: Path) -> ConductorProcess:
    return ConductorProcess(home, passphrase=PASSPHRASE)


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return conductor_on(home).cli(*args, timeout=120)


def verify(home: Path, app: str, acked: set[str]) -> int:
    """`zomehost chain verify` passes and every acknowledged hash is on the chain."""
    v = cli(home, "chain", "verify", app, "main")
    assert v.returncode == 0 and "intact" in v.stdout, v.stdout + v.stderr
    shown = cli(home, "chain", app, "main", "--json")
    assert shown.returncode == 0, shown.stderr
    on_chain = {r["action_hash"] for r in json.loads(shown.stdout)}
    lost = acked - on_chain
    assert not lost, f"{len(lost)} acknowledged writes of {app} are not on the chain"
    return len(on_chain)


# -- in-process writer --------------------------------------------------------------------
def test_sigkill_during_writes_in_process(tmp_path: Path) -> None:
    bed = TestBed(tmp_path / "home", durable=True)
    apps = ["crash-a", "crash-b"]
    for app in apps:
        cell = bed.install({"writer": wat("writer")}, app_id=app)
        bed.call(cell, "writer", "ok")
    bed.close()
    home = bed.home.path
    acked: dict[str, set[str]] = {a: set() for a in apps}
    rng = random.Random(6)
    killed_mid_write = 0
    for run in range(INPROC_KILLS):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(home), str(run), *apps],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(proc.stdout,))
        reader.start()
        started = time.monotonic()
        while not lines and time.monotonic() - started < 60 and proc.poll() is None:
            time.sleep(0.01)
        if not lines or lines[0] != "ready\n":
            os.kill(proc.pid, signal.SIGUSR1)  # dump the writer's threads to its stderr
            time.sleep(1)
            proc.kill()
            proc.wait()
            reader.join()
            stderr = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"the writer did not start (run {run}): {lines[:1]} {stderr[-6000:]}")
        lines.pop(0)
        time.sleep(rng.uniform(0.05, 0.6))  # then kill it mid-stream
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        got = 0
        for line in lines:
            if not line.endswith("\n"):
                continue  # torn at the kill: never acknowledged
            app, hx = line.split()
            acked[app].add(str(ActionHash(bytes.fromhex(hx))))
            got += 1
        killed_mid_write += got > 0
    assert killed_mid_write >= INPROC_KILLS // 2, "the writer was rarely killed mid-stream"
    total = 0
    for app in apps:
        assert acked[app], f"no write of {app} was ever acknowledged"
        total += verify(home, app, acked[app])
    print(
        f"in-process: {INPROC_KILLS} kills, {sum(map(len, acked.values()))} acknowledged writes, "
        f"{total} records verified"
    )


# -- the daemon and the real client API ----------------------------------------------------
async def _daemon_cycle(
    home: Path, run: int, rng: random.Random, state: dict[str, Any], acked: set[str]
) -> int:
    from zomehost.client import AdminClient, AppClient

    conductor = conductor_on(home).start()
    got = 0
    try:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            if "cell" not in state:
                info = await admin.install_app(bundle=state["bundle"], installed_app_id="daemon")
                await admin.enable_app("daemon")
                cell = CellId.from_wire(info["cell_info"]["main"][0]["value"]["cell_id"])
                state["cell"] = cell
                await admin.authorize_signing_credentials(cell)
            app_port = await admin.attach_app_interface(allowed_origins="*")
            token = await admin.issue_app_authentication_token("daemon")
        kill_at = asyncio.get_running_loop().time() + rng.uniform(0.1, 0.8)

        async def killer() -> None:
            await asyncio.sleep(max(0.0, kill_at - asyncio.get_running_loop().time()))
            conductor.kill()

        kill = asyncio.ensure_future(killer())
        try:
            async with await AppClient.connect(f"ws://127.0.0.1:{app_port}", token) as app:
                i = 0
                while True:
                    h = await app.call_zome(
                        "writer", "create_entry", {"run": run, "i": i}, role_name="main"
                    )
                    acked.add(str(ActionHash(bytes(h))))  # the client has the response
                    got += 1
                    i += 1
        except Exception:
            pass  # the connection died with the conductor
        await kill
    finally:
        conductor.kill()
    return got


def test_sigkill_the_daemon_during_client_writes(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", durable=True).path
    cfg = yaml.safe_load((home / "conductor-config.yaml").read_text())
    cfg["network"] = {"enabled": False}
    (home / "conductor-config.yaml").write_text(yaml.safe_dump(cfg))
    state: dict[str, Any] = {
        "bundle": app_bundle({"main": dna({"writer": wat("writer")}, seed="daemon")})
    }
    acked: set[str] = set()
    rng = random.Random(66)
    mid = 0
    for run in range(KILLS):
        mid += asyncio.run(_daemon_cycle(home, run, rng, state, acked)) > 0
    assert mid >= KILLS // 2, "the conductor was rarely killed mid-stream"
    n = verify(home, "daemon", acked)
    print(f"daemon: {KILLS} kills, {len(acked)} acknowledged writes, {n} records verified")
