"""Fixtures of the scaffolding tests: a user's working directory outside the repository and
the real ``zomehost`` console script run in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import PASSPHRASE, REPO

ZOMEHOST = Path(sys.executable).parent / "zomehost"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory outside the repository, as a user's would be."""
    work = tmp_path / "work"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO.resolve())
    return work


@pytest.fixture
def zh(workdir: Path, tmp_path: Path) -> Run:
    """``zh(*args, cwd=workdir, check=True)``: run the ``zomehost`` console script."""
    home = tmp_path / "zomehost-home"

    def run(
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        timeout: float = 900,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
        environ.update(ZOMEHOST_HOME=str(home), ZOMEHOST_PASSPHRASE=PASSPHRASE, COLUMNS="200")
        environ.update(env or {})
        proc = subprocess.run(
            [str(ZOMEHOST), *args],
            cwd=cwd or workdir,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"zomehost {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    return run


def needs_node() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
