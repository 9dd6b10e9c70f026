"""examples/messenger/run.py: private messages and a private room across separate conductor
processes (Alice, Bob and Carol, who is not in the room)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zomehost.errors import ZomehostError

from .drivers import assert_said, chain_of, chain_shape, run_driver

pytestmark = pytest.mark.slow

# The design: genesis, init's unrestricted grant, the UI's signing-key grant. Nothing else.
EXPECTED_CHAIN = [
    "Dna",
    "AgentValidationPkg",
    "Create:Agent",
    "Create:CapGrant:anyone may message me",
    "InitZomesComplete",
    "Create:CapGrant:zome-call-signing-key",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    sandbox = tmp_path_factory.mktemp("messenger") / "sandbox"
    done = run_driver("messenger", sandbox)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout, sandbox


def test_messages_pings_and_nudges_arrive(run: tuple[str, Path]) -> None:
    out, _ = run
    assert_said(
        out,
        "ping_agent returned Ok: 'pong'",
        "✓ delivered: Bob's conductor sent a receipt",
        "Bob's UI got signal message from Alice",
        "Alice's UI got signal message from Bob",
        "Bob's UI got signal nudge from Alice",
        "The messenger story holds end to end.",
    )


def test_a_message_to_an_offline_agent_is_a_network_error(run: tuple[str, Path]) -> None:
    out, _ = run
    assert "Bob's conductor exited with status 0" in out
    assert "send_message returned NetworkError:" in out
    assert "✓ a message to an offline agent: NetworkError" in out
    assert "✓ a ping to an offline agent: NetworkError" in out


def test_nothing_is_written_for_messages(run: tuple[str, Path]) -> None:
    _, sandbox = run
    for name in ("alice", "bob"):
        records = chain_of(sandbox / name, "messenger", "messenger")
        assert chain_shape(records) == EXPECTED_CHAIN, name
        blob = b"".join(r.entry.content for r in records if r.entry is not None)
        for text in (b"reef", b"kelp", b"camera", b"are you there"):
            assert text not in blob


def test_a_private_room_reaches_its_members_only(run: tuple[str, Path]) -> None:
    """The room is a clone cell with its own network seed: Bob joins through the app API
    (its signals reach the connection he opened before the clone existed); Carol, not
    invited, is not in the room's network and sees none of its messages."""
    out, _ = run
    assert_said(
        out,
        "Alice's conductor made clone cell messenger.0",
        "✓ the invitation went to Bob as a sealed private message",
        "Bob's UI got signal invitation from Alice",
        "✓ the same DNA as Alice's room: one network",
        "✓ Bob's room cell got it",
        "✓ Carol is not in the room's network: she cannot be reached there",
        "Bob's room UI got signal message from Alice",
        "Alice's room UI got signal message from Bob",
        "Carol's UI got 0 signals, 0 of them from the room",
        "✓ the room's network lists Alice and Bob, not Carol",
        "✓ dump_network_stats counts each connection's traffic",
    )


def test_nothing_is_written_for_room_messages_and_carol_has_no_room(
    run: tuple[str, Path],
) -> None:
    _, sandbox = run
    for name in ("alice", "bob"):
        records = chain_of(sandbox / name, "messenger", "messenger.0")
        assert chain_shape(records) == EXPECTED_CHAIN, name
        blob = b"".join(r.entry.content for r in records if r.entry is not None)
        for text in (b"Dive at dawn", b"Just us two"):
            assert text not in blob
    with pytest.raises(ZomehostError, match="no role or enabled clone"):
        chain_of(sandbox / "carol", "messenger", "messenger.0")
