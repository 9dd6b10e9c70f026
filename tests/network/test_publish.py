"""Publishing on install and enable (issue 15.3): an app installed into a running conductor
is reachable by its peers as soon as the admin call that enabled it returns.

Real ``zomehost run`` processes whose periodic refresh is ten minutes away: only the
publishing the app change itself triggers can make the first remote call succeed. Once
with a bootstrap service (the record is published there), once with none (B dials A as a
static peer before it is ready, and the record is pushed over that connection).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zomehost.testing import Scenario

from .players import ok, remote

pytestmark = pytest.mark.slow

NEVER = {"refresh_interval_s": 600, "call_timeout_ms": 10_000}
OPEN = {"tag": "open", "access": "Unrestricted", "functions": "All"}


@pytest.mark.parametrize("discovery", ["bootstrap", "static peers"])
def test_an_app_installed_at_run_time_is_called_at_once(
    discovery: str, tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    with Scenario(tmp_path, module_cache=module_cache, network_config=NEVER) as s:
        if discovery == "bootstrap":
            a = s.add_peer("a")
            b = s.add_peer("b")
        else:  # no bootstrap: B knows A's address, nothing else
            a = s.add_peer("a", network={"bootstrap_url": None})
            b = s.add_peer(
                "b", network={"bootstrap_url": None, "peers": [a.process.network_address]}
            )
        caller = b.install(probe_bundle, app_id="probe")
        fresh = a.install(probe_bundle, app_id="fresh")
        fresh.call("a", "make_grant", OPEN)
        # The very first call from B to the new agent: no retry, no waiting.
        assert ok(remote(caller, fresh.agent, "echo", "first")) == "first"
        # Disabling takes it off this conductor at once (the stale record leads nowhere).
        assert a.admin is not None
        s.run(a.admin.disable_app("fresh"))
        gone = remote(caller, fresh.agent, "echo", "after")
        assert "does not run" in gone["NetworkError"]
