"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]


@pytest.fixture
def probe_home(
    home_factory: Callable[[str], Path], probe_bundle: bytes, zomehost_inproc: Run, tmp_path: Path
) -> Path:
    """A home with the probe app installed as ``p`` (role ``main``, zome ``a``)."""
    home = home_factory("toolkit")
    happ = tmp_path / "probe.happ"
    happ.write_bytes(probe_bundle)
    r = zomehost_inproc(home, "app", "install", str(happ), "--app-id", "p")
    assert r.returncode == 0, r.stderr
    return home
