"""Fair service (issue 13.7): one client flooding one cell with slow calls cannot hold every
worker thread; another client's call is answered while the flood still runs.

A real `zomehost run` with small bounds (`admission: {calls_per_cell: 12,
calls_per_connection: 24}`, calls time out after 2 s); the flood is 3 connections x 24 calls
that spin until their deadline — 72 calls, more than the daemon's 64 workers (without the
bounds the bystander would wait for a spin to end).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from zomehost.client import AdminClient, AppClient, ZomeCallFailed

from .conftest import ConductorProc, api_home

ORIGIN = "zomehost-test"
SPIN_S = 2.0
FLOOD = (3, 24)


def _home(tmp: Path, module_cache: Path) -> Path:
    home = api_home(tmp / "home", module_cache)
    config = home / "conductor-config.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["limits"] = {"timeout_ms": int(SPIN_S * 1000)}
    doc["admission"] = {"calls_per_cell": 12, "calls_per_connection": 24}
    config.write_text(yaml.safe_dump(doc))
    return home


async def _client(admin: AdminClient, port: int, app_id: str) -> AppClient:
    token = await admin.issue_app_authentication_token(app_id, single_use=False)
    app = await AppClient.connect(f"ws://127.0.0.1:{port}", token, origin=ORIGIN)
    await admin.authorize_signing_credentials(app.cell_id("main"))
    return app


def test_a_flood_on_one_cell_leaves_workers_for_everyone_else(
    tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    daemon = ConductorProc(_home(tmp_path, module_cache), tmp_path / "run.log").start()

    async def scenario() -> tuple[float, float, list[Any]]:
        admin = await AdminClient.connect(daemon.admin_url, origin=ORIGIN)
        async with admin:
            for app_id in ("flooded", "bystander"):
                await admin.install_app(
                    bundle=probe_bundle, installed_app_id=app_id, network_seed=app_id
                )
                await admin.enable_app(app_id)
            port = await admin.attach_app_interface(allowed_origins=ORIGIN)
            flooders = [await _client(admin, port, "flooded") for _ in range(FLOOD[0])]
            bystander = await _client(admin, port, "bystander")
        start = time.monotonic()
        flood = [
            asyncio.create_task(c.call_zome("a", "spin", None, role_name="main"))
            for c in flooders
            for _ in range(FLOOD[1])
        ]
        await asyncio.sleep(0.5)  # the flood has taken what it may
        assert await bystander.call_zome("a", "echo", "still served", role_name="main") == (
            "still served"
        )
        answered = time.monotonic() - start
        results = await asyncio.gather(*flood, return_exceptions=True)
        first_flood_answer = SPIN_S  # no spin can end before its deadline
        for c in [*flooders, bystander]:
            await c.close()
        return answered, first_flood_answer, results

    try:
        answered, first_flood_answer, results = asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        daemon.stop()
    # The bystander was answered while every flood call was still spinning or queued.
    assert answered < first_flood_answer, answered
    # The flood itself is served too, in turn: every call ends with its own Timeout.
    assert len(results) == FLOOD[0] * FLOOD[1]
    assert all(isinstance(r, ZomeCallFailed) and "deadline" in r.message for r in results), {
        type(r).__name__ for r in results
    }
