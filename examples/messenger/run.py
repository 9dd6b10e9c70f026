#!/usr/bin/env python3
"""Private messages between agents on separate conductors (the node-to-node messaging seed).

Alice and Bob each run their own conductor process on loopback; a bootstrap service lets them
find each other. Messages and pings are remote calls, nudges are remote signals: they go
straight from one conductor to the other over the encrypted peer transport, and nothing is
written for them on any chain. This script is both UIs; it prints each step and exits 1 if
any step does not hold.

    python examples/messenger/run.py [--keep | --dir DIR]     # or: just messenger

Build the zomes first (`just zomes`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/driver.py, shared by the drivers

from driver import Sandbox, Story, outcome, run  # noqa: E402

APP_ID = "messenger"
ROLE = "messenger"
# What the design allows on a messenger chain: genesis, init's one unrestricted grant, and
# the grant that authorizes the UI's signing key. Nothing for any message.
SETUP_GRANT_TAGS = {"anyone may message me", "zome-call-signing-key"}
TEXTS = ["Meet me at the reef at noon?", "Yes, by the kelp.", "psst: bring the camera"]


def story(sb: Sandbox) -> None:
    s = Story("The messenger: private messages, pings and nudges, written nowhere")

    s.section("Setup: a bootstrap service and one conductor process per agent, on loopback")
    s.say(f"bootstrap service at {sb.scenario.bootstrap_url()}")
    alice, bob = sb.start_agents(
        HERE, ["alice", "bob"], app_id=APP_ID, network_seed="reef-chat", role=ROLE, zome=ROLE
    )
    for ui in (alice, bob):
        c = ui.player.peer.process
        s.say(
            f"{sb.who(ui.agent)}: conductor pid {c.pid}, admin {c.admin_url}, home {c.home}; "
            "messenger app installed"
        )
    s.say("both agents are published to the bootstrap service")

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
    for ui in (alice, bob):
        records = sb.chain(ui, APP_ID)
        s.say(f"{ui.name.capitalize()}'s chain (zomehost chain {APP_ID} {ROLE}):")
        for r in records:
            s.say(f"  #{r['action']['action_seq']} {summary(r)}")
        s.expect(
            all(setup_record(r) for r in records),
            f"{ui.name.capitalize()}'s chain has genesis and capability grants only",
        )
        text = json.dumps(records)
        s.expect(not any(t in text for t in TEXTS), "no message text on it")

    print("\nThe messenger story holds end to end.")


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
