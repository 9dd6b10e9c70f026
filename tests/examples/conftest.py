"""Fixtures for the example apps: one in-process conductor hosting several agents.

A single :class:`Conductor` can run Alice and Bob side by side: the app is installed twice,
under two app ids, for two agents. ``call_remote`` to an agent on the same conductor is
routed locally, through the same authorization as a call from the network.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zomehost.conductor.conductor import Conductor, ZomeCall
from zomehost.conductor.home import Home
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.errors import BundleError
from zomehost.ribosome.context import Signal

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
PASSPHRASE = "examples-test-passphrase"


def pack_example(name: str, out_dir: Path) -> bytes:
    """Pack ``examples/<name>`` into a .happ; the zomes must have been built (``just zomes``)."""
    try:
        out = pack_app_dir(EXAMPLES / name, out_dir / f"{name}.happ")
    except BundleError as exc:
        pytest.fail(f"cannot pack examples/{name}: {exc} (build the zomes: `just zomes`)")
    return out.read_bytes()


@dataclass
class Agent:
    """One agent's installed app on the shared conductor, and the signals its UI received."""

    name: str
    conductor: Conductor
    app_id: str
    role: str
    zome: str
    cell_id: CellId
    signals: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> AgentPubKey:
        return self.cell_id.agent

    def call(
        self, fn: str, payload: Any = None, *, as_: Agent | None = None, secret: bytes | None = None
    ) -> Any:
        """A client call into this agent's cell (by default from this agent's own UI)."""
        provenance = (as_ or self).key
        return self.conductor.call_zome(
            ZomeCall(self.cell_id, self.zome, fn, pack(payload), provenance, secret)
        )

    def signals_of(self, kind: str) -> list[Any]:
        with self._lock:
            return [s for s in self.signals if isinstance(s, dict) and s.get("type") == kind]

    def records(self) -> list[Any]:
        return self.conductor.cell(self.cell_id).chain.records()


@dataclass
class Network:
    conductor: Conductor
    agents: dict[str, Agent]

    def __getitem__(self, name: str) -> Agent:
        return self.agents[name]


def start_agents(
    tmp: Path, app: str, role: str, zome: str, names: list[str], ui_opens: str | None
) -> Network:
    """Install ``app`` for each of ``names`` on one conductor.

    ``ui_opens``: a function each agent's UI calls first, as a UI does when it starts. It also
    runs the cell's ``init`` — which is what writes the unrestricted grants. (The conductor
    authorizes an incoming call *before* running the callee's init, so a cell never called
    by its own agent refuses even its unrestricted functions; Holochain runs init first.
    ``test_init_grant_opens_a_never_called_cell`` tracks that.)
    """
    home = Home(tmp / "home")
    home.init(PASSPHRASE)
    conductor = Conductor.open(home, PASSPHRASE)
    bundle = pack_example(app, tmp)
    agents: dict[str, Agent] = {}
    for name in names:
        installed = conductor.install_app(bundle, f"{app}-{name}", network_seed="test")
        agents[name] = Agent(name, conductor, installed.app_id, role, zome, installed.cell_id(role))

    def on_signal(signal: Signal) -> None:
        for agent in agents.values():
            if signal.cell == agent.cell_id:
                with agent._lock:
                    agent.signals.append(unpack(signal.payload))

    conductor.add_signal_listener(on_signal)
    if ui_opens is not None:
        for agent in agents.values():
            agent.call(ui_opens)
    return Network(conductor, agents)


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[Network]:
    net = start_agents(
        tmp_path, "ghostwriter", "blog", "blog", ["alice", "bob", "carol"], ui_opens="list_posts"
    )
    yield net
    net.conductor.close()


@pytest.fixture
def messenger(tmp_path: Path) -> Iterator[Network]:
    net = start_agents(
        tmp_path, "messenger", "messenger", "messenger", ["alice", "bob"], ui_opens="ping"
    )
    yield net
    net.conductor.close()
