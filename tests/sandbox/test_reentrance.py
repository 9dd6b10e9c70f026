"""Re-entrance: nested instances on one thread (calls, init, post_commit, local remote
signals) are bounded, never overflow the native stack, and never deadlock."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zomehost.core.hash import CellId
from zomehost.fuzz.testbed import TestBed, app_bundle, dna, wat
from zomehost.ribosome.engine import MAX_NESTED_INSTANCES

from .conftest import BOUNDARIES

REPO = Path(__file__).resolve().parents[2]

# Each nested level of reenter_deep_stack uses ~250 KiB of the 256 KiB wasm stack before it
# calls back in. Before the 256 KiB stack and the nested-instance limit, 16 levels of
# 512 KiB overflowed the 8 MiB native stack and the conductor died of SIGSEGV.
DEEP_STACK_SCRIPT = """
import sys, tempfile, threading
from pathlib import Path
from zomehost.fuzz.testbed import TestBed, wat
tb = TestBed(Path(tempfile.mkdtemp()) / "h", {"timeout_ms": 20000, "max_call_depth": 1000},
             boundary=sys.argv[1])
cell = tb.install({"hostile": wat("hostile")})
def run(where):
    try:
        tb.call(cell, "hostile", "reenter_deep_stack")
        print(where, "returned")
    except Exception as exc:
        print(where, type(exc).__name__, exc)
run("main")
t = threading.Thread(target=run, args=("thread",))
t.start()
t.join()
tb.close()
"""


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_deep_stack_at_every_level_cannot_crash_the_process(boundary: str) -> None:
    """Run in a child process: a native stack overflow would kill it, not the tests."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "host")}
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(DEEP_STACK_SCRIPT), boundary],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, f"the process died ({proc.returncode}): {proc.stderr[-2000:]}"
    for where in ("main", "thread"):
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(where))
        assert "LimitExceeded" in line and "nested" in line, line
        assert f"limit {MAX_NESTED_INSTANCES}" in line


@pytest.fixture(scope="module", params=BOUNDARIES)
def bed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestBed]:
    tb = TestBed(
        Path(tmp_path_factory.mktemp("reentrance")) / "home",
        {"timeout_ms": 3000},
        boundary=request.param,
    )
    yield tb
    tb.close()


@pytest.fixture(scope="module")
def writer(bed: TestBed) -> CellId:
    return bed.install({"writer": wat("writer")}, app_id="writer")


def test_remote_signal_storm_is_bounded(
    bed: TestBed, writer: CellId, caplog: pytest.LogCaptureFixture
) -> None:
    """recv_remote_signal re-signals its own agent: local delivery nests (at depth 0 for
    the call-depth limit), so only the nested-instance limit stops it."""
    cell = bed.install({"sig": wat("signal_loop")})
    before = bed.chain_len(cell)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="zomehost.conductor"):
        assert bed.call(cell, "sig", "ping") is None
    assert time.monotonic() - start < 2.5
    storm = [r for r in caplog.records if "recv_remote_signal" in r.getMessage()]
    assert storm and all("RecursionError" not in r.getMessage() for r in storm)
    assert any(f"(limit {MAX_NESTED_INSTANCES})" in r.getMessage() for r in storm)
    assert bed.chain_len(cell) == before + 2  # init's grant and InitZomesComplete, no more
    assert bed.call(writer, "writer", "ok") is None


@pytest.mark.timeout(30)
def test_call_back_into_an_initialising_cell_does_not_deadlock(
    bed: TestBed, writer: CellId
) -> None:
    """a's init bridges to b, whose `back` calls a again while a's init still runs: that
    inner call is refused (it used to block forever on a's init lock)."""
    roles = {
        "a": dna({"a": wat("init_reenter_a")}, seed=f"{bed.boundary}-a"),
        "b": dna({"b": wat("init_reenter_b")}, seed=f"{bed.boundary}-b"),
    }
    app = bed.conductor.install_app(app_bundle(roles), "init-reenter")
    start = time.monotonic()
    assert bed.call(app.cell_id("a"), "a", "ok") is None  # init passes; the callback refused
    assert time.monotonic() - start < 2
    assert bed.conductor.cell(app.cell_id("a")).initialized
    assert bed.call(writer, "writer", "ok") is None
