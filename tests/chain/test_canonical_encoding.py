"""The write path's shortcuts to canonical bytes give exactly ``pack_canonical``'s bytes."""

from __future__ import annotations

import hashlib

import pytest

from zomehost.core.action import Action, ActionType, Entry
from zomehost.core.codec import pack_canonical
from zomehost.core.hash import ActionHash, AgentPubKey, DnaHash, EntryHash, dht_location

AGENT = AgentPubKey.from_core(b"a" * 32)
PREV = ActionHash.of_content(b"prev")
ENTRY = EntryHash.of_content(b"entry")

ACTIONS = [
    Action(ActionType.DNA, AGENT, 1, 0, None, dna_hash=DnaHash.of_content(b"dna")),
    Action(ActionType.AGENT_VALIDATION_PKG, AGENT, 2, 1, PREV, membrane_proof=None),
    Action(ActionType.AGENT_VALIDATION_PKG, AGENT, 2, 1, PREV, membrane_proof=b"proof"),
    Action(ActionType.AGENT_VALIDATION_PKG, AGENT, 2, 1, PREV, membrane_proof={"z": 1, "a": 2}),  # type: ignore[arg-type]
    Action(ActionType.INIT_ZOMES_COMPLETE, AGENT, 3, 3, PREV),
    Action(ActionType.CREATE, AGENT, 1 << 40, 4, PREV, entry_type="post", entry_hash=ENTRY),
    Action(
        ActionType.UPDATE,
        AGENT,
        5,
        5,
        PREV,
        entry_type="post",
        entry_hash=ENTRY,
        original_action_address=PREV,
        original_entry_address=ENTRY,
    ),
    Action(ActionType.DELETE, AGENT, 6, 6, PREV, deletes_address=PREV, deletes_entry_address=ENTRY),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.type.value)
def test_action_bytes_are_canonical(action: Action) -> None:
    assert action.encode() == pack_canonical(action.to_wire())


@pytest.mark.parametrize("entry_type", ["", "a", "post", "x" * 40, "CapGrant"])
@pytest.mark.parametrize("content", [b"", b"\x01", b"y" * 300])
def test_entry_bytes_and_hash_are_canonical(entry_type: str, content: bytes) -> None:
    entry = Entry(entry_type, content)
    assert entry.encode() == pack_canonical(entry.to_wire())
    assert entry.hash == EntryHash.of_content(pack_canonical(entry.to_wire()))
    assert entry == Entry(entry_type, content)  # the cached bytes take no part in equality


def test_dht_location_folds_the_digest_bytewise() -> None:
    for i in range(200):
        core = hashlib.blake2b(i.to_bytes(4, "big"), digest_size=32).digest()
        digest = hashlib.blake2b(core, digest_size=16).digest()
        expected = bytes(
            digest[j] ^ digest[4 + j] ^ digest[8 + j] ^ digest[12 + j] for j in range(4)
        )
        assert dht_location(core) == expected
