"""Hashing and encryption host functions (docs/abi.md, "Hashing and encryption"), called by
both probes (zomes/probe in Rust, zomes/probe_as in AssemblyScript) on real conductors.

Results are checked against independent computations in Python: hashlib's BLAKE2b, the
hashes the chain itself stored, and PyNaCl opening the boxes with the keystore's keys, so
the guests' wrappers and the host agree with the formats, not only with each other.
"""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.bindings
import nacl.public
import pytest

from zomehost.core.action import Entry
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey
from zomehost.errors import GuestError

from .conftest import LANGS, World

SECRET = b"meet me at the old mill at midnight"


@pytest.fixture(params=LANGS)
def world(request: pytest.FixtureRequest, worlds: dict[str, World]) -> World:
    return worlds[request.param]


def _x25519_secret(world: World, agent: AgentPubKey) -> nacl.public.PrivateKey:
    """The agent's X25519 secret, from the conductor's keystore (what the guest never sees)."""
    sk = world.node.conductor.keystore.keys[agent]
    return nacl.public.PrivateKey(bytes(sk.to_curve25519_private_key()))


def _x25519_public(agent: AgentPubKey) -> nacl.public.PublicKey:
    return nacl.public.PublicKey(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(agent.core))


# -- hashing ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a note", [1, 2, "three"], {"title": "t", "n": 7}, None])
def test_hash_entry_is_the_hash_create_writes(world: World, value: Any) -> None:
    (alice,) = world.install(f"hash-entry-{len(repr(value))}", "alice")
    created = alice.call("a", "create_entry", {"value": value})
    stored = alice.call("a", "get_record", created)["action"]["entry_hash"]
    computed = alice.call("a", "entry_hash_of", {"entry_type": "probe", "value": value})
    assert computed == stored
    assert computed == Entry("probe", pack(value)).hash.raw
    other = alice.call("a", "entry_hash_of", {"entry_type": "other", "value": value})
    assert other != computed  # the type is part of the entry


def test_hash_action_recomputes_every_records_hash(world: World) -> None:
    (alice,) = world.install("hash-action", "alice")
    created = alice.call("a", "create_entry", {"value": "v1"})
    alice.call("a", "update_entry", {"original": created, "value": "v2"})
    alice.call("a", "delete_entry", created)
    records = alice.records()
    types = {r.action.type.value for r in records}
    assert {"Dna", "AgentValidationPkg", "Create", "InitZomesComplete", "Update", "Delete"} <= types
    for r in records:
        assert alice.call("a", "action_hash_of", r.action_hash.raw) == r.action_hash.raw


@pytest.mark.parametrize("size", [1, 16, 32, 64])
def test_hash_blake2b_matches_hashlib(world: World, size: int) -> None:
    (alice,) = world.install(f"blake2b-{size}", "alice")
    for data in (b"", b"abc", bytes(range(256)) * 40):
        digest = alice.call("a", "blake2b", {"data": data, "size": size})
        assert digest == hashlib.blake2b(data, digest_size=size).digest()


@pytest.mark.parametrize("size", [0, 65, 255])
def test_hash_blake2b_refuses_a_size_outside_1_to_64(world: World, size: int) -> None:
    (alice,) = world.install(f"blake2b-bad-{size}", "alice")
    with pytest.raises(GuestError, match="InvalidInput"):
        alice.call("a", "blake2b", {"data": b"x", "size": size})


# -- crypto_box between agents ----------------------------------------------------------


