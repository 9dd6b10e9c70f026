"""The native boundary's build (ribosome/native/build.py) and what happens without it.

The build compiles one C file; it must report a failure (no compiler, a compiler error, a
compiler that hangs) as a reason instead of raising or hanging, and a stale or missing
extension must not be loaded: the conductor then runs on the ctypes boundary and says so
once in its log.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from zomehost.ribosome import fastpath, native, nativepath
from zomehost.ribosome import ribosome as ribosome_module
from zomehost.ribosome.engine import WasmEngine
from zomehost.ribosome.native import build
from zomehost.ribosome.ribosome import select_boundary


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Build into a temporary directory, not next to the real source."""
    monkeypatch.setattr(build, "target", lambda: tmp_path / "_boundary.so")
    return tmp_path


def test_the_real_extension_is_up_to_date_and_loads() -> None:
    assert build.up_to_date(), "run `just native`"
    module, why = native.load()
    assert module is not None and why is None
    assert build.build(verbose=False) is None  # up to date: nothing to do


def test_a_changed_source_makes_the_extension_stale(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = elsewhere / "_boundary.c"
    source.write_text(build.SOURCE.read_text())
    monkeypatch.setattr(build, "SOURCE", source)
    assert build.build(verbose=False) is None and build.up_to_date()
    source.write_text(source.read_text() + "\n/* changed */\n")
    assert not build.up_to_date()


@pytest.mark.parametrize(
    ("cmd", "why"),
    [
        (["/nonexistent/cc"], "no C compiler"),
        ([sys.executable, "-c", "import sys; sys.exit('boom')"], "the compiler failed: boom"),
        ([sys.executable, "-c", "import time; time.sleep(30)"], "did not finish"),
    ],
)
def test_a_failed_build_is_a_reason_not_a_crash(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, cmd: list[str], why: str
) -> None:
    monkeypatch.setattr(build, "command", lambda: cmd)
    monkeypatch.setattr(build, "TIMEOUT_S", 1)
    got = build.build(verbose=False)
    assert got is not None and why in got
    assert not build.up_to_date()


def test_without_the_extension_the_ctypes_boundary_runs_and_it_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.delenv("ZOMEHOST_BOUNDARY", raising=False)
    monkeypatch.setattr(nativepath, "_ext", None)
    monkeypatch.setattr(nativepath, "_unavailable", "pretend it did not build")
    monkeypatch.setattr(ribosome_module, "_said", set())
    engine = WasmEngine(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="zomehost.ribosome"):
            kinds: list[Any] = [select_boundary(engine).kind for _ in range(3)]
        assert kinds == ["fast"] * 3 and fastpath.unavailable() is None
        said = [r for r in caplog.records if "pretend it did not build" in r.getMessage()]
        assert len(said) == 1
    finally:
        engine.close()
