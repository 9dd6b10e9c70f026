"""The ghost-writer story of the calls-and-capabilities seed, in one conductor.

Alice and Bob (and Carol, who was never given anything) run the blog DNA; call_remote between
them is routed inside the conductor through the same authorization as a network call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import NodeFactory
from zomehost.conductor.app import AppStatus
from zomehost.core.hash import ActionHash
from zomehost.errors import Unauthorized, ZomehostError

from .conftest import Network, start_agents
from .drivers import chain_shape

MEMO = "write octopus camouflage articles for Alice"
DRAFT = {"title": "Masters of disguise", "body": "Octopi change colour in 200 ms."}


def grant_bob(blog: Network) -> dict:
    alice, bob = blog["alice"], blog["bob"]
    return alice.call("grant_publish_permission", {"ghost_writer": bob.key.raw, "memo": MEMO})


def test_the_whole_story(blog: Network) -> None:
    alice, bob = blog["alice"], blog["bob"]

    # 1. Alice grants Bob an assigned capability to publish_post, and hands him the secret.
    granted = grant_bob(blog)
    assert len(granted["secret"]) == 64
    grants = alice.call("list_my_grants")
    assert grants == [
        {
            "grant_hash": granted["grant_hash"],
            "memo": MEMO,
            "ghost_writers": [bob.key.raw],
            "revoked": False,
        }
    ]

    # 2-3. Bob's receive_publish_post_permission (unrestricted) stored a claim and told his UI.
    [signal] = bob.signals_of("permission_received")
    assert signal["grantor"] == alice.key.raw and signal["memo"] == MEMO
    claims = bob.chain.claims()
    assert [(c.grantor, c.tag, c.secret) for _, c in claims] == [
        (alice.key, MEMO, granted["secret"])
    ]

    # 4-5. Bob's draft, and the "Publish As" dialog.
    draft = bob.call("save_draft", DRAFT)
    [perm] = bob.call("get_publish_post_permissions")
    assert perm == {"claim_hash": signal["claim_hash"], "grantor": alice.key.raw, "memo": MEMO}

    # 6-7. Bob publishes as Alice: the post lands on Alice's chain, authored by Alice.
    result = bob.call("publish_as", {"draft": draft, "claim": perm["claim_hash"]})
    assert set(result) == {"Ok"}, result
    [post] = alice.call("list_posts")
    assert post["hash"] == result["Ok"]
    assert (post["title"], post["body"]) == (DRAFT["title"], DRAFT["body"])
    assert post["author"] == alice.key.raw
    record = alice.chain.get(ActionHash(result["Ok"]))
    assert record is not None and record.action.author == alice.key
    assert bob.call("list_posts") == []  # nothing on Bob's chain
    [published] = alice.signals_of("post_published")
    assert published["published_by"] == bob.key.raw and published["hash"] == result["Ok"]

    # After Alice revokes, the same claim no longer works.
    alice.call("revoke_publish_permission", granted["grant_hash"])
    assert alice.call("list_my_grants")[0]["revoked"] is True
    result = bob.call("publish_as", {"draft": draft, "claim": perm["claim_hash"]})
    assert set(result) == {"Unauthorized"}, result
    assert result["Unauthorized"]["fn_name"] == "publish_post"
    assert result["Unauthorized"]["provenance"] == bob.key.raw
    assert len(alice.call("list_posts")) == 1


def test_alice_can_publish_herself(blog: Network) -> None:
    alice = blog["alice"]
    h = alice.call("publish_post", {"title": "Octopus brains", "body": "Nine of them."})
    assert [p["hash"] for p in alice.call("list_posts")] == [h]
    assert alice.signals_of("post_published")[0]["published_by"] == alice.key.raw


def test_without_a_grant_bob_cannot_call_publish_post(blog: Network) -> None:
    alice, bob = blog["alice"], blog["bob"]
    with pytest.raises(Unauthorized):
        alice.call("publish_post", DRAFT, as_=bob)
    # ...but anyone may hand anyone a permission (the init grant is unrestricted).
    claim = bob.call(
        "receive_publish_post_permission", {"secret": b"\x01" * 64, "memo": "hi"}, as_=blog["carol"]
    )
    assert isinstance(claim, bytes)


def test_the_secret_is_assigned_to_bob_only(blog: Network) -> None:
    alice, bob, carol = blog["alice"], blog["bob"], blog["carol"]
    granted = grant_bob(blog)
    # Bob, with the secret: allowed (the client path, not only call_remote).
    h = alice.call("publish_post", DRAFT, as_=bob, secret=granted["secret"])
    assert isinstance(h, bytes)
    # Carol, holding a copy of Bob's secret: refused, the grant is assigned to Bob.
    with pytest.raises(Unauthorized):
        alice.call("publish_post", DRAFT, as_=carol, secret=granted["secret"])
    # Bob may call publish_post only: the grant lists that one function.
    with pytest.raises(Unauthorized):
        alice.call(
            "revoke_publish_permission", granted["grant_hash"], as_=bob, secret=granted["secret"]
        )


def test_a_forged_claim_is_refused(blog: Network) -> None:
    """Carol hands Bob a fake "permission from Carol": it only lets him publish as Carol, and
    Carol has no such grant."""
    bob, carol = blog["bob"], blog["carol"]
    claim = bob.call(
        "receive_publish_post_permission", {"secret": b"\x02" * 64, "memo": "fake"}, as_=carol
    )
    draft = bob.call("save_draft", DRAFT)
    result = bob.call("publish_as", {"draft": draft, "claim": claim})
    assert "Unauthorized" in result
    assert carol.call("list_posts") == []


def test_publish_as_checks_its_inputs(blog: Network) -> None:
    bob = blog["bob"]
    draft = bob.call("save_draft", DRAFT)
    with pytest.raises(ZomehostError, match="no capability claim"):
        bob.call("publish_as", {"draft": draft, "claim": draft})
    grant_bob(blog)
    [perm] = bob.call("get_publish_post_permissions")
    with pytest.raises(ZomehostError, match="no draft"):
        bob.call("publish_as", {"draft": perm["claim_hash"], "claim": perm["claim_hash"]})


def test_a_failed_hand_over_leaves_no_grant(blog: Network) -> None:
    alice, bob = blog["alice"], blog["bob"]
    blog.node.conductor.set_app_status(bob.app.app_id, AppStatus.DISABLED)  # Bob is unreachable
    with pytest.raises(ZomehostError, match="could not hand the permission"):
        grant_bob(blog)
    assert alice.call("list_my_grants") == []
    grants = alice.chain.grants(include_revoked=True)
    assert len(grants) == 1  # only the unrestricted one init wrote


def test_revoke_twice_and_unknown(blog: Network) -> None:
    alice = blog["alice"]
    granted = grant_bob(blog)
    alice.call("revoke_publish_permission", granted["grant_hash"])
    with pytest.raises(ZomehostError, match="no live grant"):
        alice.call("revoke_publish_permission", granted["grant_hash"])


def test_grant_to_self_is_refused(blog: Network) -> None:
    alice = blog["alice"]
    with pytest.raises(ZomehostError, match="no permission needed"):
        alice.call("grant_publish_permission", {"ghost_writer": alice.key.raw, "memo": "me"})


def test_chains_hold_what_the_story_wrote(blog: Network) -> None:
    alice, bob = blog["alice"], blog["bob"]
    granted = grant_bob(blog)
    draft = bob.call("save_draft", DRAFT)
    [perm] = bob.call("get_publish_post_permissions")
    bob.call("publish_as", {"draft": draft, "claim": perm["claim_hash"]})
    alice.call("revoke_publish_permission", granted["grant_hash"])

    genesis = ["Dna", "AgentValidationPkg", "Create:Agent"]
    init = ["Create:CapGrant:anyone may hand me a publishing permission", "InitZomesComplete"]
    assert chain_shape(alice.records()) == [
        *genesis,
        *init,
        f"Create:CapGrant:{MEMO}",  # Bob's assigned grant
        "Create:post",  # Bob's post, on Alice's chain
        "Delete",  # the revoke
    ]
    assert chain_shape(bob.records()) == [*genesis, *init, "Create:CapClaim", "Create:draft"]
    for agent in (alice, bob):
        assert agent.chain.verify() == len(agent.records())


def test_init_grant_opens_a_never_called_cell(node_factory: NodeFactory, tmp_path: Path) -> None:
    net = start_agents(
        node_factory(), tmp_path, "ghostwriter", "blog", "blog", ["alice", "bob"], ui_opens=None
    )
    grant_bob(net)
    assert len(net["bob"].call("get_publish_post_permissions")) == 1


# -- the author's card: a second DNA, reached by bridge calls ----------------------------

CARD = {"name": "Dr. Alice Octavia", "bio": "the world's foremost authority on octopi"}


def test_the_authors_card_lives_on_the_profile_cell_through_bridge_calls(blog: Network) -> None:
    alice, bob = blog["alice"], blog["bob"]
    profile_cell = alice.app.cell_id("profile")
    assert profile_cell.agent == alice.key and profile_cell.dna_hash != alice.cell_id.dna_hash
    assert alice.call("author_profile") is None
    alice.call("publish_post", {"title": "Before the card", "body": "..."})
    assert alice.signals_of("post_published")[0]["byline"] is None

    card = alice.call("set_author_profile", CARD)
    [written] = [r for r in alice.app.records("profile") if r.action.entry_type == "profile"]
    assert written.action_hash.raw == card and written.action.author == alice.key
    assert not [r for r in alice.records() if r.action.entry_type == "profile"]  # not the blog's
    assert alice.call("author_profile") == CARD
    assert bob.call("author_profile") is None  # Bob's own profile cell

    # Bob's remote call runs Alice's publish_post, which bridge-calls her profile cell.
    grant_bob(blog)
    draft = bob.call("save_draft", DRAFT)
    [perm] = bob.call("get_publish_post_permissions")
    result = bob.call("publish_as", {"draft": draft, "claim": perm["claim_hash"]})
    published = alice.signals_of("post_published")[-1]
    assert published["hash"] == result["Ok"] and published["byline"] == CARD["name"]


def test_only_the_agent_reaches_its_profile(blog: Network) -> None:
    alice, bob = blog["alice"], blog["bob"]
    with pytest.raises(Unauthorized):
        alice.call("set_author_profile", CARD, as_=bob)
    with pytest.raises(Unauthorized):  # nor the profile cell directly
        alice.app.call("profile", "set_profile", CARD, role="profile", provenance=bob.key)
    assert alice.call("author_profile") is None


def test_a_failed_bridge_call_writes_on_neither_chain(blog: Network) -> None:
    alice = blog["alice"]
    assert alice.call("author_profile") is None  # the profile cell's first call: its init
    blog_len, profile_len = len(alice.records()), len(alice.app.records("profile"))
    with pytest.raises(ZomehostError, match="a profile needs a name"):
        alice.call("set_author_profile", {"name": " ", "bio": "nameless"})
    assert len(alice.records()) == blog_len
    assert len(alice.app.records("profile")) == profile_len
