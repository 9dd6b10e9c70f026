"""examples/ghostwriter/run.py: the ghost-writer story across separate conductor processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from zomehost.core.action import ActionType
from zomehost.core.codec import unpack

from .drivers import assert_said, chain_of, run_driver

pytestmark = pytest.mark.slow


def test_the_story_runs_across_processes(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    done = run_driver("ghostwriter", sandbox)
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"
    assert_said(
        out,
        "bootstrap service at http://127.0.0.1:",
        "Alice grants Bob an assigned capability to call her publish_post",
        "Bob's UI got signal permission_received: from Alice",
        "Publish as Alice",
        "publish_as returned Ok(uhCkk",
        "✓ post landed on Alice's chain, authored by Alice",
        "Alice fills in her author card: a bridge call from her blog cell to her profile cell",
        "✓ the blog reads the card back",
        "Alice's UI got signal post_published",
        "the signal's byline, read from Alice's profile cell by a bridge call: 'Dr. Alice Octavia'",
        "published by Bob",
        "publish_as returned Unauthorized:",
        "✓ after revoke: Unauthorized",
        "The ghost-writer story holds end to end.",
    )
    assert "FAILED" not in out + done.stderr

    # What the conductors left on disk agrees: the post is on Alice's chain, signed by Alice.
    alice = chain_of(sandbox / "alice", "ghostwriter", "blog")
    bob = chain_of(sandbox / "bob", "ghostwriter", "blog")
    [post] = [r for r in alice if r.action.entry_type == "post"]
    assert post.action.author == alice[0].action.author
    assert unpack(post.entry.content)["title"].startswith("Masters of disguise")
    assert [r.action.type for r in alice][-1] is ActionType.DELETE  # the revoke
    # The card is on Alice's profile chain (the bridge call's callee), not on her blog's.
    profile = chain_of(sandbox / "alice", "ghostwriter", "profile")
    [card] = [r for r in profile if r.action.entry_type == "profile"]
    assert profile[0].action.dna_hash != alice[0].action.dna_hash  # another DNA
    assert card.entry is not None and card.action.author == alice[0].action.author
    assert unpack(card.entry.content)["name"] == "Dr. Alice Octavia"
    assert not [r for r in alice if r.action.entry_type == "profile"]
    assert not [r for r in bob if r.action.entry_type == "post"]
    assert [r.action.entry_type for r in bob if r.action.type is ActionType.CREATE].count(
        "CapClaim"
    ) == 1
