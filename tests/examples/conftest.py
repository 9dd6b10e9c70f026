"""Fixtures for the example apps: one in-process conductor hosting several agents.

A single conductor (``node_factory`` of tests/conftest.py) runs Alice and Bob side by side:
the example's app is installed twice, under two app ids, for two agents. ``call_remote`` to
an agent on the same conductor is routed locally, through the same authorization as a call
from the network.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import AppHandle, Node, NodeFactory
from zomehost.chain.source_chain import SourceChain
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.action import Record
from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.errors import BundleError
from zomehost.ribosome.context import Signal

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def pack_example(name: str, out_dir: Path) -> bytes:
    """Pack ``examples/<name>`` into a .happ; the zomes must have been built (``just zomes``)."""
    try:
        out = pack_app_dir(EXAMPLES / name, out_dir / f"{name}.happ")
    except BundleError as exc:
        pytest.fail(f"cannot pack examples/{name}: {exc} (build the zomes: `just zomes`)")
    return out.read_bytes()


@dataclass
class Agent:
    """One agent's installed app, and the signals its UI received."""

    name: str
    app: AppHandle
    role: str
    zome: str
    signals: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> AgentPubKey:
        return self.app.agent

    @property
    def cell_id(self) -> CellId:
        return self.app.cell_id(self.role)

    def call(
        self, fn: str, payload: Any = None, *, as_: Agent | None = None, secret: bytes | None = None
    ) -> Any:
        """A client call into this agent's cell (by default from this agent's own UI)."""
        provenance = (as_ or self).key
        return self.app.call(
            self.zome, fn, payload, role=self.role, provenance=provenance, secret=secret
        )

    def signals_of(self, kind: str) -> list[Any]:
        with self._lock:
            return [s for s in self.signals if isinstance(s, dict) and s.get("type") == kind]

    def records(self) -> list[Record]:
        return self.app.records(self.role)

    @property
    def chain(self) -> SourceChain:
        return self.app.node.conductor.cell(self.cell_id).chain


@dataclass
class Network:
    node: Node
    agents: dict[str, Agent]

    def __getitem__(self, name: str) -> Agent:
        return self.agents[name]


def start_agents(
    node: Node, tmp: Path, app: str, role: str, zome: str, names: list[str], ui_opens: str | None
) -> Network:
    """Install examples/``app`` on ``node`` for each of ``names``.

    ``ui_opens``: a function each agent's UI calls first, as a UI does when it starts. It also
    runs the cell's ``init`` — which is what writes the unrestricted grants. (The conductor
    authorizes an incoming call *before* running the callee's init, so a cell never called
    by its own agent refuses even its unrestricted functions; Holochain runs init first.
    ``test_init_grant_opens_a_never_called_cell`` tracks that.)
    """
    bundle = pack_example(app, tmp)
    agents = {
        name: Agent(name, node.install(bundle, f"{app}-{name}", network_seed="test"), role, zome)
        for name in names
    }

    def on_signal(signal: Signal) -> None:
        for agent in agents.values():
            if signal.cell == agent.cell_id:
                with agent._lock:
                    agent.signals.append(unpack(signal.payload))

    node.conductor.add_signal_listener(on_signal)
    if ui_opens is not None:
        for agent in agents.values():
            agent.call(ui_opens)
    return Network(node, agents)


@pytest.fixture
def blog(node_factory: NodeFactory, tmp_path: Path) -> Network:
    return start_agents(
        node_factory("blog"), tmp_path, "ghostwriter", "blog", "blog",
        ["alice", "bob", "carol"], ui_opens="list_posts",
    )  # fmt: skip


@pytest.fixture
def messenger(node_factory: NodeFactory, tmp_path: Path) -> Network:
    return start_agents(
        node_factory("messenger"), tmp_path, "messenger", "messenger", "messenger",
        ["alice", "bob"], ui_opens="ping",
    )  # fmt: skip
