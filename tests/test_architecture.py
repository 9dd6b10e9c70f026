"""The layer contract: `import-linter` holds the code to it, and docs/architecture.md draws it.

The contract lives in pyproject.toml (``[tool.importlinter]``). These tests run the real
linter on the real package, show that it fails when an upward import is added, and keep the
page's ``layers`` block identical to the contract.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(package_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo", str(PYPROJECT)],
        cwd=package_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _layers() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [str(x) for x in layers]


def test_the_package_keeps_its_contracts() -> None:
    out = _lint(REPO / "host")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("network/transport.py", "from zomehost.conductor.conductor import Conductor"),
        ("core/hash.py", "import zomehost.ribosome.engine"),
        ("conductor/app.py", "from zomehost.api import views"),
        ("client/signing.py", "from zomehost.conductor.home import Home"),
        ("ribosome/context.py", "from zomehost.chain.source_chain import Workspace"),
        ("core/codec.py", "import asyncio"),
    ],
)
def test_an_upward_or_sideways_import_breaks_the_contract(
    tmp_path: Path, module: str, upward: str
) -> None:
    copy = tmp_path / "zomehost"
    shutil.copytree(REPO / "host" / "zomehost", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{upward}  # noqa\n")
    out = _lint(tmp_path)
    assert out.returncode != 0, out.stdout
    assert "BROKEN" in out.stdout
    assert module.replace("/", ".").removesuffix(".py") in out.stdout


def test_an_import_cycle_inside_a_package_breaks_the_contract(tmp_path: Path) -> None:
    copy = tmp_path / "zomehost"
    shutil.copytree(REPO / "host" / "zomehost", copy, ignore=shutil.ignore_patterns("__pycache__"))
    tokens = copy / "api" / "tokens.py"
    tokens.write_text(tokens.read_text() + "\nfrom zomehost.api import server  # noqa\n")
    out = _lint(tmp_path)
    assert out.returncode != 0
    assert "No cycles are allowed in zomehost.api" in out.stdout


def test_the_architecture_page_draws_the_contract() -> None:
    page = (REPO / "docs" / "architecture.md").read_text()
    block = re.search(r"```layers\n(.*?)```", page, re.S)
    assert block is not None, "docs/architecture.md has no ```layers block"
    drawn = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    assert drawn == _layers()
