"""Answers written by the worker that ran the call (api/app_socket.py), against a real
``zomehost run``: trying to break the fast path.

* many concurrent calls on one connection, answers from 1 byte to 2 MiB (the socket takes
  big ones in parts) and signals in between: every frame arrives whole, every answer is its
  own call's, every call's signal arrives before its answer;
* a client that stops reading while big answers are written: another client is served
  meanwhile, and once it reads again every answer arrives intact;
* a client that vanishes in the middle of big answers: the conductor keeps serving, and
  every admission slot the dead connection held is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from zomehost.client import AdminClient, AppClient, ClientClosed

from .conftest import ConductorProc, api_home

ORIGIN = "zomehost-test"
PER_CELL = 4  # admission: calls_per_cell (small, so a leaked slot would stall the cell)
SIZES = [1, 100, 10_000, 300_000, 2_000_000]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, module_cache: Path) -> Iterator[ConductorProc]:
    root = tmp_path_factory.mktemp("worker-answers")
    home = api_home(root / "home", module_cache)
    config = home / "conductor-config.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["admission"] = {"calls_per_cell": PER_CELL, "calls_per_connection": 16}
    config.write_text(yaml.safe_dump(doc))
    proc = ConductorProc(home, root / "conductor.log").start()
    yield proc
    assert proc.stop() == 0, proc.output()


async def _app(daemon: ConductorProc, bundle: bytes, app_id: str) -> tuple[AdminClient, int]:
    admin = await AdminClient.connect(daemon.admin_url, origin=ORIGIN)
    await admin.install_app(bundle=bundle, installed_app_id=app_id, network_seed=app_id)
    await admin.enable_app(app_id)
    port = await admin.attach_app_interface(allowed_origins=ORIGIN, installed_app_id=app_id)
    return admin, port


async def _client(admin: AdminClient, port: int, app_id: str) -> AppClient:
    token = await admin.issue_app_authentication_token(app_id, single_use=False)
    app = await AppClient.connect(f"ws://127.0.0.1:{port}", token, origin=ORIGIN)
    await admin.authorize_signing_credentials(app.cell_id("main"))
    return app


def _text(i: int, size: int) -> str:
    head = f"{i}:"
    return head + "x" * max(0, size - len(head))


def test_concurrent_answers_and_signals_stay_whole_and_in_order(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    async def scenario() -> None:
        admin, port = await _app(daemon, probe_bundle, "interleave")
        async with admin:
            app = await _client(admin, port, "interleave")
        seen: list[int] = []
        app.on_signal(lambda s: seen.append(s.payload["n"]))

        async def echo(i: int) -> None:
            text = _text(i, SIZES[i % len(SIZES)])
            assert await app.call_zome("a", "echo", text, role_name="main") == text

        async def signal(i: int) -> None:
            await app.call_zome("b", "signal", {"n": i}, role_name="main")
            assert i in seen  # its signal was written before its answer

        async with app:
            calls = [echo(i) if i % 3 else signal(i) for i in range(150)]
            await asyncio.wait_for(asyncio.gather(*calls), 300)
            assert sorted(seen) == list(range(0, 150, 3))

    asyncio.run(scenario())


def test_a_client_that_stops_reading_holds_up_nobody_and_gets_every_answer(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    async def scenario() -> None:
        admin, port = await _app(daemon, probe_bundle, "slow-reader")
        async with admin:
            slow = await _client(admin, port, "slow-reader")
            other = await _client(admin, port, "slow-reader")
        async with slow, other:
            slow.ws.transport.pause_reading()  # the socket's buffers fill up
            texts = [_text(i, 2_000_000) for i in range(12)]
            pending = [
                asyncio.create_task(slow.call_zome("a", "echo", t, role_name="main")) for t in texts
            ]
            await asyncio.sleep(1.0)  # the conductor runs them and writes until stuck
            assert not all(p.done() for p in pending)
            for i in range(20):  # the same cell and interface are served meanwhile
                assert await asyncio.wait_for(
                    other.call_zome("a", "echo", f"other {i}", role_name="main"), 60
                ) == (f"other {i}")
            slow.ws.transport.resume_reading()
            assert await asyncio.wait_for(asyncio.gather(*pending), 120) == texts

    asyncio.run(scenario())


def test_a_client_gone_mid_answer_leaves_the_conductor_serving(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    async def scenario() -> None:
        admin, port = await _app(daemon, probe_bundle, "vanishing")
        async with admin:
            gone = await _client(admin, port, "vanishing")
            later = await _client(admin, port, "vanishing")
        gone.ws.transport.pause_reading()
        doomed = [
            asyncio.create_task(gone.call_zome("a", "echo", _text(i, 2_000_000), role_name="main"))
            for i in range(16)
        ]
        await asyncio.sleep(1.0)  # answers are being written (some only in part)
        gone.ws.transport.abort()
        results = await asyncio.wait_for(asyncio.gather(*doomed, return_exceptions=True), 60)
        assert all(isinstance(r, ClientClosed) for r in results if not isinstance(r, str))
        with contextlib.suppress(ClientClosed):
            await gone.close()
        async with later:
            # More concurrent calls on the cell than it has slots: a slot the dead
            # connection kept would leave some of them waiting forever.
            for _ in range(3):
                got = await asyncio.wait_for(
                    asyncio.gather(
                        *(later.call_zome("a", "echo", str(i), role_name="main") for i in range(16))
                    ),
                    120,
                )
                assert got == [str(i) for i in range(16)]

    asyncio.run(scenario())
    assert "Traceback" not in daemon.log.read_text(errors="replace")
