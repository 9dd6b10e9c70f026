"""Capabilities end to end: grant host functions in a real zome, and the rule enforced by the
conductor for calls from other agents (direct calls, and `call`/`call_remote` from a zome).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from zomehost.core.codec import unpack
from zomehost.errors import GuestError, Unauthorized, ZomeFunctionNotFound

# -- helpers ------------------------------------------------------------------------------


def listed(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"Listed": [list(p) for p in pairs]}


def transferable(secret: bytes) -> dict[str, Any]:
    return {"Transferable": {"secret": secret}}


def assigned(secret: bytes, *agents: Any) -> dict[str, Any]:
    return {"Assigned": {"secret": secret, "assignees": [a.raw for a in agents]}}


def make_grant(app: Any, access: Any, functions: Any, tag: str = "t") -> bytes:
    return bytes(
        app.call("a", "make_grant", {"tag": tag, "access": access, "functions": functions})
    )


def allowed(app: Any, caller: Any, zome: str, fn: str, secret: bytes | None = None) -> bool:
    """Does the conductor let ``caller`` (an agent key) call app's (zome, fn)?"""
    payload = "probe" if fn == "echo" else None
    try:
        app.call(zome, fn, payload, provenance=caller, secret=secret)
    except Unauthorized:
        return False
    return True


@pytest.fixture
def secret(alice: Any) -> bytes:
    return bytes(alice.call("a", "new_secret"))


# -- generate_cap_secret ------------------------------------------------------------------


def test_generate_cap_secret(alice: Any) -> None:
    secrets = {bytes(alice.call("a", "new_secret")) for _ in range(5)}
    assert len(secrets) == 5
    assert all(len(s) == 64 for s in secrets)


# -- create / list / update / delete grants -------------------------------------------------


def test_create_cap_grant_writes_a_grant_entry_and_lists_it(
    alice: Any, node: Any, secret: bytes
) -> None:
    bob = node.conductor.generate_agent()
    grant = {"tag": "for-bob", "access": assigned(secret, bob), "functions": listed(("a", "echo"))}
    h = bytes(alice.call("a", "make_grant", grant))

    rec = alice.call("a", "get_record", h)
    assert rec["action"]["type"] == "Create"
    assert rec["action"]["entry_type"] == "CapGrant"
    assert unpack(rec["entry"]["content"]) == grant

    live = alice.call("b", "list_grants", False)
    assert live == [{"action_hash": h, "grant": grant, "revoked": False}]
    assert [
        g.action_hash.raw for g in alice.node.conductor.cell(alice.cell_id()).chain.grants()
    ] == [h]

    assert allowed(alice, bob, "a", "echo", secret)
    assert not allowed(alice, bob, "a", "whoami", secret)


def test_update_cap_grant_replaces_the_grant_at_once(alice: Any, node: Any, secret: bytes) -> None:
    bob = node.conductor.generate_agent()
    old = make_grant(alice, transferable(secret), listed(("a", "echo")), tag="v1")
    assert allowed(alice, bob, "a", "echo", secret)

    new_secret = bytes(alice.call("a", "new_secret"))
    new_grant = {"tag": "v2", "access": transferable(new_secret), "functions": listed(("a", "now"))}
    new = bytes(alice.call("a", "update_grant", {"original_action": old, "grant": new_grant}))

    # The old grant stops working at once, even for the function it covered.
    assert not allowed(alice, bob, "a", "echo", secret)
    assert not allowed(alice, bob, "a", "now", secret)
    # The new one works for its own function with its own secret, and nothing else.
    assert allowed(alice, bob, "a", "now", new_secret)
    assert not allowed(alice, bob, "a", "echo", new_secret)

    rec = alice.call("a", "get_record", new)
    assert rec["action"]["type"] == "Update"
    assert rec["action"]["original_action_address"] == old
    assert alice.call("a", "list_grants", False) == [
        {"action_hash": new, "grant": new_grant, "revoked": False}
    ]
    everything = {g["action_hash"]: g for g in alice.call("a", "list_grants", True)}
    assert set(everything) == {old, new}
    assert everything[old]["revoked"] is True
    assert everything[old]["grant"]["tag"] == "v1"
    assert everything[new]["revoked"] is False


