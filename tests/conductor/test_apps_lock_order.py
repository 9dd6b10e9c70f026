"""The apps lock and the chain locks, taken in both orders, never deadlock.

A bridge call holds the chains of both cells while its callee runs; the callee may then
need the apps lock (it creates a clone cell, or loads a cell). ``revoke_agent_key`` holds
the apps lock and takes each running chain's lock to write its delete: it waits for a chain
only up to the cell's call timeout (and a second), reports that cell as failed, and lets
the call go on. (The bound itself came with the chain lock of issue 17; this is the case
of a zome creating a clone cell inside a bridge call.)
"""

from __future__ import annotations

import threading
import time
from typing import Any

from conftest import NodeFactory
from zomehost.errors import AgentKeyRevoked, ZomehostError


def test_revoke_does_not_deadlock_with_a_call_that_needs_the_apps_lock(
    node_factory: NodeFactory, probe_bundle: bytes
) -> None:
    node = node_factory("locks", limits={"timeout_ms": 1000})
    app = node.install(probe_bundle, "locks")
    app.call("a", "echo", "warm-up")
    conductor = node.conductor
    cell = conductor.cell(app.cell_id())
    holding, revoking = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def bridge_call() -> None:
        """What a bridge call does: hold the chain, then need the apps lock."""
        assert cell.lock.acquire(None)  # as a bridge call holds it: exclusively
        try:
            holding.set()
            revoking.wait(10)
            time.sleep(0.2)  # let revoke take the apps lock and wait for this chain
            try:
                outcomes["clone"] = conductor.create_clone_cell(
                    "locks", "main", "late-room", None, None
                )
            except ZomehostError as exc:
                outcomes["clone"] = exc
        finally:
            cell.lock.release()

    def revoke() -> None:
        holding.wait(10)
        revoking.set()
        outcomes["revoke"] = conductor.revoke_agent_key("locks", app.agent)

    threads = [threading.Thread(target=f, daemon=True) for f in (bridge_call, revoke)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "deadlock: apps lock vs chain lock"
    [(failed_cell, reason)] = outcomes["revoke"]
    assert failed_cell == app.cell_id() and "stayed locked" in reason
    assert isinstance(outcomes["clone"], AgentKeyRevoked)  # the revocation came first
