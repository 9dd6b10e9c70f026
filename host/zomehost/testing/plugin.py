"""The pytest plugin of :mod:`zomehost.testing` (entry point ``pytest11``).

Fixtures:

* ``scenario``: a :class:`~zomehost.testing.Scenario` in the test's temporary directory,
  shut down after the test (the conductors' log tails are added to a failed test's report);
* ``happ``: the app around the test file (the nearest directory above it with a
  ``happ.yaml``), packed once per session; its zomes must be built (``zomehost test`` does).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from zomehost.conductor.packing import pack_app_dir
from zomehost.testing.scenario import Scenario

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scenario]:
    """Conductor processes and a bootstrap service on loopback, for this test."""
    s = Scenario(tmp_path / "zomehost")
    try:
        yield s
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            request.node.add_report_section("call", "zomehost conductors", s.logs())
        s.shutdown()


def app_dir_of(test_file: Path) -> Path:
    """The nearest directory at or above ``test_file``'s that holds a happ.yaml."""
    for d in test_file.resolve().parents:
        if (d / "happ.yaml").is_file():
            return d
    raise pytest.UsageError(f"no happ.yaml in any directory above {test_file}")


@pytest.fixture(scope="session")
def _happ_cache() -> dict[Path, bytes]:
    return {}


@pytest.fixture
def happ(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _happ_cache: dict[Path, bytes],
) -> bytes:
    """The .happ bytes of the app this test file belongs to."""
    app = app_dir_of(request.path)
    if app not in _happ_cache:
        out = tmp_path_factory.mktemp("happ") / f"{app.name}.happ"
        _happ_cache[app] = pack_app_dir(app, out).read_bytes()
    return _happ_cache[app]
