"""``pip install`` is enough: a fresh virtual environment with only this checkout's wheel
installed scaffolds, builds and tests a Rust app and an AssemblyScript app, outside the
checkout, and the apps name no path into it (they build wherever they are moved)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
TEXT_SUFFIXES = {".toml", ".json", ".yaml", ".md", ".rs", ".ts", ".py", ".ini"}


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel of this checkout (built once) and its dependencies."""
    root = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root), str(REPO)],
        root, env)  # fmt: skip
    (wheel,) = root.glob("zomehost-*.whl")
    run([sys.executable, "-m", "venv", str(root / "venv")], root, env)
    run([str(root / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], root, env)
    return root / "venv"


def user_env(venv: Path, tmp: Path) -> dict[str, str]:
    """A user's shell with the venv activated: no checkout on PYTHONPATH, no zomehost settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONPATH" and k != "VIRTUAL_ENV" and not k.startswith("ZOMEHOST_")
    }
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["ZOMEHOST_HOME"] = str(tmp / "home")
    return env


def app_texts(app: Path) -> str:
    skip = {"build", "node_modules", ".zomehost", ".pytest_cache", "__pycache__"}
    texts = []
    for dirpath, dirnames, filenames in os.walk(app):
        dirnames[:] = [d for d in dirnames if d not in skip]
        texts += [
            (Path(dirpath) / f).read_text()
            for f in filenames
            if Path(f).suffix in TEXT_SUFFIXES and f != "package-lock.json"
        ]
    return "\n".join(texts)


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("lang", ["rust", "assemblyscript"])
def test_a_fresh_venv_scaffolds_builds_and_tests_an_app(
    venv: Path, tmp_path: Path, lang: str
) -> None:
    env = user_env(venv, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    zomehost = str(venv / "bin" / "zomehost")
    run([zomehost, "new", "app", "todo", "--lang", lang], work, env)
    app = work / "todo"
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (app / ".zomehost" / "sdk").resolve() == (site / "zomehost" / "sdk").resolve()
    assert str(REPO) not in app_texts(app)

    out = run([zomehost, "test", "todo"], work, env, timeout=1800)
    assert " 5 passed" in out, out

    # the plugin is found through its entry point: plain pytest in the app knows `scenario`
    out = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-k", "hello"], app, env)
    assert "1 passed" in out, out

    # the app moves: the SDK link is made again, and the build needs nothing else
    moved = tmp_path / "elsewhere" / "todo"
    shutil.move(app, moved)
    run([zomehost, "build", str(moved), "--force"], tmp_path, env)
    assert (moved / ".zomehost" / "sdk").resolve() == (site / "zomehost" / "sdk").resolve()
