"""A clone disabled while a call runs in it: the call commits nothing, so deleting the
clone erases everything and nothing comes back.

The call is held just before its commit (a wrapper around the real
``Conductor._commit_ran``, where a cell's calls from outside commit, that waits for the
test's go-ahead) while another thread disables and deletes the clone;
then the call goes on. Without the stop it would write its records onto the erased chain.
A commit already under way when the clone is disabled lands first (the disable waits for
the chain lock), and is erased with the rest by the delete.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conftest import NodeFactory
from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.conductor import conductor as conductor_module
from zomehost.conductor.conductor import Conductor
from zomehost.core.hash import CellId
from zomehost.errors import CellStopped


def _running_clone(node_factory: NodeFactory, probe_bundle: bytes) -> tuple[Any, Any, CellId]:
    """A node, its app and a clone that has run init and written once: the next call's
    commit is its only one."""
    node = node_factory("stop")
    app = node.install(probe_bundle, "stop")
    clone = node.conductor.create_clone_cell("stop", "main", "room", None, None)
    cell = CellId(clone.dna_hash, app.agent)
    node.call(cell, "a", "create_entry", {"value": 0}, app.agent)
    return node, app, cell


def test_a_call_in_a_clone_disabled_and_deleted_meanwhile_writes_nothing(
    node_factory: NodeFactory, probe_bundle: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, app, cell = _running_clone(node_factory, probe_bundle)
    conductor = node.conductor
    arrived, go = threading.Event(), threading.Event()
    real_commit = Conductor._commit_ran

    def held_commit(self: Conductor, running: Any, batch: Any) -> Any:
        if running.id == cell and not arrived.is_set():
            arrived.set()
            assert go.wait(10)
        return real_commit(self, running, batch)

    monkeypatch.setattr(Conductor, "_commit_ran", held_commit)
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = node.call(cell, "a", "create_entry", {"value": 1}, app.agent)
        except Exception as exc:
            outcome["error"] = exc

    t = threading.Thread(target=call)
    t.start()
    assert arrived.wait(10)
    conductor.set_clone_enabled("stop", "main.0", False)
    conductor.delete_clone_cell("stop", "main.0")
    go.set()
    t.join(10)
    assert isinstance(outcome.get("error"), CellStopped), outcome
    assert SourceChain(conductor.store, cell).head() is None  # nothing came back
    assert [c.clone_id for c in conductor.get_app("stop").clones] == []


def test_disabling_waits_for_a_commit_under_way_and_the_delete_erases_it(
    node_factory: NodeFactory, probe_bundle: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, app, cell = _running_clone(node_factory, probe_bundle)
    conductor = node.conductor
    committing, go = threading.Event(), threading.Event()
    real_commit = conductor_module.commit_all

    def slow_commit(workspaces: list[Workspace]) -> Any:
        if workspaces[0].chain.cell == cell and not committing.is_set():
            committing.set()
            assert go.wait(10)
        return real_commit(workspaces)

    monkeypatch.setattr(conductor_module, "commit_all", slow_commit)
    outcome: dict[str, Any] = {}

    def call() -> None:
        outcome["value"] = node.call(cell, "a", "create_entry", {"value": 1}, app.agent)

    t = threading.Thread(target=call)
    t.start()
    assert committing.wait(10)  # the commit holds the chain lock, shared
    disabled = threading.Thread(target=conductor.set_clone_enabled, args=("stop", "main.0", False))
    disabled.start()
    disabled.join(0.3)
    assert disabled.is_alive()  # the disable waits for the commit under way
    go.set()
    t.join(10)
    disabled.join(10)
    assert "value" in outcome  # that call succeeded: it committed before the stop
    conductor.delete_clone_cell("stop", "main.0")
    assert SourceChain(conductor.store, cell).head() is None
