#!/usr/bin/env python3
"""Private messages between agents on separate conductors (the node-to-node messaging seed).

Alice, Bob and Carol each run their own conductor process on loopback; a bootstrap service
lets them find each other. Messages and pings are remote calls, nudges are remote signals:
they go straight from one conductor to the other over the encrypted peer transport, and
nothing is written for them on any chain. Alice then makes a private room with Bob — a clone
cell of the messenger DNA with its own random network seed, which only its members join —
and Carol, who was not invited, can neither see nor be reached by its messages. This script
is all three UIs; it prints each step and exits 1 if any step does not hold.

    python examples/messenger/run.py [--keep | --dir DIR]     # or: just messenger

Build the zomes first (`just zomes`).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/driver.py, shared by the drivers

from driver import Sandbox, StepFailed, Story, Ui, outcome, run, short  # noqa: E402

from zomehost.client.app import AppSignal  # noqa: E402
from zomehost.core.hash import AgentPubKey, CellId, DnaHash, HoloHash  # noqa: E402
from zomehost.network.bootstrap import BootstrapClient  # noqa: E402

APP_ID = "messenger"
ROLE = "messenger"
# What the design allows on a messenger chain: genesis, init's one unrestricted grant, and
# the grant that authorizes the UI's signing key. Nothing for any message.
SETUP_GRANT_TAGS = {"anyone may message me", "zome-call-signing-key"}
TEXTS = ["Meet me at the reef at noon?", "Yes, by the kelp.", "psst: bring the camera"]
ROOM = "reef divers"
ROOM_ID = f"{ROLE}.0"  # the app's first clone cell
ROOM_TEXTS = ["Dive at dawn, the three of us?", "Just us two: Carol isn't in this room."]


def story(sb: Sandbox) -> None:
    s = Story("The messenger: private messages, pings and nudges, written nowhere")

    s.section("Setup: a bootstrap service and one conductor process per agent, on loopback")
    s.say(f"bootstrap service at {sb.scenario.bootstrap_url()}")
    alice, bob, carol = sb.start_agents(
        HERE, ["alice", "bob", "carol"], app_id=APP_ID, network_seed="reef-chat", role=ROLE,
        zome=ROLE,
    )  # fmt: skip
    for ui in (alice, bob, carol):
        c = ui.player.peer.process
        s.say(
            f"{sb.who(ui.agent)}: conductor pid {c.pid}, admin {c.admin_url}, home {c.home}; "
            "messenger app installed"
        )
    s.say("the three agents are published to the bootstrap service")

    s.step("Alice pings Bob (a remote call to his ping)")
    result = alice.call("ping_agent", bob.agent)
    if "Ok" in result:
        pong = result["Ok"]
        s.say(
            f"ping_agent returned Ok: {pong['reply']!r}, Bob's clock at {pong['timestamp']} µs, "
            f"round trip {pong['round_trip_us'] / 1000:.1f} ms"
        )
    else:
        s.say(f"ping_agent returned {outcome(result)}")
    s.expect("Ok" in result and result["Ok"]["reply"] == "pong", "Bob's conductor answered pong")

    s.step("Alice sends Bob a private message (send_message → Bob's receive_message)")
    result = alice.call("send_message", {"to": bob.agent, "text": TEXTS[0]})
    s.say(f"send_message returned {outcome(result)}")
    s.expect("Ok" in result, "delivered: Bob's conductor sent a receipt")
    signal = bob.signal("message")
    s.say(f"Bob's UI got signal message from {sb.who(signal['from'])}: {signal['text']!r}")
    s.expect(
        signal["from"] == alice.agent and signal["text"] == TEXTS[0],
        "Bob's UI shows Alice's message, sender authenticated by the conductor",
    )

    s.step("Bob replies")
    result = bob.call("send_message", {"to": alice.agent, "text": TEXTS[1]})
    s.expect("Ok" in result, "delivered")
    signal = alice.signal("message")
    s.say(f"Alice's UI got signal message from {sb.who(signal['from'])}: {signal['text']!r}")
    s.expect(signal["text"] == TEXTS[1], "Alice's UI shows Bob's reply")

    s.step("Alice nudges Bob (send_remote_signal: fire and forget)")
    alice.call("nudge", {"to": [bob.agent], "text": TEXTS[2]})
    signal = bob.signal("nudge")
    s.say(f"Bob's UI got signal nudge from {sb.who(signal['from'])}: {signal['text']!r}")
    s.expect(signal["text"] == TEXTS[2], "the nudge arrived through Bob's recv_remote_signal")

    private_room(s, sb, alice, bob, carol)

    s.step("Bob goes offline (his conductor stops)")
    status = bob.player.peer.stop()
    s.say(f"Bob's conductor exited with status {status}")
    result = alice.call("send_message", {"to": bob.agent, "text": "are you there?"})
    s.say(f"send_message returned {outcome(result)}")
    s.expect("NetworkError" in result, "a message to an offline agent: NetworkError")
    result = alice.call("ping_agent", bob.agent)
    s.expect("NetworkError" in result, "a ping to an offline agent: NetworkError")

    s.step("Nothing was written for any message: each chain holds only its setup")
    alice.player.peer.stop()
    carol.player.peer.stop()
    for ui in (alice, bob, Ui(alice.player, ROOM_ID, ROLE), Ui(bob.player, ROOM_ID, ROLE)):
        records = sb.chain(ui, APP_ID)
        s.say(f"{ui.name.capitalize()}'s chain (zomehost chain {APP_ID} {ui.role}):")
        for r in records:
            s.say(f"  #{r['action']['action_seq']} {summary(r)}")
        s.expect(
            all(setup_record(r) for r in records),
            f"{ui.name.capitalize()}'s {ui.role} chain has genesis and capability grants only",
        )
        text = json.dumps(records)
        s.expect(not any(t in text for t in TEXTS + ROOM_TEXTS), "no message text on it")

    print("\nThe messenger story holds end to end.")


class RoomUi:
    """An agent's UI calling one clone cell of its app (a room), with that cell's signals."""

    def __init__(self, sb: Sandbox, ui: Ui, cell: CellId) -> None:
        self.ui, self.cell, self.run = ui, cell, sb.scenario.run
        admin = ui.player.peer.admin
        assert admin is not None
        self.run(admin.authorize_signing_credentials(cell))  # the UI may sign calls to it
        self.signals: list[Any] = []
        self._lock = threading.Lock()
        ui.player.client.on_signal(self._on_signal)

    def _on_signal(self, signal: AppSignal) -> None:
        if signal.cell_id == self.cell:
            with self._lock:
                self.signals.append(signal.payload)

    def call(self, fn: str, payload: Any = None) -> Any:
        client = self.ui.player.client
        return self.run(client.call_zome(ROLE, fn, payload, cell_id=self.cell))

    def signal(self, kind: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [p for p in self.signals if isinstance(p, dict) and p.get("type") == kind]
            if found:
                return found[0]
            time.sleep(0.02)
        raise StepFailed(f"{self.ui.name}'s room UI got no {kind!r} signal within {timeout} s")


def cell_of(value: Any) -> CellId:
    """A cell id as the client returns it (typed hashes, or raw bytes)."""
    return CellId.from_wire([h.raw if isinstance(h, HoloHash) else bytes(h) for h in value])


def agent_of(value: Any) -> AgentPubKey:
    return value if isinstance(value, AgentPubKey) else AgentPubKey(bytes(value))


def published(sb: Sandbox, dna: DnaHash) -> set[AgentPubKey]:
    """The agents the bootstrap service lists in ``dna``'s network."""
    client = BootstrapClient(sb.scenario.bootstrap_url())
    return {r.info.agent for r in sb.scenario.run(client.lookup(dna))}


