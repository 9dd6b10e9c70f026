"""Relays with real processes: ``zomehost bootstrap --relay-port`` and ``zomehost relay``.

Conductor B advertises a dead address and registers with both relays; A finds B through
the bootstrap and calls it (and signals it) through the first relay. Then the bootstrap
process, and its relay with it, is killed: A's next call goes through the second relay.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from zomehost.network.agent_info import SignedAgentInfo
from zomehost.testing import RelayProcess, Scenario

from .players import ok, remote

pytestmark = pytest.mark.slow

OPEN = {"tag": "open", "access": "Unrestricted", "functions": "All"}


def test_calls_and_signals_through_relay_processes_and_fallback(
    tmp_path: Path, module_cache: Path, probe_bundle: bytes
) -> None:
    relay2 = RelayProcess(tmp_path).start()
    try:
        with Scenario(tmp_path, module_cache=module_cache, relay=True) as s:
            s.bootstrap_url()
            assert s.bootstrap is not None
            relays = [s.bootstrap.relay_address, relay2.address]
            (a,) = s.add_players(probe_bundle, ["a"])
            (b,) = s.add_players(
                probe_bundle,
                ["b"],
                network={"advertise": "127.0.0.1:1", "reachable": False, "relays": relays},
            )
            assert b.peer.admin is not None
            for _ in range(100):  # B's own agent info lists both relays once it registered
                infos = [
                    SignedAgentInfo.from_text(json.loads(t)["encoded"]).info
                    for t in s.run(b.peer.admin.agent_info())
                ]
                [own] = [i for i in infos if i.agent == b.agent]
                if list(own.relays) == relays:
                    break
                time.sleep(0.1)
            assert list(own.relays) == relays
            # run.json says so too, as it changes (tools and tests read the relays there)
            b.peer.process.wait_run_json(lambda d: d["network"]["relays"] == relays, 10)

            b.call("a", "make_grant", OPEN)
            assert ok(remote(a, b.agent, "echo", "relayed")) == "relayed"
            value = {"via": "relay"}
            a.call("a", "remote_signal", {"agents": [b.agent], "value": value})
            assert b.signal(lambda p: p == value) == value

            s.bootstrap.kill()
            assert ok(remote(a, b.agent, "echo", "fallback")) == "fallback"
            # the lost relay leaves B's run.json (it listed it until then)
            b.peer.process.wait_run_json(lambda d: d["network"]["relays"] == [relay2.address], 20)
    finally:
        relay2.stop()
