"""`zomehost web-app pack`, `zomehost app install` of a .webhapp and `zomehost app ui`, as a
user runs them (the console script in subprocesses), and the committed launcher shim."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from api.conftest import ZOMEHOST, ConductorProc, api_home
from conftest import REPO

pytestmark = pytest.mark.slow


def zomehost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZOMEHOST), *args], env=ConductorProc.env(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip


def test_pack_install_and_find_the_ui(built_uis: None, module_cache: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "gw.webhapp"
    done = zomehost("web-app", "pack", str(REPO / "examples" / "ghostwriter"), "-o", str(bundle))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(bundle) and bundle.stat().st_size > 1000

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "web-happ.yaml").write_text(
        'manifest_version: "1"\nname: b\nui: {bundled: ./nope}\nhapp_manifest: {bundled: .}\n'
    )
    done = zomehost("web-app", "pack", str(broken))
    assert done.returncode == 1 and "error:" in done.stderr and "Traceback" not in done.stderr

    home = api_home(tmp_path / "home", module_cache)
    junk = tmp_path / "junk.webhapp"
    junk.write_bytes(bundle.read_bytes()[:-100])
    done = zomehost("--home", str(home), "app", "install", str(junk), "--app-id", "junk")
    assert done.returncode == 1 and "truncated" in done.stderr
    done = zomehost("--home", str(home), "app", "install", str(bundle), "--app-id", "gw")
    assert done.returncode == 0, done.stderr
    agent = done.stdout.strip()
    done = zomehost("--home", str(home), "app", "ui", "gw")
    assert done.returncode == 1 and "no running conductor" in done.stderr

    proc = ConductorProc(home, tmp_path / "log").start()
    try:
        served = proc.ui_url("gw")
        done = zomehost("--home", str(home), "app", "ui", "gw")
        assert done.returncode == 0 and done.stdout.strip() == served
        done = zomehost("--home", str(home), "app", "ui", "dashboard")
        assert done.stdout.strip() == proc.endpoints["dashboard"]
        done = zomehost("--home", str(home), "app", "ui", "nope")
        assert done.returncode == 1 and 'serves no UI for "nope"' in done.stderr
        run = json.loads((home / "run.json").read_text())
        assert set(run["ui"]) == {"gw"} and agent.startswith("uhCAk")
    finally:
        proc.stop()


def test_the_committed_launcher_shim_is_built_from_its_source(built_uis: None) -> None:
    """scripts/build-ui rebuilt it from web/launcher/launcher.js: git sees no change."""
    shim = "host/zomehost/api/ui_assets/launcher.js"
    diff = subprocess.run(["git", "diff", "--stat", "--", shim], cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    assert diff.returncode == 0 and diff.stdout == "", diff.stdout
