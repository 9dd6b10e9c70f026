"""One process per home (issue 13.12): while `zomehost run` holds a home, CLI commands that
would open the conductor in process are refused with one line naming the daemon and how to
reach it, and write nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import ZOMEHOST, ConductorProc, api_home


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZOMEHOST), "--home", str(home), *args],
        env=ConductorProc.env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_the_cli_does_not_write_past_a_running_daemon(
    tmp_path: Path, module_cache: Path, notes_happ: Path
) -> None:
    home = api_home(tmp_path / "home", module_cache)
    installed = _cli(home, "app", "install", str(notes_happ), "--app-id", "notes")
    assert installed.returncode == 0, installed.stderr
    daemon = ConductorProc(home, tmp_path / "run.log").start()
    try:
        note = json.dumps({"title": "t", "body": "b"})
        for args, through in (
            (("call", "notes", "notes", "notes", "create_note", note), True),
            (("schedules", "notes", "notes"), True),
            (("app", "install", str(notes_happ), "--app-id", "second"), False),
            (("app", "disable", "notes"), False),
            (("grants", "notes", "notes"), False),
            (("chain", "verify", "notes", "notes"), False),
        ):
            r = _cli(home, *args)
            assert r.returncode == 1, (args, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1, r.stderr
            assert f"pid {daemon.proc.pid if daemon.proc else '?'}" in lines[0]
            # only a command that has --conductor suggests it
            assert (f"go through it with --conductor {daemon.admin_url}" in lines[0]) == through
            assert through or f"takes admin calls at {daemon.admin_url}" in lines[0], lines
        # Through the daemon, as the message says, the call works.
        through = _cli(home, "call", "--conductor", daemon.admin_url, "notes", "notes", "notes",
                       "list_notes")  # fmt: skip
        assert through.returncode == 0, through.stderr
        assert json.loads(through.stdout) == []
    finally:
        assert daemon.stop() == 0
    after = _cli(home, "call", "notes", "notes", "notes", "list_notes")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == []  # the refused create wrote nothing
    listed = _cli(home, "app", "list", "--json")
    assert [a["app_id"] for a in json.loads(listed.stdout)] == ["notes"]