def test_delete_cap_grant_revokes_at_once(alice: Any, node: Any) -> None:
    bob = node.conductor.generate_agent()
    h = make_grant(alice, "Unrestricted", listed(("a", "echo")))
    assert allowed(alice, bob, "a", "echo")
    d = bytes(alice.call("a", "delete_grant", h))
    assert not allowed(alice, bob, "a", "echo")

    rec = alice.call("a", "get_record", d)
    assert rec["action"]["type"] == "Delete"
    assert rec["action"]["deletes_address"] == h
    assert alice.call("a", "list_grants", False) == []
    revoked = alice.call("a", "list_grants", True)
    assert [(g["action_hash"], g["revoked"]) for g in revoked] == [(h, True)]


def test_grant_functions_refuse_what_is_not_a_grant(alice: Any) -> None:
    entry = bytes(alice.call("a", "create_entry", {"value": "not a grant"}))
    seq = alice.head_seq()
    with pytest.raises(GuestError, match="no capability grant"):
        alice.call("a", "delete_grant", entry)
    with pytest.raises(GuestError, match="no capability grant"):
        alice.call(
            "a",
            "update_grant",
            {
                "original_action": entry,
                "grant": {"tag": "x", "access": "Unrestricted", "functions": "All"},
            },
        )
    # and plain `update` may not rewrite a grant into something else
    g = make_grant(alice, "Unrestricted", listed(("a", "echo")))
    with pytest.raises(GuestError, match="update_cap_grant"):
        alice.call("a", "update_entry", {"original": g, "value": "hijacked"})
    assert alice.head_seq() == seq + 1  # only the grant was written


def test_a_grant_with_a_short_secret_is_refused_by_the_host(alice: Any) -> None:
    seq = alice.head_seq()
    grant = {"tag": "x", "access": {"Transferable": {"secret": b"short"}}, "functions": "All"}
    with pytest.raises(GuestError, match="64-byte secret"):
        alice.call("a", "make_grant", grant)
    assert alice.head_seq() == seq


# -- claims -------------------------------------------------------------------------------


def test_cap_claims_and_their_filters(alice: Any, node: Any) -> None:
    bob = node.conductor.generate_agent()
    carol = node.conductor.generate_agent()
    s = [bytes(alice.call("a", "new_secret")) for _ in range(3)]
    claims = [
        {"tag": "blog", "grantor": bob.raw, "secret": s[0]},
        {"tag": "chat", "grantor": bob.raw, "secret": s[1]},
        {"tag": "blog", "grantor": carol.raw, "secret": s[2]},
    ]
    hashes = [bytes(alice.call("a", "make_claim", c)) for c in claims]
    for h in hashes:
        assert alice.call("a", "get_record", h)["action"]["entry_type"] == "CapClaim"

    def listing(**flt: Any) -> list[tuple[bytes, dict[str, Any]]]:
        return [(r["action_hash"], r["claim"]) for r in alice.call("b", "list_claims", flt)]

    assert listing() == list(zip(hashes, claims))
    assert listing(grantor=bob.raw) == [(hashes[0], claims[0]), (hashes[1], claims[1])]
    assert listing(tag="blog") == [(hashes[0], claims[0]), (hashes[2], claims[2])]
    assert listing(grantor=bob.raw, tag="blog") == [(hashes[0], claims[0])]
    assert listing(grantor=carol.raw, tag="chat") == []
    assert listing(tag="nothing") == []
    assert listing(grantor=alice.agent.raw) == []
    # Claims are no grants: they authorize nothing on the claimant's own cell.
    assert not allowed(alice, bob, "a", "echo", s[0])


def test_a_claim_needs_a_full_secret(alice: Any, node: Any) -> None:
    bob = node.conductor.generate_agent()
    with pytest.raises(GuestError):
        alice.call("a", "make_claim", {"tag": "t", "grantor": bob.raw, "secret": b"short"})


# -- the rule, end to end ---------------------------------------------------------------------


def test_denied_calls_run_no_guest_code(node: Any, probe_bundle: bytes) -> None:
    target = node.install(probe_bundle, "never-called")
    stranger = node.conductor.generate_agent()
    got: list[Any] = []
    node.conductor.add_signal_listener(got.append)
    for fn, payload in [("create_entry", {"value": "x"}), ("signal", "x"), ("echo", "x")]:
        with pytest.raises(Unauthorized) as info:
            target.call("a", fn, payload, provenance=stranger)
        assert f"a.{fn}" in info.value.message
    # The denied functions never ran: no entry, no signal. Only the cell's own init ran
    # (once, at the first denial), so grants its init writes could have counted.
    assert target.action_types() == ["Dna", "AgentValidationPkg", "Create", "InitZomesComplete"]
    assert got == []


