"""``zomehost test``: an app's tests are pytest files in ``<app>/tests`` that use the
fixtures of :mod:`zomehost.testing` (its pytest plugin); this module says how to run them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from zomehost.scaffold.errors import ScaffoldError

PLUGIN = "zomehost.testing.plugin"


def pytest_command(app_root: Path, extra: Sequence[str] = ()) -> list[str]:
    """``python -m pytest`` over the app's ``tests/`` with zomehost's plugin, rooted at the
    app (so a pytest configuration of a directory above it does not apply)."""
    tests = app_root / "tests"
    if not tests.is_dir():
        raise ScaffoldError(
            f"no tests/ directory in {app_root}: write pytest files there "
            "(`zomehost new app` writes an example)"
        )
    if importlib.util.find_spec("pytest") is None:
        raise ScaffoldError(f"pytest is not installed: {sys.executable} -m pip install pytest")
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        PLUGIN,
        "--rootdir",
        str(app_root),
        *extra,
        str(tests),
    ]
