"""Real ``zomehost run`` processes for the conductor API tests.

A conductor here is the console script in a subprocess on a fresh home (cheap keystore,
module cache seeded, peer network off), found through the ``run.json`` it publishes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSPHRASE, REPO, AppBuilder
from zomehost.conductor.packing import pack_app_dir
from zomehost.testing.process import ConductorProcess, child_env, make_home

ZOMEHOST = Path(sys.executable).parent / "zomehost"
NOTES_DIR = REPO / "examples" / "notes"
NODE_CLIENT = REPO / "node_modules" / "@holochain" / "client"


class ConductorProc(ConductorProcess):
    """``zomehost run --admin-port 0`` on a home (``zomehost.testing``), with these tests'
    passphrase."""

    def __init__(self, home: Path, log: Path) -> None:
        super().__init__(home, log, passphrase=PASSPHRASE)

    @staticmethod
    def env() -> dict[str, str]:
        return child_env(PASSPHRASE)


def run_node(
    script: str, proc: ConductorProc, happ: Path, **extra_env: str
) -> list[dict[str, Any]]:
    """Run a tests/js script against ``proc``; every step must pass, the last be ``close``."""
    node = shutil.which("node")
    if node is None or not NODE_CLIENT.is_dir():
        pytest.fail(
            "node and @holochain/client are required: run `npm install` at the repo root "
            "(scripts/bootstrap does)"
        )
    env = {
        **os.environ,
        "ADMIN_PORT": str(proc.admin_port),
        "HAPP_PATH": str(happ),
        **extra_env,
    }
    r = subprocess.run(
        [node, str(REPO / "tests" / "js" / script)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    steps = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.returncode == 0, (
        f"{script} failed at {steps[-1] if steps else '?'}\n{r.stderr[-3000:]}\n"
        f"conductor log:\n{proc.output()}"
    )
    assert steps and steps[-1]["step"] == "close" and all(s["ok"] for s in steps)
    return steps


def api_home(path: Path, cache: Path, *, network: bool = False) -> Path:
    """A fresh home for ``zomehost run``: allowed origins '*', network off (or on, listening
    on a free loopback port with no bootstrap, publishing new cells' agent infos within
    0.2 s)."""
    peers = {"enabled": True, "listen": "127.0.0.1:0", "refresh_interval_s": 0.2}
    return make_home(
        path, passphrase=PASSPHRASE, module_cache=cache, network=peers if network else None
    )


@pytest.fixture(scope="session")
def notes_happ(wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notes app as a .happ file: ``examples/notes`` packed, or built from notes.wasm."""
    out = tmp_path_factory.mktemp("notes-happ") / "notes.happ"
    if (NOTES_DIR / "happ.yaml").is_file():
        r = subprocess.run(
            [str(ZOMEHOST), "app", "pack", str(NOTES_DIR), "-o", str(out)],
            env=ConductorProc.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return out
    if "notes" not in wasm_paths:
        pytest.fail("notes.wasm is not built: run `bash scripts/build-rust-zomes`")
    app_dir = AppBuilder(wasm_paths, out.parent / "src").write_dir(
        {"notes": [("notes", "notes")]}, name="notes"
    )
    pack_app_dir(app_dir, out)
    return out


@pytest.fixture(scope="session")
def probe_happ(wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One role ``main`` with the probe zome as ``probe`` (echo, signal, whoami, …)."""
    out = tmp_path_factory.mktemp("probe-happ") / "probe.happ"
    app_dir = AppBuilder(wasm_paths, out.parent / "src").write_dir(
        {"main": [("probe", "probe")]}, name="probe"
    )
    pack_app_dir(app_dir, out)
    return out


@pytest.fixture(scope="module")
def conductor(
    tmp_path_factory: pytest.TempPathFactory, module_cache: Path
) -> Iterator[ConductorProc]:
    """One conductor shared by a test module (apps use distinct ids)."""
    root = tmp_path_factory.mktemp("conductor")
    proc = ConductorProc(api_home(root / "home", module_cache), root / "conductor.log")
    proc.start()
    yield proc
    rc = proc.stop()
    assert rc == 0, proc.output()


@pytest.fixture
def fresh_conductor(tmp_path: Path, module_cache: Path) -> Iterator[ConductorProc]:
    proc = ConductorProc(api_home(tmp_path / "home", module_cache), tmp_path / "conductor.log")
    yield proc
    if proc.proc is not None and proc.proc.poll() is None:
        proc.stop()