def private_room(s: Story, sb: Sandbox, alice: Ui, bob: Ui, carol: Ui) -> None:
    """A room is a clone of the messenger DNA with a random network seed: its own network."""
    s.section("A private room: a clone cell that only its members join")
    s.step(f"Alice makes the room {ROOM!r} with Bob (create_room → create_clone_cell)")
    room = alice.call("create_room", {"name": ROOM, "members": [bob.agent]})
    room_cell = cell_of(room["cell_id"])
    s.say(
        f"Alice's conductor made clone cell {room['clone_id']} (network seed "
        f"{room['network_seed'][:13]}…), DNA {short(room_cell.dna_hash)} — not the messenger's "
        f"{short(alice.cell_id.dna_hash)}"
    )
    s.expect(room["clone_id"] == ROOM_ID, f"the room is Alice's clone cell {ROOM_ID}")
    [invite] = room["invited"]
    s.say(f"invitation to {sb.who(invite['to'])}: {outcome(invite['delivery'])}")
    s.expect("Ok" in invite["delivery"], "the invitation went to Bob as a sealed private message")
    signal = bob.signal("invitation")
    s.say(f"Bob's UI got signal invitation from {sb.who(signal['from'])}: {signal['name']!r}")
    s.expect(signal["network_seed"] == room["network_seed"], "Bob's UI now knows the room's seed")

    s.step("Bob joins: his UI creates the same clone through the app API (createCloneCell)")
    joined = sb.scenario.run(
        bob.player.client.create_clone_cell(
            ROLE, network_seed=signal["network_seed"], name=signal["name"]
        )
    )
    bob_cell = cell_of(joined["cell_id"])
    s.say(f"Bob's conductor made clone cell {joined['clone_id']}, DNA {short(bob_cell.dna_hash)}")
    s.expect(bob_cell.dna_hash == room_cell.dna_hash, "the same DNA as Alice's room: one network")
    alice_room, bob_room = RoomUi(sb, alice, room_cell), RoomUi(sb, bob, bob_cell)
    deadline = time.monotonic() + 30
    while published(sb, room_cell.dna_hash) != {alice.agent, bob.agent}:
        if time.monotonic() > deadline:
            raise StepFailed("Alice and Bob were never published in the room's network")
        time.sleep(0.1)
    s.say("Alice and Bob are published in the room's network")

    s.step("Alice posts in the room to Bob — and to Carol, who is not a member")
    sent = alice_room.call("send_to_each", {"to": [bob.agent, carol.agent], "text": ROOM_TEXTS[0]})
    by = {agent_of(x["to"]): x["delivery"] for x in sent}
    for who, delivery in by.items():
        s.say(f"to {sb.who(who)}: {outcome(delivery)}")
    s.expect("Ok" in by[bob.agent], "Bob's room cell got it")
    s.expect(
        "NetworkError" in by[carol.agent],
        "Carol is not in the room's network: she cannot be reached there",
    )
    signal = bob_room.signal("message")
    s.say(f"Bob's room UI got signal message from {sb.who(signal['from'])}: {signal['text']!r}")
    s.expect(signal["text"] == ROOM_TEXTS[0], "Bob reads the room's message")

    s.step("Bob answers in the room")
    result = bob_room.call("send_message", {"to": alice.agent, "text": ROOM_TEXTS[1]})
    s.expect("Ok" in result, "delivered to Alice's room cell")
    signal = alice_room.signal("message")
    s.say(f"Alice's room UI got signal message from {sb.who(signal['from'])}: {signal['text']!r}")
    s.expect(signal["text"] == ROOM_TEXTS[1], "Alice reads Bob's answer in the room")
    got = [sig.payload for sig in carol.player.signals]
    leaked = [p for p in got if isinstance(p, dict) and p.get("text") in ROOM_TEXTS]
    s.say(f"Carol's UI got {len(got)} signals, {len(leaked)} of them from the room")
    s.expect(not leaked, "Carol saw none of the room's messages")
    s.expect(
        published(sb, room_cell.dna_hash) == {alice.agent, bob.agent},
        "the room's network lists Alice and Bob, not Carol",
    )
    admin = alice.player.peer.admin
    assert admin is not None
    stats = sb.scenario.run(admin.dump_network_stats())
    for c in stats["transport_stats"]["connections"]:
        s.say(
            f"Alice's connection to {c['pub_key'][:8]}…: sent {c['send_message_count']} frames "
            f"/ {c['send_bytes']} bytes, received {c['recv_message_count']} / {c['recv_bytes']}"
        )
    s.expect(
        all(c["send_bytes"] > 0 for c in stats["transport_stats"]["connections"]),
        "dump_network_stats counts each connection's traffic",
    )


def summary(record: dict[str, Any]) -> str:
    action = record["action"]
    entry = record.get("entry") or {}
    text: str = action["type"]
    if action.get("entry_type"):
        text += f" {action['entry_type']}"
    if action.get("entry_type") == "CapGrant" and isinstance(entry.get("content"), dict):
        text += f" (tag {entry['content'].get('tag')!r})"
    return text


def setup_record(record: dict[str, Any]) -> bool:
    action, entry = record["action"], record.get("entry") or {}
    if action["type"] in ("Dna", "AgentValidationPkg", "InitZomesComplete"):
        return True
    if action["type"] != "Create":
        return False
    if action.get("entry_type") == "Agent":
        return True
    content = entry.get("content")
    return (
        action.get("entry_type") == "CapGrant"
        and isinstance(content, dict)
        and content.get("tag") in SETUP_GRANT_TAGS
    )


if __name__ == "__main__":
    sys.exit(run(story, __doc__.splitlines()[0]))
