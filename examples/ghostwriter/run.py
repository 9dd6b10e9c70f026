#!/usr/bin/env python3
"""The ghost-writer story of the calls-and-capabilities seed, across separate conductors.

Alice is the world's foremost authority on octopi; Bob writes articles for her. Each runs
their own conductor process (own home, own keys) on loopback; a bootstrap service lets the
two find each other. This script is both of their UIs, talking to their conductors over the
app WebSocket, and prints the story step by step. It exits 1 if any step does not hold.

    python examples/ghostwriter/run.py [--keep | --dir DIR]     # or: just ghostwriter

Build the zomes first (`just zomes`).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/driver.py, shared by the drivers

from driver import Sandbox, Story, outcome, run, short  # noqa: E402

MEMO = "write octopus camouflage articles for Alice"
CARD = {"name": "Dr. Alice Octavia", "bio": "the world's foremost authority on octopi"}
DRAFT = {
    "title": "Masters of disguise: how octopi vanish",
    "body": "An octopus can match the colour and texture of a rock in 200 milliseconds...",
}


def story(sb: Sandbox) -> None:
    s = Story("The ghost writer: Alice lets Bob publish under her name (calls + capabilities)")

    s.section("Setup: a bootstrap service and one conductor process per agent, on loopback")
    s.say(f"bootstrap service at {sb.scenario.bootstrap_url()}")
    alice, bob = sb.start_agents(
        HERE, ["alice", "bob"], app_id="ghostwriter", network_seed="octopus-blog",
        role="blog", zome="blog",
    )  # fmt: skip
    for ui in (alice, bob):
        c = ui.player.peer.process
        s.say(
            f"{sb.who(ui.agent)}: conductor pid {c.pid}, admin {c.admin_url}, home {c.home}; "
            "blog app installed"
        )
    s.expect(alice.cell_id.dna_hash == bob.cell_id.dna_hash, "Alice and Bob run the same DNA")
    s.say("both agents are published to the bootstrap service")

    s.step("Alice fills in her author card: a bridge call from her blog cell to her profile cell")
    card = alice.call("set_author_profile", CARD)
    s.say(
        f'set_author_profile → blog zome → call(Role("profile"), profile/set_profile): '
        f"card {short(card)} on Alice's profile chain (another DNA, same agent; both chains "
        "locked for the call)"
    )
    s.expect(alice.call("author_profile") == CARD, "the blog reads the card back")

    s.step("Bob has been working on a draft (save_draft, on his own chain)")
    draft = bob.call("save_draft", DRAFT)
    s.say(f"draft {short(draft)}: {DRAFT['title']!r}")

    s.step("Alice grants Bob an assigned capability to call her publish_post")
    granted = alice.call("grant_publish_permission", {"ghost_writer": bob.agent, "memo": MEMO})
    s.say(
        f"grant {short(granted['grant_hash'])} on Alice's chain: Assigned to Bob, secret "
        f"{granted['secret'][:4].hex()}…; functions: blog/publish_post"
    )
    [grant] = alice.call("list_my_grants")
    s.expect(
        grant["ghost_writers"] == [bob.agent] and not grant["revoked"],
        "Alice's list_my_grants shows the live grant, assigned to Bob",
    )
    s.say(
        "Alice remote-called Bob's receive_publish_post_permission (unrestricted) with the "
        "secret and the memo"
    )

    s.step("Bob's zome stored the claim and signalled his UI")
    signal = bob.signal("permission_received")
    s.say(
        f"Bob's UI got signal permission_received: from {sb.who(signal['grantor'])}, "
        f"memo {signal['memo']!r}"
    )
    s.expect(
        signal["grantor"] == alice.agent and signal["memo"] == MEMO,
        "the signal names Alice as the grantor, with her memo",
    )

    s.step("Bob clicks 'Publish': the dialog lists who lets him write for them")
    perms = bob.call("get_publish_post_permissions")
    s.say(f"get_publish_post_permissions: {len(perms)} permission(s)")
    for p in perms:
        s.say(f"Publish as {sb.who(p['grantor'])} — {p['memo']!r} (claim {short(p['claim_hash'])})")
    s.expect([p["grantor"] for p in perms] == [alice.agent], "the dialog offers Alice")
    claim = perms[0]["claim_hash"]

    s.step("Bob publishes his draft as Alice (publish_as → remote call to Alice's publish_post)")
    result = bob.call("publish_as", {"draft": draft, "claim": claim})
    s.say(f"publish_as returned {outcome(result)}")
    s.expect("Ok" in result, "Alice's publish_post accepted Bob's call")

    s.step("The post is on Alice's chain")
    posts = alice.call("list_posts")
    [post] = posts
    s.say(f"Alice's list_posts: {post['title']!r}, author {sb.who(post['author'])}")
    s.expect(
        post["hash"] == result["Ok"] and post["title"] == DRAFT["title"],
        "it is Bob's draft, under the hash publish_as returned",
    )
    s.expect(post["author"] == alice.agent, "post landed on Alice's chain, authored by Alice")
    published = alice.signal("post_published")
    s.say(
        f"Alice's UI got signal post_published: {published['title']!r}, "
        f"published by {sb.who(published['published_by'])}"
    )
    s.expect(published["published_by"] == bob.agent, "Alice's UI knows Bob made the call")
    s.say(f"the signal's byline, read from Alice's profile cell by a bridge call: "
          f"{published['byline']!r}")  # fmt: skip
    s.expect(
        published["byline"] == CARD["name"],
        "Bob's remote call ran Alice's blog, which bridge-called her profile for the byline",
    )
    s.expect(bob.call("list_posts") == [], "Bob's own chain has no posts")

    s.step("Alice revokes Bob's permission (revoke_publish_permission → delete_cap_grant)")
    revoke = alice.call("revoke_publish_permission", granted["grant_hash"])
    s.say(f"grant deleted by action {short(revoke)}")
    [grant] = alice.call("list_my_grants")
    s.expect(grant["revoked"], "the grant is revoked")

    s.step("Bob tries to publish as Alice again")
    result = bob.call("publish_as", {"draft": draft, "claim": claim})
    s.say(f"publish_as returned {outcome(result)}")
    s.expect("Unauthorized" in result, "after revoke: Unauthorized")
    s.expect(len(alice.call("list_posts")) == 1, "Alice still has exactly one post")

    print("\nThe ghost-writer story holds end to end.")


if __name__ == "__main__":
    sys.exit(run(story, __doc__.splitlines()[0]))
