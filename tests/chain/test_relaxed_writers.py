"""Four clients writing to one cell of a real conductor process, every write relaxed: no
call fails (head moves are rebased, not refused), and after kill -9s mid-stream every
acknowledged write is on the chain and the chain verifies."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import PASSPHRASE, fast_home, seed_cache
from zomehost.conductor.conductor import Conductor
from zomehost.core.action import ActionType
from zomehost.core.codec import unpack
from zomehost.core.hash import CellId
from zomehost.core.query import ChainQueryFilter

CLIENTS = 4
CALLS = 40  # per client, in the run that is not killed
KILLS = 3
_SCRIPT = Path(sys.executable).with_name("zomehost")
REPO = Path(__file__).resolve().parents[2]


async def _run_conductor(home: Path) -> tuple[asyncio.subprocess.Process, int]:
    (home / "run.json").unlink(missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        str(_SCRIPT),
        "--home",
        str(home),
        "run",
        "--admin-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "ZOMEHOST_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO / "host")},
    )
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line, "the conductor exited before it listened"
        if "admin interface listening on ws://" in line:
            return proc, int(line.rsplit(":", 1)[1])


async def _cycle(
    home: Path,
    run: int,
    state: dict[str, Any],
    acked: set[str],
    failures: list[str],
    kill_after: float | None,
) -> int:
    """One conductor process, 4 clients; killed after ``kill_after`` s, or after CALLS each."""
    from zomehost.client import AdminClient, AppClient

    proc, port = await _run_conductor(home)
    assert proc.stdout is not None
    drain = asyncio.ensure_future(proc.stdout.read())
    killed = False
    try:
        async with await AdminClient.connect(f"ws://127.0.0.1:{port}") as admin:
            if "cell" not in state:
                info = await admin.install_app(bundle=state["bundle"], installed_app_id="w")
                await admin.enable_app("w")
                state["cell"] = CellId.from_wire(info["cell_info"]["main"][0]["value"]["cell_id"])
                await admin.authorize_signing_credentials(state["cell"])
            app_port = await admin.attach_app_interface(allowed_origins="*")
            tokens = [await admin.issue_app_authentication_token("w") for _ in range(CLIENTS)]

        async def client(k: int) -> int:
            done = 0
            async with await AppClient.connect(f"ws://127.0.0.1:{app_port}", tokens[k]) as app:
                while kill_after is not None or done < CALLS:
                    value = f"{run}-{k}-{done}"
                    try:
                        await app.call_zome(
                            "a", "create_entry", {"value": value, "relaxed": True}, role_name="main"
                        )
                    except Exception as exc:
                        if killed:
                            return done  # the conductor is gone: not a failed call
                        failures.append(f"{value}: {exc!r}")
                        continue
                    acked.add(value)  # the client has the response: acknowledged
                    done += 1
            return done

        async def killer() -> None:
            nonlocal killed
            assert kill_after is not None
            await asyncio.sleep(kill_after)
            killed = True
            proc.kill()

        jobs = [client(k) for k in range(CLIENTS)]
        if kill_after is not None:
            results = await asyncio.gather(killer(), *jobs, return_exceptions=True)
            return sum(r for r in results[1:] if isinstance(r, int))
        return sum(await asyncio.gather(*jobs))
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await drain


def test_four_relaxed_clients_never_fail_and_survive_kill_9(
    tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    home = fast_home(tmp_path / "home")
    seed_cache(home, module_cache)
    cfg = yaml.safe_load(home.config_path.read_text())
    cfg["network"] = {"enabled": False}
    home.config_path.write_text(yaml.safe_dump(cfg))
    state: dict[str, Any] = {"bundle": probe_bundle}
    acked: set[str] = set()
    failures: list[str] = []
    assert asyncio.run(_cycle(home.path, 0, state, acked, failures, None)) == CLIENTS * CALLS
    assert failures == []
    rng = random.Random(17)
    for run in range(1, KILLS + 1):
        asyncio.run(_cycle(home.path, run, state, acked, failures, rng.uniform(0.3, 1.0)))
        assert failures == []
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
