"""The messenger (node-to-node messaging seed) in one conductor: messages, pings and nudges
travel between agents and are written nowhere."""

from __future__ import annotations

import nacl.public
import pytest

from zomehost.conductor.app import AppStatus
from zomehost.core.agent_crypto import x25519_public
from zomehost.errors import ZomehostError

from .conftest import Network
from .drivers import chain_shape

# Genesis, then init's one unrestricted grant: all a messenger chain ever holds.
ONLY_SETUP = [
    "Dna",
    "AgentValidationPkg",
    "Create:Agent",
    "Create:CapGrant:anyone may message me",
    "InitZomesComplete",
]


def test_message_reaches_bobs_ui_and_alice_gets_a_receipt(messenger: Network) -> None:
    alice, bob = messenger["alice"], messenger["bob"]
    result = alice.call("send_message", {"to": bob.key.raw, "text": "meet at the reef"})
    assert set(result) == {"Ok"}, result
    [signal] = bob.signals_of("message")
    assert signal["from"] == alice.key.raw and signal["text"] == "meet at the reef"
    assert result["Ok"]["received_at"] == signal["received_at"]
    assert signal["sent_at"] <= signal["received_at"]
    assert alice.signals_of("message") == []


def test_the_inbox_takes_only_text_sealed_for_it_by_the_caller(messenger: Network) -> None:
    """Messages travel as crypto_box ciphertext between the two agent keys (docs/abi.md): the
    inbox opens what the caller sealed for it, and refuses plaintext or a box it cannot open
    as coming from the caller."""
    alice, bob = messenger["alice"], messenger["bob"]
    keystore = messenger.node.conductor.keystore
    sealed = keystore.crypto(alice.key).box_encrypt(bob.key, b"sealed by Alice")
    assert b"sealed by Alice" not in sealed
    bob.call("receive_message", {"sealed": sealed, "sent_at": 1}, as_=alice)
    [signal] = bob.signals_of("message")
    assert signal["text"] == "sealed by Alice" and signal["from"] == alice.key.raw

    with pytest.raises(ZomehostError, match="not sealed for me by its sender"):
        bob.call("receive_message", {"sealed": sealed, "sent_at": 2}, as_=bob)  # not Bob's box
    # a stranger's box for Bob, sent through Alice's call: it does not open as Alice's
    stranger = nacl.public.Box(nacl.public.PrivateKey.generate(), nacl.public.PublicKey(
        x25519_public(bob.key)))  # fmt: skip
    forged = bytes(stranger.encrypt(b"I am Alice, honest"))
    with pytest.raises(ZomehostError, match="not sealed for me by its sender"):
        bob.call("receive_message", {"sealed": forged, "sent_at": 3}, as_=alice)
    with pytest.raises(ZomehostError):
        bob.call("receive_message", {"text": "plaintext", "sent_at": 4}, as_=alice)
    assert len(bob.signals_of("message")) == 1


def test_ping(messenger: Network) -> None:
    alice, bob = messenger["alice"], messenger["bob"]
    result = alice.call("ping_agent", bob.key.raw)
    assert result["Ok"]["reply"] == "pong"
    assert result["Ok"]["timestamp"] > 0 and result["Ok"]["round_trip_us"] >= 0


def test_nudge_is_a_remote_signal(messenger: Network) -> None:
    alice, bob = messenger["alice"], messenger["bob"]
    assert alice.call("nudge", {"to": [bob.key.raw], "text": "look!"}) is None
    [signal] = bob.signals_of("nudge")
    assert signal == {"type": "nudge", "from": alice.key.raw, "text": "look!"}


def test_nothing_is_written_for_messages(messenger: Network) -> None:
    alice, bob = messenger["alice"], messenger["bob"]
    for i in range(3):
        alice.call("send_message", {"to": bob.key.raw, "text": f"secret {i}"})
        bob.call("send_message", {"to": alice.key.raw, "text": f"reply {i}"})
    alice.call("ping_agent", bob.key.raw)
    alice.call("nudge", {"to": [bob.key.raw], "text": "psst"})
    assert len(bob.signals_of("message")) == 3 and len(alice.signals_of("message")) == 3
    for agent in (alice, bob):
        records = agent.records()
        assert chain_shape(records) == ONLY_SETUP
        # and no trace of any text anywhere in the chain's entries
        blob = b"".join(r.entry.content for r in records if r.entry is not None)
        assert b"secret" not in blob and b"reply" not in blob and b"psst" not in blob


def test_message_to_an_offline_agent_is_a_network_error(messenger: Network) -> None:
    alice, bob = messenger["alice"], messenger["bob"]
    messenger.node.conductor.set_app_status(bob.app.app_id, AppStatus.DISABLED)
    result = alice.call("send_message", {"to": bob.key.raw, "text": "anyone there?"})
    assert set(result) == {"NetworkError"}, result
    assert set(alice.call("ping_agent", bob.key.raw)) == {"NetworkError"}
    assert bob.signals_of("message") == []
