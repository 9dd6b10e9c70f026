"""App isolation (issue 13.4): the keystore holds every app's agent keys, but a zome signs
only as its own cell's agent, and another app's cells answer it only through grants."""

from __future__ import annotations

import nacl.signing
import pytest

from zomehost.core.codec import pack
from zomehost.core.hash import CellId
from zomehost.errors import GuestError
from zomehost.fuzz.testbed import TestBed, app_bundle, dna, wat
from zomehost.ribosome.engine import HOST_FUNCTIONS

from .conftest import host_raw

SIGN = HOST_FUNCTIONS.index("sign")
BOX_ENCRYPT = HOST_FUNCTIONS.index("box_encrypt")
BOX_DECRYPT = HOST_FUNCTIONS.index("box_decrypt")
SECRETBOX_DECRYPT = HOST_FUNCTIONS.index("secretbox_decrypt")


def test_a_zome_signs_as_its_own_agent(bed: TestBed, hostile: CellId) -> None:
    data = b"a statement"
    sig = bed.call(hostile, "hostile", "host_raw", host_raw(SIGN, 1, data=pack(
        {"key": hostile.agent.raw, "data": data})))  # fmt: skip
    nacl.signing.VerifyKey(hostile.agent.ed25519).verify(data, sig)


def test_a_zome_cannot_sign_with_another_apps_key(bed: TestBed, hostile: CellId) -> None:
    victim = bed.install({"writer": wat("writer")}, app_id="sign-victim")
    assert victim.agent != hostile.agent
    with pytest.raises(GuestError, match="InvalidInput") as err:
        bed.call(hostile, "hostile", "host_raw", host_raw(SIGN, 1, data=pack(
            {"key": victim.agent.raw, "data": b"I, the victim, agree"})))  # fmt: skip
    assert "only sign with its own agent key" in err.value.message


def test_a_shared_key_signs_only_for_linked_apps(bed: TestBed) -> None:
    """Two apps installed with one agent key: the second may not sign with it (its
    signatures would pass as the first app's author) unless the admin linked it."""
    victim = bed.install({"hostile": wat("hostile")}, app_id="shared-victim")
    hostile_dna = dna({"hostile": wat("hostile")}, seed="shared-rogue")
    c = bed.conductor
    rogue = c.install_app(app_bundle({"main": hostile_dna}), "shared-rogue", victim.agent)
    request = host_raw(SIGN, 1, data=pack({"key": victim.agent.raw, "data": b"forged"}))
    with pytest.raises(GuestError, match="Unauthorized") as err:
        bed.call(rogue.cell_id("main"), "hostile", "host_raw", request)
    assert "shared-victim" in err.value.message
    # The victim app itself is not linked to the rogue either: it may not sign now.
    with pytest.raises(GuestError, match="Unauthorized"):
        bed.call(victim, "hostile", "host_raw", request)
    linked_dna = dna({"hostile": wat("hostile")}, seed="shared-linked")
    linked = c.install_app(
        app_bundle({"main": linked_dna}),
        "shared-linked",
        victim.agent,
        linked_apps=frozenset({"shared-victim", "shared-rogue"}),
    )
    sig = bed.call(linked.cell_id("main"), "hostile", "host_raw", request)
    nacl.signing.VerifyKey(victim.agent.ed25519).verify(b"forged", sig)


def test_a_shared_key_decrypts_only_for_linked_apps(bed: TestBed) -> None:
    """What was boxed for an agent, or sealed by its cell, is not for an unlinked app that
    was installed with the same key: box_decrypt and secretbox_decrypt refuse it."""
    victim = bed.install({"hostile": wat("hostile")}, app_id="box-victim")
    friend = bed.install({"hostile": wat("hostile")}, app_id="box-friend")
    boxed = bed.call(friend, "hostile", "host_raw", host_raw(BOX_ENCRYPT, 1, data=pack(
        {"recipient": victim.agent.raw, "data": b"for the victim only"})))  # fmt: skip
    rogue_dna = dna({"hostile": wat("hostile")}, seed="box-rogue")
    rogue = bed.conductor.install_app(app_bundle({"main": rogue_dna}), "box-rogue", victim.agent)
    for index, value in (
        (BOX_DECRYPT, {"sender": friend.agent.raw, "data": boxed}),
        (SECRETBOX_DECRYPT, {"data": boxed}),
        (BOX_ENCRYPT, {"recipient": friend.agent.raw, "data": b"posing as the victim"}),
    ):
        with pytest.raises(GuestError, match="Unauthorized") as err:
            bed.call(rogue.cell_id("main"), "hostile", "host_raw", host_raw(index, 1, data=pack(
                value)))  # fmt: skip
        assert "box-victim" in err.value.message