def test_a_call_to_an_unknown_function_is_not_found_not_unauthorized(alice: Any, node: Any) -> None:
    stranger = node.conductor.generate_agent()
    with pytest.raises(ZomeFunctionNotFound):
        alice.call("a", "no_such_fn", provenance=stranger)
    with pytest.raises(ZomeFunctionNotFound):
        alice.call("zz", "echo", "x", provenance=stranger)


SAMPLE_ACCESS = ("unrestricted", "transferable", "assigned")


def _sample() -> list[tuple[str, str, str, str, str]]:
    """Every (access, secret, caller) for a listed fn of a live grant; plus, per access kind,
    the unlisted fn, All, and the updated and deleted states with the access that works."""
    cases = [
        (access, secret, caller, "listed", "live")
        for access, secret, caller in itertools.product(
            SAMPLE_ACCESS, ("right", "wrong", "missing"), ("assignee", "other")
        )
    ]
    working = {"unrestricted": "missing", "transferable": "right", "assigned": "right"}
    for access in SAMPLE_ACCESS:
        s = working[access]
        cases += [
            (access, s, "assignee", "unlisted", "live"),
            (access, s, "assignee", "all", "live"),
            (access, s, "other", "all", "live"),
            (access, s, "assignee", "listed", "updated"),
            (access, s, "assignee", "all", "deleted"),
        ]
    return cases


def _expected(access: str, secret: str, caller: str, functions: str, state: str) -> bool:
    if state != "live" or functions == "unlisted":
        return False
    if access == "unrestricted":
        return secret == "missing"
    if access == "transferable":
        return secret == "right"
    return secret == "right" and caller == "assignee"


def test_capability_matrix_sample_through_the_conductor(alice: Any, node: Any) -> None:
    assignee = node.conductor.generate_agent()
    other = node.conductor.generate_agent()
    mismatches = []
    cases = _sample()
    assert len(cases) == 33
    for access, secret_case, caller, functions, state in cases:
        secret = bytes(alice.call("a", "new_secret"))
        access_wire = {
            "unrestricted": "Unrestricted",
            "transferable": transferable(secret),
            "assigned": assigned(secret, assignee),
        }[access]
        funcs = "All" if functions == "all" else listed(("a", "echo"))
        h = make_grant(alice, access_wire, funcs, tag=f"{access}-{functions}-{state}")
        if state == "updated":
            replacement_secret = bytes(alice.call("a", "new_secret"))
            replacement = {
                "tag": "replacement",
                "access": "Unrestricted"
                if access == "unrestricted"
                else transferable(replacement_secret),
                "functions": listed(("a", "now")),
            }
            alice.call("a", "update_grant", {"original_action": h, "grant": replacement})
        elif state == "deleted":
            alice.call("a", "delete_grant", h)

        presented = {
            "right": secret if access != "unrestricted" else bytes(64),
            "wrong": bytes(alice.call("a", "new_secret")),
            "missing": None,
        }[secret_case]
        who = assignee if caller == "assignee" else other
        fn = "whoami" if functions == "unlisted" else "echo"
        got = allowed(alice, who, "a", fn, presented)
        want = _expected(access, secret_case, caller, functions, state)
        if got != want:
            mismatches.append((access, secret_case, caller, functions, state, got))
        for g in alice.call("a", "list_grants", False):  # clean slate for the next case
            alice.call("a", "delete_grant", g["action_hash"])
        assert alice.call("a", "list_grants", False) == []
    assert not mismatches, f"(access, secret, caller, functions, state, authorized): {mismatches}"


def test_several_grants_coexist(alice: Any, node: Any, secret: bytes) -> None:
    bob = node.conductor.generate_agent()
    carol = node.conductor.generate_agent()
    make_grant(alice, "Unrestricted", listed(("a", "now")))
    make_grant(alice, assigned(secret, bob), listed(("a", "echo")))
    assert allowed(alice, carol, "a", "now")
    assert allowed(alice, bob, "a", "echo", secret)
    assert not allowed(alice, carol, "a", "echo", secret)
    assert not allowed(alice, bob, "a", "now", secret)  # a secret never matches Unrestricted
    assert allowed(alice, bob, "a", "now")


# -- calls from another agent's zome on the same conductor ----------------------------------


def _call_alice(
    bob: Any, alice: Any, fn: str, payload: Any = None, secret: bytes | None = None
) -> Any:
    return bob.call(
        "a",
        "call_other",
        {
            "target": {"Cell": [alice.cell_id().dna_hash.raw, alice.agent.raw]},
            "zome_name": "a",
            "fn_name": fn,
            "cap_secret": secret,
            "payload": payload,
        },
    )


