"""The messenger's private rooms (clone cells) in one conductor: Alice makes a room with Bob,
invites him over a private message, Bob joins; Carol, on the same conductor but not
invited, neither receives the room's messages nor can be reached in it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeFactory
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.codec import unpack
from zomehost.core.hash import CellId
from zomehost.errors import GuestError
from zomehost.ribosome.context import Signal

from .conftest import Network, start_agents
from .drivers import chain_shape

ROOM_CHAIN = [
    "Dna",
    "AgentValidationPkg",
    "Create:Agent",
    "Create:CapGrant:anyone may message me",
    "InitZomesComplete",
]


@pytest.fixture
def trio(node_factory: NodeFactory, tmp_path: Path) -> Network:
    return start_agents(
        node_factory("rooms"), tmp_path, "messenger", "messenger", "messenger",
        ["alice", "bob", "carol"], ui_opens="ping",
    )  # fmt: skip


class CellSignals:
    """Every signal of the conductor, by the cell that emitted it (rooms included)."""

    def __init__(self, net: Network) -> None:
        self._lock = threading.Lock()
        self.by_cell: dict[CellId, list[Any]] = {}
        net.node.conductor.add_signal_listener(self._on)

    def _on(self, signal: Signal) -> None:
        with self._lock:
            self.by_cell.setdefault(signal.cell, []).append(unpack(signal.payload))

    def of(self, cell: CellId, kind: str) -> list[Any]:
        with self._lock:
            return [s for s in self.by_cell.get(cell, []) if s.get("type") == kind]

    def texts(self) -> list[str]:
        with self._lock:
            return [s.get("text", "") for signals in self.by_cell.values() for s in signals]


def _room_call(net: Network, cell: CellId, fn: str, payload: Any) -> Any:
    return net.node.call(cell, "messenger", fn, payload, cell.agent)


def test_a_room_reaches_its_members_only(trio: Network) -> None:
    alice, bob, carol = trio["alice"], trio["bob"], trio["carol"]
    signals = CellSignals(trio)
    room = alice.call("create_room", {"name": "reef divers", "members": [bob.key.raw]})
    assert room["name"] == "reef divers" and room["clone_id"] == "messenger.0"
    assert [i["to"] for i in room["invited"]] == [bob.key.raw]
    assert set(room["invited"][0]["delivery"]) == {"Ok"}
    alice_room = CellId.from_wire(room["cell_id"])
    assert alice_room.dna_hash != alice.cell_id.dna_hash  # its own DNA: its own network

    # Bob's UI got the invitation (sealed for him on the way), and joins with its seed.
    [invitation] = bob.signals_of("invitation")
    assert invitation["from"] == alice.key.raw and invitation["name"] == "reef divers"
    assert invitation["network_seed"] == room["network_seed"]
    assert invitation["members"] == [alice.key.raw, bob.key.raw]
    assert carol.signals_of("invitation") == []
    joined = bob.call("join_room", {"name": "reef divers", "network_seed": room["network_seed"]})
    bob_room = CellId.from_wire(joined["cell_id"])
    assert bob_room.dna_hash == alice_room.dna_hash and bob_room.agent == bob.key

    # Alice posts to the room, naming Carol too: only Bob's room cell can be reached.
    sent = _room_call(trio, alice_room, "send_to_each", {
        "to": [bob.key.raw, carol.key.raw], "text": "dive at dawn"})  # fmt: skip
    outcomes = {bytes(s["to"]): set(s["delivery"]) for s in sent}
    assert outcomes == {bob.key.raw: {"Ok"}, carol.key.raw: {"NetworkError"}}
    [message] = signals.of(bob_room, "message")
    assert message["from"] == alice.key.raw and message["text"] == "dive at dawn"
    assert bob.signals_of("message") == []  # it went to the room, not Bob's main cell
    assert signals.of(carol.cell_id, "message") == []
    assert signals.texts().count("dive at dawn") == 1

    # Bob answers in the room; the main network is not the room: a main-cell message to
    # Alice arrives on her main cell, not in the room.
    reply = _room_call(trio, bob_room, "send_message", {"to": alice.key.raw, "text": "bring fins"})
    assert set(reply) == {"Ok"}
    assert [s["text"] for s in signals.of(alice_room, "message")] == ["bring fins"]
    assert alice.signals_of("message") == []

    # Nothing was written for the room's messages: its chains hold their setup only.
    for cell in (alice_room, bob_room):
        assert chain_shape(trio.node.records(cell)) == ROOM_CHAIN


def test_nobody_else_can_make_a_room_for_an_agent(trio: Network) -> None:
    """Joining is the invitee's own call: even with every function of Bob's cell granted to
    anyone, Alice calling Bob's ``join_room`` is refused by the host (a call through a grant
    may not create clones), and ``receive_invitation`` could not join on Bob's behalf."""
    alice, bob = trio["alice"], trio["bob"]
    everything = ZomeCallCapGrant(
        "open house", CapAccess(AccessKind.UNRESTRICTED), GrantedFunctions()
    )
    trio.node.conductor.grant_capability(bob.cell_id, everything)
    with pytest.raises(GuestError, match=r"Unauthorized.*author capability"):
        bob.call("join_room", {"name": "forced", "network_seed": "room-forced"}, as_=alice)
    assert trio.node.conductor.get_app(bob.app.app_id).clones == ()


def test_a_room_needs_its_seed(trio: Network) -> None:
    """Carol, guessing a room's name but not its random seed, makes a room of her own: a
    different DNA, where Alice's room messages cannot reach her."""
    alice, bob, carol = trio["alice"], trio["bob"], trio["carol"]
    room = alice.call("create_room", {"name": "reef divers", "members": [bob.key.raw]})
    guess = carol.call("join_room", {"name": "reef divers", "network_seed": "room-0000"})
    assert guess["cell_id"][0] != room["cell_id"][0]
    sent = _room_call(trio, CellId.from_wire(room["cell_id"]), "send_message", {
        "to": carol.key.raw, "text": "secret plans"})  # fmt: skip
    assert set(sent) == {"NetworkError"}
