"""examples/messenger/run.py: private messages across separate conductor processes."""

from __future__ import annotations

from pathlib import Path

import pytest

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
