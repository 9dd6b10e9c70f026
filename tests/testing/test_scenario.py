"""zomehost.testing: real conductor processes, signed calls as each agent, signals across
conductors, a killed and restarted peer, and nothing left running afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from zomehost.client import ZomeCallFailed
from zomehost.errors import ConductorError
from zomehost.testing import ConductorProcess, ProcessFailed, Scenario, Timeout, make_home

pytestmark = pytest.mark.slow
OPEN = {"tag": "open", "access": "Unrestricted", "functions": "All"}


def remote(caller: object, callee_agent: object, fn: str, payload: object = None) -> dict:
    arg = {"agent": callee_agent, "zome_name": "a", "fn_name": fn, "payload": payload}
    return caller.call("a", "call_remote_fn", arg)  # type: ignore[attr-defined, no-any-return]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_agents_call_signal_kill_and_restart(
    tmp_path: Path, probe_bundle: bytes, module_cache: Path
) -> None:
    with Scenario(tmp_path, module_cache=module_cache) as s:
        alice, bob = s.add_players(probe_bundle, ["alice", "bob"])
        assert alice.peer.process.pid != bob.peer.process.pid
        assert alice.call("a", "whoami")["agent_initial_pubkey"] == alice.agent
        for player in (alice, bob):
            player.call("a", "make_grant", OPEN)  # calls and remote signals from anyone

        # a call from alice's conductor into bob's, over the peer transport
        assert remote(alice, bob.agent, "echo", "hi bob") == {"Ok": b"\xa6hi bob"}

        # a remote signal lands in alice's UI
        bob.call("a", "remote_signal", {"agents": [alice.agent], "value": "ping"})
        assert alice.signal(lambda p: p == "ping") == "ping"
        with pytest.raises(Timeout):
            alice.signal(lambda p: p == "ping", timeout=0.3)  # handed out once only

        # a failing call raises the client's typed error; a panic's own words are in it
        with pytest.raises(ZomeCallFailed):
            alice.call("a", "create_then_fail", 1)
        with pytest.raises(ZomeCallFailed) as panic:
            alice.call("a", "create_then_panic", 1)
        assert panic.value.message.startswith(
            "a.create_then_panic: panicked at 'deliberate panic after create', "
            "zomes/probe/src/lib.rs:"
        ), panic.value.message

        head = len(bob.call("a", "query_chain", None))
        pid = bob.peer.process.pid
        bob.peer.kill()
        assert not alive(pid)
        assert set(remote(alice, bob.agent, "echo", "anyone?")) == {"NetworkError"}

        bob.peer.restart()
        assert bob.peer.process.pid != pid
        assert len(bob.call("a", "query_chain", None)) == head  # the chain survived
        s.wait_discoverable([bob])
        for _ in range(50):
            res = remote(alice, bob.agent, "echo", "back")
            if "Ok" in res:
                break
        assert res == {"Ok": b"\xa4back"}
        pids = [p.process.pid for p in s.peers] + [s.bootstrap.pid]  # type: ignore[union-attr]
    assert not any(alive(p) for p in pids)


def test_the_plugin_fixture_gives_a_scenario(scenario: Scenario, probe_bundle: bytes) -> None:
    (solo,) = scenario.add_players(probe_bundle, ["solo"])
    assert solo.call("a", "echo", "x") == "x"
    solo.call("a", "signal", {"n": 1})
    assert solo.signal() == {"n": 1}


def test_the_bootstrap_starts_only_for_conductors_that_use_it(
    tmp_path: Path, probe_bundle: bytes, module_cache: Path
) -> None:
    with Scenario(tmp_path, module_cache=module_cache) as s:
        (a,) = s.add_players(probe_bundle, ["a"], network={"bootstrap_url": None})
        assert s.bootstrap is None  # a set its own (none): no service was started for it
        assert a.call("a", "echo", "x") == "x"
        (b,) = s.add_players(probe_bundle, ["b"])
        assert s.bootstrap is not None and s.bootstrap.running
        assert b.peer.process.endpoints["network"]["transport_id"]


def test_a_conductor_that_cannot_start_says_why(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    config = home / "conductor-config.yaml"
    doc = yaml.safe_load(config.read_text())
    doc["admin_port"] = "not a port"
    config.write_text(yaml.safe_dump(doc))
    proc = ConductorProcess(home)
    with pytest.raises(ProcessFailed) as err:
        proc.start(timeout=30)
    assert "admin_port" in err.value.message
    assert proc.returncode not in (None, 0)


def test_make_home_refuses_an_existing_home(tmp_path: Path) -> None:
    """Its keys and config stay as they were: a second make_home (another passphrase, a
    driver's ``--dir`` given twice) is refused, not written over."""
    home = make_home(tmp_path / "home")
    before = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    with pytest.raises(ConductorError, match="already a zomehost home"):
        make_home(tmp_path / "home", passphrase="another", network={})
    assert {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()} == before
