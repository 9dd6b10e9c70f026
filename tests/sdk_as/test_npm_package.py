"""The AssemblyScript SDK as a package (issue 18.9): ``npm pack`` makes a tarball, an app
scaffolded by ``zomehost new app --lang as`` installs that tarball by path, ``zomehost
build`` compiles the app's zome against the installed copy, and the zome answers a call in
a real conductor. Offline: ``npm pack`` and ``npm install --offline`` of a local tarball
need no registry; the compiler comes from the checkout's node_modules (linked in as
``npm install assemblyscript`` would have put it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import zomehost
from zomehost.testing import Scenario

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SDK = REPO / "sdk" / "assemblyscript"
NODE_MODULES = REPO / "node_modules"
COMPILER = ("assemblyscript", "binaryen", "long")  # asc and its dependencies


def npm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("npm")
    if exe is None:
        pytest.fail("npm is not installed (scripts/bootstrap installs it)")
    env = {**os.environ, "npm_config_update_notifier": "false"}
    done = subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"npm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def zomehost_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", "from zomehost.cli.main import app; app()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"zomehost {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_version_is_the_python_packages() -> None:
    """One version source (``zomehost.__version__``): the SDKs' manifests repeat it."""
    package = json.loads((SDK / "package.json").read_text())
    crate = tomllib.loads((REPO / "sdk" / "rust" / "Cargo.toml").read_text())
    assert package["version"] == zomehost.__version__
    assert crate["package"]["version"] == zomehost.__version__


def test_npm_pack_then_install_by_path_builds_a_zome(tmp_path: Path) -> None:
    for name in COMPILER:
        if not (NODE_MODULES / name / "package.json").is_file():
            pytest.fail(f"{NODE_MODULES / name} is missing: run `npm install` at the repo root")

    packed = json.loads(
        npm("pack", "--offline", "--json", "--pack-destination", str(tmp_path), cwd=SDK).stdout
    )
    [meta] = packed
    tarball = tmp_path / meta["filename"]
    assert meta["name"] == "@zomehost/sdk" and meta["version"] == zomehost.__version__
    files = {f["path"] for f in meta["files"]}
    assert {
        "package.json",
        "index.ts",
        "assembly/index.ts",
        "bin/zomehost-asc.mjs",
        "README.md",
        "LICENSE",
    } <= files
    assert not any(f.startswith(("node_modules/", "build/")) for f in files)

    zomehost_cli("new", "app", "scratch", "--lang", "as", cwd=tmp_path)
    app = tmp_path / "scratch"
    manifest = json.loads((app / "package.json").read_text())
    manifest["devDependencies"] = {"@zomehost/sdk": f"file:{tarball}"}
    (app / "package.json").write_text(json.dumps(manifest, indent=2))
    # the SDK's peer dependency (assemblyscript) is linked below, not fetched
    npm("install", "--offline", "--legacy-peer-deps", "--no-audit", "--no-fund", cwd=app)
    installed = app / "node_modules" / "@zomehost" / "sdk"
    assert installed.is_dir() and not installed.is_symlink()  # a copy out of the tarball
    assert json.loads((installed / "package.json").read_text())["version"] == meta["version"]
    for name in COMPILER:
        (app / "node_modules" / name).symlink_to(NODE_MODULES / name)

    built = zomehost_cli("build", cwd=app)
    assert f"@zomehost/sdk from {app / 'node_modules'}" in built.stderr, built.stderr
    assert (app / "zomes" / "scratch" / "build" / "scratch.wasm").is_file()

    with Scenario(tmp_path / "conductors", network=False) as s:
        (author,) = s.add_players(app, ["author"])
        assert author.call("scratch", "hello", "world") == "Hello, world"