def test_cross_agent_call_without_a_grant_is_an_unauthorized_value(
    alice: Any, bob: Any, decode_response: Any
) -> None:
    before = alice.head_seq()
    variant, body = decode_response(_call_alice(bob, alice, "create_entry", {"value": "x"}))
    assert variant == "Unauthorized"
    assert body["zome_name"] == "a"
    assert body["fn_name"] == "create_entry"
    assert body["provenance"] == bob.agent.raw
    assert body["cell_id"] == [alice.cell_id().dna_hash.raw, alice.agent.raw]
    assert body["reason"]
    assert alice.head_seq() == before


def test_cross_agent_call_with_a_grant_succeeds_and_call_info_shows_the_grant(
    alice: Any, bob: Any, decode_response: Any
) -> None:
    secret = bytes(alice.call("a", "new_secret"))
    access = assigned(secret, bob.agent)
    functions = listed(("a", "caller"), ("a", "create_entry"))
    h = make_grant(alice, access, functions, tag="bob-may")

    variant, info = decode_response(_call_alice(bob, alice, "caller", secret=secret))
    assert variant == "Ok"
    assert info["provenance"] == bob.agent.raw
    assert info["zome_name"] == "a"
    assert info["function_name"] == "caller"
    assert info["cap_grant"] == {
        "RemoteAgent": {
            "action_hash": h,
            "tag": "bob-may",
            "access": access,
            "functions": functions,
        }
    }

    # A write through the grant lands on alice's chain, authored and signed by alice.
    variant, created = decode_response(
        _call_alice(bob, alice, "create_entry", {"value": "from bob"}, secret)
    )
    assert variant == "Ok"
    last = alice.records()[-1]
    assert last.action_hash.raw == created
    assert last.action.author == alice.agent
    assert unpack(last.entry.content) == "from bob"
    assert bob.records(entry_type=["probe"]) == []

    # The wrong secret, or no secret, is refused as a value; so is a function not granted.
    assert decode_response(_call_alice(bob, alice, "caller", secret=bytes(64)))[0] == "Unauthorized"
    assert decode_response(_call_alice(bob, alice, "caller"))[0] == "Unauthorized"
    assert decode_response(_call_alice(bob, alice, "whoami", secret=secret))[0] == "Unauthorized"


def test_call_remote_to_a_local_agent_uses_the_same_rule(
    alice: Any, bob: Any, decode_response: Any
) -> None:
    def remote(fn: str, secret: bytes | None = None) -> tuple[str, Any]:
        return decode_response(
            bob.call(
                "a",
                "call_remote_fn",
                {"agent": alice.agent.raw, "zome_name": "a", "fn_name": fn, "cap_secret": secret},
            )
        )

    assert remote("caller")[0] == "Unauthorized"
    secret = bytes(alice.call("a", "new_secret"))
    h = make_grant(alice, transferable(secret), listed(("a", "caller")))
    variant, info = remote("caller", secret)
    assert variant == "Ok"
    assert info["provenance"] == bob.agent.raw
    assert info["cap_grant"]["RemoteAgent"]["action_hash"] == h
    alice.call("a", "delete_grant", h)
    assert remote("caller", secret)[0] == "Unauthorized"


# -- remote signals need an unrestricted grant ------------------------------------------------


def test_remote_signal_to_a_local_agent_needs_an_unrestricted_grant(alice: Any, bob: Any) -> None:
    got: list[Any] = []
    alice.node.conductor.add_signal_listener(got.append)

    def send(value: Any) -> None:
        bob.call("a", "remote_signal", {"agents": [alice.agent.raw], "value": value})

    def received() -> list[Any]:
        values = [unpack(s.payload) for s in got if s.cell == alice.cell_id()]
        return [v for v in values if not (isinstance(v, dict) and "post_commit" in v)]

    send("without a grant")
    assert received() == []

    secret = bytes(alice.call("a", "new_secret"))
    make_grant(alice, transferable(secret), listed(("a", "recv_remote_signal")))
    send("with a secret-bearing grant")  # a signal presents no secret: not enough
    assert received() == []

    h = make_grant(alice, "Unrestricted", listed(("a", "recv_remote_signal")))
    send("with an unrestricted grant")
    assert received() == ["with an unrestricted grant"]

    alice.call("a", "delete_grant", h)
    send("after the revoke")
    assert received() == ["with an unrestricted grant"]
