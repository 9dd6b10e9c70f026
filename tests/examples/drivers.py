"""Running the example drivers (examples/<app>/run.py) as a user would, reading the
conductor homes they leave behind, and summing up chains for assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.action import ActionType, Record
from zomehost.core.codec import unpack
from zomehost.testing import TEST_PASSPHRASE

REPO = Path(__file__).resolve().parents[2]


def run_driver(
    app: str, sandbox_dir: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python examples/<app>/run.py --dir <sandbox_dir>``: homes and logs stay for inspection."""
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / app / "run.py"), "--dir", str(sandbox_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_said(out: str, *lines: str) -> None:
    """Every one of ``lines`` is somewhere in a driver's output."""
    for line in lines:
        assert line in out, f"missing {line!r} in:\n{out}"


def chain_of(home: Path, app_id: str, role: str) -> list[Record]:
    """The records of a stopped conductor's cell, read straight from its home."""
    conductor = Conductor.open(Home(home), TEST_PASSPHRASE)
    try:
        return conductor.cell_for(app_id, role).chain.records()
    finally:
        conductor.close()


def chain_shape(records: list[Record]) -> list[str]:
    """One line per record: ``Dna``, ``Create:note``, ``Create:CapGrant:<tag>``, ``Delete``…"""
    out = []
    for r in records:
        a = r.action
        if a.type not in (ActionType.CREATE, ActionType.UPDATE):
            out.append(a.type.value)
        elif a.entry_type == "CapGrant" and r.entry is not None:
            out.append(f"{a.type.value}:CapGrant:{unpack(r.entry.content)['tag']}")
        else:
            out.append(f"{a.type.value}:{a.entry_type}")
    return out
