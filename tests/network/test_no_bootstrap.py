"""The bootstrap as an accelerator, not a requirement (issue 15.2), with real processes.

Three ``zomehost run`` conductors configured with two bootstrap URLs, one of which never
answers. Once they know each other, the live bootstrap is killed; C then restarts on a new
address. C starts from its peer store, dials its peers and gossips its new record: A and B
reach C at the new address, and C reaches them, with no bootstrap alive.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zomehost.testing import Player, Scenario

from .players import ok, remote

pytestmark = pytest.mark.slow

OPEN = {"tag": "open", "access": "Unrestricted", "functions": "All"}


def dead_url() -> str:
    """An http URL on a loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def all_pairs(players: list[Player], tag: str) -> None:
    for x in players:
        for y in players:
            if y is not x:
                assert ok(remote(x, y.agent, "echo", tag)) == tag, (x.name, y.name)


def test_a_moved_agent_is_found_after_the_bootstrap_died(
    tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    with Scenario(tmp_path, module_cache=module_cache) as s:
        # the dead bootstrap first: every lookup tries it before the live one
        urls = {"bootstrap_url": None, "bootstrap_urls": [dead_url(), s.bootstrap_url()]}
        players = s.add_players(probe_bundle, ["a", "b", "c"], network=urls)
        for p in players:
            p.call("a", "make_grant", OPEN)
        all_pairs(players, "through the bootstrap")

        assert s.bootstrap is not None
        s.bootstrap.kill()
        c = players[2].peer
        old = c.process.network_address
        c.restart()
        assert c.process.network_address != old
        all_pairs(players, "through gossip")