def test_box_reaches_only_its_recipient(world: World) -> None:
    alice, bob, carol = world.install("box", "alice", "bob", "carol")
    sealed = alice.call("a", "seal_for", {"recipient": bob.agent.raw, "data": SECRET})
    assert SECRET not in sealed
    assert len(sealed) == 24 + 16 + len(SECRET)  # nonce, MAC, ciphertext
    again = alice.call("a", "seal_for", {"recipient": bob.agent.raw, "data": SECRET})
    assert again != sealed  # a fresh nonce each time

    assert bob.call("a", "open_from", {"sender": alice.agent.raw, "data": sealed}) == SECRET
    # carol holds neither key; a wrong claimed sender fails authentication
    assert carol.call("a", "open_from", {"sender": alice.agent.raw, "data": sealed}) is None
    assert bob.call("a", "open_from", {"sender": carol.agent.raw, "data": sealed}) is None


def test_box_is_standard_crypto_box_on_the_agents_curve25519_keys(world: World) -> None:
    alice, bob = world.install("box-nacl", "alice", "bob")
    sealed = alice.call("a", "seal_for", {"recipient": bob.agent.raw, "data": SECRET})
    box = nacl.public.Box(_x25519_secret(world, bob.agent), _x25519_public(alice.agent))
    assert box.decrypt(sealed) == SECRET
    # and the other way: a box made outside the conductor opens inside it
    outside = nacl.public.Box(_x25519_secret(world, alice.agent), _x25519_public(bob.agent))
    assert bob.call("a", "open_from", {"sender": alice.agent.raw, "data": bytes(
        outside.encrypt(b"from outside"))}) == b"from outside"  # fmt: skip


@pytest.mark.parametrize("cut", ["flip", "short", "empty", "nonce-only"])
def test_an_altered_box_opens_to_nil(world: World, cut: str) -> None:
    alice, bob = world.install(f"box-altered-{cut}", "alice", "bob")
    sealed = alice.call("a", "seal_for", {"recipient": bob.agent.raw, "data": SECRET})
    bad = {
        "flip": sealed[:-1] + bytes([sealed[-1] ^ 1]),
        "short": sealed[:-1],
        "empty": b"",
        "nonce-only": sealed[:24],
    }[cut]
    assert bob.call("a", "open_from", {"sender": alice.agent.raw, "data": bad}) is None


def test_box_refuses_a_recipient_that_is_not_an_agent(world: World) -> None:
    (alice,) = world.install("box-not-agent", "alice")
    created = alice.call("a", "create_entry", {"value": 1})
    with pytest.raises(GuestError, match="InvalidInput"):
        alice.call("a", "seal_for", {"recipient": created, "data": SECRET})
    with pytest.raises(GuestError, match="InvalidInput"):
        alice.call("a", "open_from", {"sender": created, "data": SECRET})


# -- secretbox for the cell itself ------------------------------------------------------


def test_secretbox_opens_only_in_the_cell_that_sealed_it(world: World) -> None:
    alice, bob = world.install("secretbox", "alice", "bob")
    sealed = alice.call("a", "seal_own", SECRET)
    assert SECRET not in sealed
    assert alice.call("a", "seal_own", SECRET) != sealed
    assert alice.call("a", "open_own", sealed) == SECRET
    assert alice.call("b", "open_own", sealed) == SECRET  # another zome of the same cell
    assert bob.call("a", "open_own", sealed) is None  # another agent
    assert alice.call("a", "open_own", sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert alice.call("a", "open_own", b"short") is None


def test_secretbox_key_is_per_dna(world: World) -> None:
    """The same agent in another DNA (another network seed) cannot open the cell's box.
    (tests/sandbox/test_app_isolation.py: an unlinked app sharing the key may not try.)"""
    (alice,) = world.install("secretbox-dna", "alice")
    sealed = alice.call("a", "seal_own", SECRET)
    other = world.node.install(
        world.bundle,
        "secretbox-dna-other",
        agent=alice.agent,
        network_seed="elsewhere",
        linked_apps=frozenset({alice.app_id}),  # a shared key needs the link (test below)
    )
    assert other.cell_id().dna_hash != alice.cell_id().dna_hash
    assert other.call("a", "open_own", sealed) is None
    assert other.call("a", "open_own", other.call("a", "seal_own", SECRET)) == SECRET
