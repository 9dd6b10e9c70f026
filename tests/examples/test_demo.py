"""examples/demo.sh (what `just demo` runs after building the zomes): the notes app by hand
with the CLI, then both drivers; it exits 0 and says what each part showed."""

from __future__ import annotations

import os
import subprocess

import pytest

from .drivers import REPO, assert_said

pytestmark = pytest.mark.slow


def test_the_demo_runs_end_to_end() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
    done = subprocess.run(
        ["bash", str(REPO / "examples" / "demo.sh")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"
    assert_said(
        out,
        "######## 1. notes: one agent, one chain, by hand with the zomehost CLI",
        '"title": "Octopus facts", "body": "Three hearts, blue blood."',
        "chain of notes/notes is intact: 6 records",
        "The ghost-writer story holds end to end.",
        "The messenger story holds end to end.",
        "Demo complete.",
    )
