"""Testing tools for zome authors (docs/testing.md): real conductor processes on loopback.

* :mod:`zomehost.testing.process`: one ``zomehost run`` or ``zomehost bootstrap`` child
  process, and throw-away homes for them;
* :mod:`zomehost.testing.scenario`: several conductors, one agent each, driven by signed
  calls; signals, kill and restart;
* :mod:`zomehost.testing.plugin`: the pytest plugin (fixtures ``scenario`` and ``happ``),
  registered as a ``pytest11`` entry point, so installing zomehost is enough.
"""

from zomehost.testing.process import (
    TEST_PASSPHRASE,
    BootstrapProcess,
    ConductorProcess,
    ProcessFailed,
    RelayProcess,
    make_home,
)
from zomehost.testing.scenario import Peer, Player, Scenario, Timeout

__all__ = [
    "TEST_PASSPHRASE",
    "BootstrapProcess",
    "ConductorProcess",
    "Peer",
    "Player",
    "ProcessFailed",
    "RelayProcess",
    "Scenario",
    "Timeout",
    "make_home",
]
