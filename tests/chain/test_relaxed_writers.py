"""Four clients, each its own process with its own app WebSocket, writing to one cell of a
real conductor process, every write relaxed: no call fails (head moves are rebased, not
refused), and after kill -9s of the conductor mid-stream every write a client had its
answer for is on the chain, and the chain verifies."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from conftest import PASSPHRASE
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.action import ActionType
from zomehost.core.codec import unpack
from zomehost.core.hash import CellId
from zomehost.core.query import ChainQueryFilter
from zomehost.testing import ConductorProcess, make_home

CLIENTS = 4
CALLS = 40  # per client, in the run that is not killed
KILLS = 3
REPO = Path(__file__).resolve().parents[2]
_ENV = {**os.environ, "ZOMEHOST_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO / "host")}

# One client process: relaxed writes in a row; "ACK value" once the answer is in (the
# write is acknowledged), "FAIL value error" for a call the conductor answered with an
# error; it ends quietly when the conductor is gone.
_CLIENT = r"""
import asyncio, json, sys
from zomehost.client import AppClient, ConductorApiError, SigningCredentials
from zomehost.core.hash import AgentPubKey, CellId, DnaHash

a = json.loads(sys.argv[1])
cell = CellId(DnaHash(bytes.fromhex(a["dna"])), AgentPubKey(bytes.fromhex(a["agent"])))
creds = SigningCredentials.from_doc(a["creds"])

async def main():
    async with await AppClient.connect(a["url"], bytes.fromhex(a["token"])) as app:
        print("READY", flush=True)
        n = 0
        while a["calls"] is None or n < a["calls"]:
            value = f"{a['run']}-{a['k']}-{n}"
            n += 1
            payload = {"value": value, "relaxed": True}
            try:
                await app.call_zome("a", "create_entry", payload, cell_id=cell, credentials=creds)
            except ConductorApiError as exc:
                print("FAIL", value, repr(exc), flush=True)
                continue
            except Exception:
                return  # the conductor is gone
            print("ACK", value, flush=True)

try:
    asyncio.run(main())
except Exception:
    pass  # the conductor went before this client connected
"""


async def _client(args: dict[str, Any], ready: asyncio.Event, acked: set[str]) -> list[str]:
    """One client process; the writes it had answers for go into ``acked`` as they come.
    Returns its failed calls."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CLIENT,
        json.dumps(args),
        stdout=asyncio.subprocess.PIPE,
        env=_ENV,
    )
    assert proc.stdout is not None
    failed = []
    async for raw in proc.stdout:
        kind, _, rest = raw.decode().rstrip("\n").partition(" ")
        if kind == "READY":
            ready.set()
        elif kind == "ACK":
            acked.add(rest)
        elif kind == "FAIL":
            failed.append(rest)
    await proc.wait()
    return failed


async def _cycle(
    home: Path,
    run: int,
    state: dict[str, Any],
    acked: set[str],
    kill_after: float | None,
) -> list[str]:
    """One conductor process and 4 client processes; the conductor is killed ``kill_after``
    s after every client connected, or the clients stop after CALLS each. Returns the
    calls that failed."""
    from zomehost.client import AdminClient

    conductor = ConductorProcess(home, passphrase=PASSPHRASE).start()
    try:
        async with await AdminClient.connect(conductor.admin_url) as admin:
            if "cell" not in state:
                info = await admin.install_app(bundle=state["bundle"], installed_app_id="w")
                await admin.enable_app("w")
                state["cell"] = CellId.from_wire(info["cell_info"]["main"][0]["value"]["cell_id"])
                creds = await admin.authorize_signing_credentials(state["cell"])
                state["creds"] = creds.to_doc()
            app_port = await admin.attach_app_interface(allowed_origins="*")
            tokens = [await admin.issue_app_authentication_token("w") for _ in range(CLIENTS)]
        cell: CellId = state["cell"]
        ready = [asyncio.Event() for _ in range(CLIENTS)]
        clients = [
            asyncio.ensure_future(
                _client(
                    {
                        "url": f"ws://127.0.0.1:{app_port}",
                        "token": tokens[k].hex(),
                        "dna": cell.dna_hash.raw.hex(),
                        "agent": cell.agent.raw.hex(),
                        "creds": state["creds"],
                        "run": run,
                        "k": k,
                        "calls": None if kill_after is not None else CALLS,
                    },
                    ready[k],
                    acked,
                )
            )
            for k in range(CLIENTS)
        ]
        if kill_after is not None:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
            await asyncio.sleep(kill_after)
            conductor.kill()  # SIGKILL: no shutdown, whatever was in flight
        failed = await asyncio.wait_for(asyncio.gather(*clients), 120)
        return [f for per_client in failed for f in per_client]
    finally:
        conductor.kill()


def test_four_relaxed_clients_never_fail_and_survive_kill_9(
    tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    home = Home(make_home(tmp_path / "home", passphrase=PASSPHRASE, module_cache=module_cache))
    state: dict[str, Any] = {"bundle": probe_bundle}
    acked: set[str] = set()
    assert asyncio.run(_cycle(home.path, 0, state, acked, None)) == []
    assert len(acked) == CLIENTS * CALLS
    rng = random.Random(17)
    for run in range(1, KILLS + 1):
        before = len(acked)
        assert asyncio.run(_cycle(home.path, run, state, acked, rng.uniform(0.3, 1.0))) == []
        assert len(acked) > before  # the clients were writing when the conductor died
    conductor = Conductor.open(home, PASSPHRASE)
    try:
        chain = conductor.cell(state["cell"]).chain
        n = chain.verify()
        records = chain.records(
            ChainQueryFilter(
                entry_type=frozenset({"probe"}),
                action_type=frozenset({ActionType.CREATE}),
                include_entries=True,
            )
        )
        on_chain = {unpack(r.entry.content) for r in records if r.entry is not None}
    finally:
        conductor.close()
    lost = acked - on_chain
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes are not on the chain"
    assert len(acked) > CLIENTS * CALLS and n > len(acked)
