"""Calls the event loop runs itself (core/on_loop.py, api/app.py), against a real
``zomehost run``: trying to break the fast path.

A function the conductor has learnt is a fast read runs on the loop. Here such a function
(the probe's ``read_or``) then writes, signals, logs or spins in one call: that call must
move to a worker before it acts and do what it does exactly once, the loop must keep
serving other clients, and the function's next calls must run on workers (100 of them,
twice as many after each further move). A replayed call and a forged signature must be
refused on the loop as on a worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zomehost.api.app import OFF_LOOP_CALLS
from zomehost.client import (
    AdminClient,
    AppClient,
    ZomeCallAuthenticationFailed,
    ZomeCallFailed,
    ZomeCallUnauthorized,
)
from zomehost.client.signing import get_signing_credentials
from zomehost.core.codec import pack
from zomehost.core.limits import Admission
from zomehost.core.on_loop import MAX_BYTES
from zomehost.core.zome_call import ZomeCallParams, new_nonce, sign_call
from zomehost.errors import InvalidInput
from zomehost.testing.process import set_section

from .conftest import ConductorProc, api_home

ORIGIN = "zomehost-test"
TIMEOUT_S = 2.0  # the cells' call limit: a spin ends there
LEARN = 5  # plain reads first: the conductor learns read_or is a fast read


def _start(root: Path, module_cache: Path, **sections: Any) -> ConductorProc:
    """``zomehost run`` on a fresh home whose config has these ``sections``, logging at INFO
    (a function's move off the loop is logged there)."""
    home = api_home(root / "home", module_cache)
    for name, value in sections.items():
        set_section(home, name, value)
    return ConductorProc(home, root / "conductor.log").start("--log-level", "info")


@pytest.fixture
def daemon(tmp_path_factory: pytest.TempPathFactory, module_cache: Path) -> Iterator[ConductorProc]:
    """A conductor of its own per test: what it learns of the probe's functions (which
    moved off the loop) holds for every cell that runs the probe's module."""
    root = tmp_path_factory.mktemp("on-loop")
    proc = _start(root, module_cache, limits={"timeout_ms": int(TIMEOUT_S * 1000)})
    yield proc
    assert proc.stop() == 0, proc.output()


async def _apps(daemon: ConductorProc, bundle: bytes, app_id: str, n: int) -> list[AppClient]:
    """``n`` clients of a fresh probe app (its own cell: its own knowledge of functions)."""
    async with await AdminClient.connect(daemon.admin_url, origin=ORIGIN) as admin:
        await admin.install_app(bundle=bundle, installed_app_id=app_id, network_seed=app_id)
        await admin.enable_app(app_id)
        port = await admin.attach_app_interface(allowed_origins=ORIGIN, installed_app_id=app_id)
        clients = []
        for _ in range(n):
            token = await admin.issue_app_authentication_token(app_id, single_use=False)
            app = await AppClient.connect(f"ws://127.0.0.1:{port}", token, origin=ORIGIN)
            await admin.authorize_signing_credentials(app.cell_id("main"))
            clients.append(app)
        return clients


async def _learn(app: AppClient) -> None:
    for _ in range(LEARN):
        assert await app.call_zome("a", "read_or", "read", role_name="main") == "read"


def _moved_lines(daemon: ConductorProc, fn: str = "a.read_or") -> list[str]:
    """The log lines saying ``fn`` moved off the loop (for how many calls)."""
    return [
        line
        for line in daemon.log.read_text(errors="replace").splitlines()
        if f"{fn} runs on workers for its next" in line
    ]


def test_a_read_that_creates_writes_once_on_a_worker(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    async def scenario() -> None:
        (app,) = await _apps(daemon, probe_bundle, "creates", 1)
        async with app:
            await _learn(app)
            before = len(await app.call_zome("a", "query_chain", None, role_name="main"))
            assert await app.call_zome("a", "read_or", "create", role_name="main") == "create"
            records = await app.call_zome("a", "query_chain", None, role_name="main")
            assert len(records) == before + 1  # written once, not once per run
            assert await app.call_zome("a", "read_or", "read", role_name="main") == "read"

    moved = len(_moved_lines(daemon))
    asyncio.run(scenario())
    lines = _moved_lines(daemon)[moved:]
    assert len(lines) == 1 and "host function create" in lines[0], lines


def test_a_read_that_signals_signals_once(daemon: ConductorProc, probe_bundle: bytes) -> None:
    async def scenario() -> list[object]:
        (app,) = await _apps(daemon, probe_bundle, "signals", 1)
        seen: list[object] = []
        app.on_signal(lambda s: seen.append(s.payload))
        async with app:
            await _learn(app)
            assert await app.call_zome("a", "read_or", "signal", role_name="main") == "signal"
            await asyncio.sleep(0.5)  # a second copy would have arrived by now
        return seen

    assert asyncio.run(scenario()) == ["signal"]


def test_a_read_that_logs_logs_once(daemon: ConductorProc, probe_bundle: bytes) -> None:
    def logged() -> int:
        return daemon.log.read_text(errors="replace").count("read_or logs once")

    async def scenario() -> None:
        (app,) = await _apps(daemon, probe_bundle, "logs", 1)
        async with app:
            await _learn(app)
            assert await app.call_zome("a", "read_or", "log", role_name="main") == "log"

    before = logged()
    asyncio.run(scenario())
    time.sleep(0.2)
    assert logged() == before + 1


def test_a_read_that_spins_holds_the_loop_once_and_briefly(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    async def scenario() -> tuple[float, int]:
        spinner, other = await _apps(daemon, probe_bundle, "spins", 2)
        async with spinner, other:
            await _learn(spinner)
            await _learn(other)
            stop = asyncio.Event()
            worst, calls = 0.0, 0

            async def meanwhile() -> None:
                nonlocal worst, calls
                while not stop.is_set():
                    t0 = time.monotonic()
                    assert await other.call_zome("a", "echo", "x", role_name="main") == "x"
                    worst, calls = max(worst, time.monotonic() - t0), calls + 1

            task = asyncio.create_task(meanwhile())
            await asyncio.sleep(0.2)
            for _ in range(2):  # the first moves off the loop, the second starts on a worker
                t0 = time.monotonic()
                with pytest.raises(ZomeCallFailed) as failed:
                    await spinner.call_zome("a", "read_or", "spin", role_name="main")
                assert time.monotonic() - t0 >= TIMEOUT_S * 0.9  # its own limit, in full
                assert "MovedToWorker" not in failed.value.message
            stop.set()
            await task
            return worst, calls

    worst, calls = asyncio.run(scenario())
    assert calls > 20, calls  # the other client was served while both spins ran
    assert worst < 0.5, f"another client waited {worst:.3f} s"
    lines = _moved_lines(daemon)
    assert any("running past" in line for line in lines), lines


def test_replays_and_forgeries_are_refused_on_the_loop(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    async def scenario() -> None:
        (app,) = await _apps(daemon, probe_bundle, "replays", 1)
        async with app:
            for _ in range(LEARN):  # echo is known as a fast read: it runs on the loop
                assert await app.call_zome("a", "echo", "hi", role_name="main") == "hi"
            cell = app.cell_id("main")
            creds = get_signing_credentials(cell)
            assert creds is not None
            params = ZomeCallParams(
                provenance=creds.provenance,
                cell_id=cell,
                zome_name="a",
                fn_name="echo",
                cap_secret=creds.cap_secret,
                payload=pack("once"),
                nonce=new_nonce(),
                expires_at=time.time_ns() // 1000 + 60_000_000,
            )
            data, signature = sign_call(params, creds.key)
            assert await app.call_zome_signed(data, signature) == "once"
            with pytest.raises(ZomeCallUnauthorized, match="BadNonce"):
                await app.call_zome_signed(data, signature)
            forged = bytes([signature[0] ^ 1]) + signature[1:]
            fresh = dataclasses.replace(params, nonce=new_nonce())
            data, _ = sign_call(fresh, creds.key)
            with pytest.raises(ZomeCallAuthenticationFailed):
                await app.call_zome_signed(data, forged)

    asyncio.run(scenario())


def test_with_reads_on_loop_off_every_call_goes_to_a_worker(
    tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    off = _start(tmp_path, module_cache, admission={"reads_on_loop": False})

    async def scenario() -> None:
        (app,) = await _apps(off, probe_bundle, "off", 1)
        async with app:
            await _learn(app)
            assert await app.call_zome("a", "read_or", "create", role_name="main") == "create"

    try:
        asyncio.run(scenario())
    finally:
        assert off.stop() == 0, off.output()
    assert _moved_lines(off) == []  # nothing ran on the loop, so nothing had to move


def test_a_moved_function_starts_on_workers_in_every_cell_of_its_module(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    """A clone (or any cell running the same zome) does not give a function that once had
    to move another go on the loop."""

    async def scenario() -> None:
        (first,) = await _apps(daemon, probe_bundle, "first", 1)
        (second,) = await _apps(daemon, probe_bundle, "second", 1)
        async with first, second:
            await _learn(first)
            assert await first.call_zome("a", "read_or", "log", role_name="main") == "log"
            await _learn(second)  # its own cell learns read_or is a fast read
            assert await second.call_zome("a", "read_or", "log", role_name="main") == "log"

    asyncio.run(scenario())
    assert len(_moved_lines(daemon)) == 1, _moved_lines(daemon)


def test_a_big_call_is_not_tried_on_the_loop(daemon: ConductorProc, probe_bundle: bytes) -> None:
    """A call of more than on_loop.MAX_BYTES goes to a worker even for a known fast read:
    verifying and copying it would hold the loop. (``log`` moves whenever it runs on the
    loop: a big call of it leaves no such line, the next small one does.)"""

    async def scenario() -> None:
        (app,) = await _apps(daemon, probe_bundle, "big", 1)
        async with app:
            await app.call_zome("a", "log", "learn", role_name="main")  # a worker learns it
            await app.call_zome("a", "log", "x" * (2 * MAX_BYTES), role_name="main")
            assert _moved_lines(daemon, "a.log") == []
            await app.call_zome("a", "log", "small", role_name="main")

    asyncio.run(scenario())
    assert len(_moved_lines(daemon, "a.log")) == 1


def test_reads_on_loop_is_a_boolean() -> None:
    assert Admission.from_config({"reads_on_loop": False}).reads_on_loop is False
    assert Admission.from_config(None).reads_on_loop is True
    with pytest.raises(InvalidInput, match="reads_on_loop"):
        Admission.from_config({"reads_on_loop": "yes"})


def test_a_moved_function_comes_back_to_the_loop_later_and_less_often(
    daemon: ConductorProc, probe_bundle: bytes
) -> None:
    """A read that wrote once (get-or-create) runs on workers for its next OFF_LOOP_CALLS
    calls the loop could run, then on the loop again; moving again keeps it off twice as
    long."""

    async def reads(app: AppClient) -> None:
        # the first read after a write does not count: its cell knows it wrote
        for _ in range(OFF_LOOP_CALLS + 1):
            assert await app.call_zome("a", "read_or", "read", role_name="main") == "read"

    async def scenario() -> None:
        (app,) = await _apps(daemon, probe_bundle, "returns", 1)
        async with app:
            await _learn(app)
            for _ in range(3):  # moves; back on the loop, moves again; still off: no move
                assert await app.call_zome("a", "read_or", "create", role_name="main") == "create"
                await reads(app)

    asyncio.run(scenario())
    lines = _moved_lines(daemon)
    assert len(lines) == 2, lines
    assert f"for its next {OFF_LOOP_CALLS} calls" in lines[0]
    assert f"for its next {2 * OFF_LOOP_CALLS} calls" in lines[1]
