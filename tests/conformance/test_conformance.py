"""Conformance: the Rust probe (zomes/probe) and the AssemblyScript probe (zomes/probe_as)
give the same results for the same calls.

Each scenario runs once per language (``test_scenario[<lang>-<scenario>]``) on that
language's conductor (see conftest.py), checks what must hold in any language, and records
a transcript of every call: its result or the error it raised, normalised only for values
that legitimately differ run to run (transcript.py: fresh hashes, timestamps, signatures,
secrets, random bytes, trap backtraces, deserializer wording). Then
``test_languages_agree[<scenario>]`` asserts that the two transcripts are equal.

Scenarios: info, entries, query, utilities, failures, grants, claims, calls, signals,
remote calls (``call_remote`` between two agents of one conductor, routed locally), and
in test_remote_process.py a remote call to another conductor process over the network.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zomehost.core.codec import unpack
from zomehost.core.hash import ActionHash, EntryHash
from zomehost.errors import ZomehostError

from .conftest import LANGS, PROPERTIES, SEED, World
from .transcript import Raised, Transcript

Scenario = Callable[[World, Transcript], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def ok(response: Any) -> Any:
    """The decoded value of a ``{"Ok": bytes}`` ZomeCallResponse."""
    assert isinstance(response, dict) and set(response) == {"Ok"}, response
    return unpack(response["Ok"])


def variant(response: Any) -> str:
    assert isinstance(response, dict) and len(response) == 1, response
    return str(next(iter(response)))


def head_seq(app: Any) -> int:
    return int(app.head_seq())


# ---------------------------------------------------------------------------------------
# Scenarios


@scenario
def info(w: World, t: Transcript) -> None:
    (alice,) = w.install("info", "alice")
    t.norm.name(alice.agent.raw, "agent:alice")
    t.norm.name(alice.cell_id().dna_hash.raw, "dna")

    me = t.call("whoami", alice, "a", "whoami")
    assert me["agent_initial_pubkey"] == alice.agent.raw == me["agent_latest_pubkey"]
    assert me["chain_head"]["seq"] == 3

    dna = t.call("dna", alice, "b", "dna")
    assert dna["hash"] == alice.cell_id().dna_hash.raw
    assert unpack(dna["properties"]) == PROPERTIES
    assert dna["network_seed"] == SEED
    assert dna["zome_names"] == ["a", "b"]

    for zome in ("a", "b"):
        z = t.call(f"zome {zome}", alice, zome, "zome")
        assert z["name"] == zome
        assert z["function_names"] == sorted(z["function_names"])

    caller = t.call("caller", alice, "b", "caller")
    assert caller["provenance"] == alice.agent.raw
    assert caller["cap_grant"] == {"ChainAuthor": alice.agent.raw}
    assert caller["function_name"] == "caller"

    for i, text in enumerate(["", "hello", "héllo ☃ 🎉 \u0000 nul", "x" * 70_000]):
        assert t.call(f"echo {i}", alice, "a", "echo", text) == text


@scenario
def entries(w: World, t: Transcript) -> None:
    alice, bob = w.install("entries", "alice", "bob")
    t.norm.name(alice.agent.raw, "agent:alice")
    t.norm.name(bob.agent.raw, "agent:bob")

    values: list[Any] = [
        "a string",
        {"n": 1, "s": "hi", "nested": [1, 2, {"x": None}], "neg": -5, "big": 2**40},
        {"z": 1, "a": 2},  # keys not in sorted order
        [True, False, None, b"\x00\x01\xff", 2**64 - 1, -(2**63)],
        {"float": 1.5},
    ]
    created = []
    for i, value in enumerate(values):
        h = t.call(f"create {i}", alice, "a", "create_entry", {"value": value})
        created.append(h)
        if isinstance(h, Raised):
            continue
        rec = t.call(f"get {i}", alice, "a", "get_record", h)
        assert rec["action_hash"] == h
        assert rec["action"]["type"] == "Create"
        assert rec["action"]["entry_type"] == "probe"
        assert unpack(rec["entry"]["content"]) == value
        by_entry = t.call(
            f"get by entry {i}", alice, "b", "get_record", rec["action"]["entry_hash"]
        )
        assert by_entry["action_hash"] == h

    typed = t.call("create typed", alice, "a", "create_entry", {"entry_type": "note", "value": 7})
    assert alice.call("a", "get_record", typed)["action"]["entry_type"] == "note"
    for reserved in ("CapGrant", "CapClaim", "Agent"):
        r = t.call(
            f"create {reserved}", alice, "a", "create_entry", {"entry_type": reserved, "value": 1}
        )
        assert isinstance(r, Raised) and "reserved" in r.message

    t.call("get unknown action", alice, "a", "get_record", ActionHash.of_content(b"none").raw)
    t.call("get unknown entry", alice, "a", "get_record", EntryHash.of_content(b"none").raw)
    bobs = bob.call("a", "create_entry", {"value": "bob's"})
    assert t.call("get other agent's", alice, "a", "get_record", bobs) is None

    first = created[0]
    u1 = t.call("update", alice, "a", "update_entry", {"original": first, "value": "v2"})
    u2 = t.call(
        "update of update",
        alice,
        "a",
        "update_entry",
        {"original": u1, "entry_type": "probe", "value": "v3"},
    )
    rec = t.call("get update", alice, "a", "get_record", u2)
    assert rec["action"]["original_action_address"] == u1
    d = t.call("delete", alice, "a", "delete_entry", created[1])
    t.call("get delete", alice, "a", "get_record", d)
    seq = head_seq(alice)
    assert isinstance(t.call("delete a delete", alice, "a", "delete_entry", d), Raised)
    assert isinstance(
        t.call("update a delete", alice, "a", "update_entry", {"original": d, "value": 0}), Raised
    )
    assert head_seq(alice) == seq

    # inputs of the wrong shape: a DeserializeError before any guest logic
    t.call("create without value", alice, "a", "create_entry", {})
    t.call("create with bad type", alice, "a", "create_entry", {"entry_type": 5, "value": 1})
    t.call("get with bad hash", alice, "a", "get_record", b"short")
    t.call("echo an int", alice, "a", "echo", 5)
    t.call("update without original", alice, "a", "update_entry", {"value": 1})
    assert head_seq(alice) == seq

    t.note(
        "chain",
        [
            (r.action.type.value, getattr(r.action, "entry_type", None), r.action.action_seq)
            for r in alice.records()
        ],
    )


@scenario
def query(w: World, t: Transcript) -> None:
    (alice,) = w.install("query", "alice")
    t.norm.name(alice.agent.raw, "agent:alice")
    c1 = alice.call("a", "create_entry", {"value": "first"})
    c2 = alice.call("a", "create_entry", {"entry_type": "note", "value": "second"})
    alice.call("a", "update_entry", {"original": c1, "value": "first, edited"})
    alice.call("a", "delete_entry", c2)
    grant = {"tag": "q", "access": "Unrestricted", "functions": "All"}
    alice.call("a", "make_grant", grant)

    filters: dict[str, Any] = {
        "everything": {},
        "with entries": {"include_entries": True},
        "descending": {"descending": True},
        "notes": {"entry_type": ["note"], "include_entries": True},
        "probe or note": {"entry_type": ["probe", "note"]},
        "updates and deletes": {"action_type": ["Update", "Delete"]},
        "grants": {"entry_type": ["CapGrant"], "include_entries": True},
        "range 2..6": {"sequence_range": [2, 6], "include_entries": True},
        "range, descending": {"sequence_range": [4, 8], "descending": True},
        "empty range": {"sequence_range": [5, 5]},
        "nil flags": {
            "sequence_range": None,
            "entry_type": None,
            "action_type": None,
            "include_entries": None,
            "descending": None,
        },
        "nothing matches": {"entry_type": ["nothing"]},
    }
    for label, flt in filters.items():
        records = t.call(f"query {label}", alice, "b", "query_chain", flt)
        if isinstance(records, Raised):
            continue
        seqs = [r["action"]["action_seq"] for r in records]
        assert seqs == sorted(seqs, reverse=bool(flt.get("descending"))), (label, seqs)
    assert len(alice.call("b", "query_chain", {})) == 9
    t.call("query with a bad filter", alice, "b", "query_chain", {"sequence_range": "all"})


@scenario
def utilities(w: World, t: Transcript) -> None:
    alice, bob = w.install("utilities", "alice", "bob")
    t.norm.name(alice.agent.raw, "agent:alice")
    t.norm.name(bob.agent.raw, "agent:bob")

    for n in (0, 1, 32, 65536):
        r = alice.call("a", "random", n)
        t.note(f"random {n}", {"type": type(r).__name__, "len": len(r)})
    assert alice.call("a", "random", 32) != alice.call("a", "random", 32)
    t.call("random too many", alice, "a", "random", 65537)

    before = time.time_ns() // 1000
    now = alice.call("a", "now")
    after = time.time_ns() // 1000
    assert isinstance(now, int) and before - 5_000_000 <= now <= after + 5_000_000
    t.note("now", "int µs, within 5 s of the test's clock")

    data = b"sign me \x00\xff"
    sig = t.call("sign", alice, "a", "sign_data", data)
    assert isinstance(sig, bytes) and len(sig) == 64
    assert t.call("sign again (Ed25519 is deterministic)", alice, "b", "sign_data", data) == sig
    for label, key, signature, signed in [
        ("verify", alice.agent.raw, sig, data),
        ("verify other data", alice.agent.raw, sig, data + b"!"),
        ("verify other key", bob.agent.raw, sig, data),
        ("verify a zero signature", alice.agent.raw, bytes(64), data),
    ]:
        t.call(label, alice, "a", "verify", {"key": key, "signature": signature, "data": signed})
    t.call(
        "verify, short signature",
        alice,
        "a",
        "verify",
        {"key": alice.agent.raw, "signature": b"short", "data": data},
    )
    t.call("log", alice, "a", "log", "a line for the log")
    mark = w.mark()
    t.call("signal", alice, "a", "signal", {"k": ["v", 1]})
    t.note("signals", [(s.zome_name, s.payload) for s in w.signals_since(mark)])


@scenario
def failures(w: World, t: Transcript) -> None:
    (alice,) = w.install("failures", "alice")
    t.norm.name(alice.agent.raw, "agent:alice")
    seq = head_seq(alice)
    mark = w.mark()
    r = t.call("create then fail", alice, "a", "create_then_fail", "x")
    assert isinstance(r, Raised) and r.kind == "GuestError" and "deliberate failure" in r.message
    r = t.call("create then panic", alice, "a", "create_then_panic", "x")
    assert isinstance(r, Raised) and r.kind == "Trap"
    r = t.call("bad pointer", alice, "a", "bad_pointer")
    assert isinstance(r, Raised) and r.kind == "InvalidGuestPointer"
    r = t.call("spin", alice, "a", "spin", None, timeout_ms=300)
    assert isinstance(r, Raised) and r.kind == "Timeout"
    r = t.call("no such function", alice, "a", "no_such_fn")
    assert isinstance(r, Raised) and r.kind == "ZomeFunctionNotFound"
    r = t.call("no such zome", alice, "zz", "echo", "x")
    assert isinstance(r, Raised)
    assert head_seq(alice) == seq, "a failed call wrote to the chain"
    assert w.signals_since(mark) == [], "a failed call emitted a signal"
    assert t.call("still serving", alice, "a", "echo", "after") == "after"


def _grant(access: Any, functions: Any, tag: str = "t") -> dict[str, Any]:
    return {"tag": tag, "access": access, "functions": functions}


def _listed(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"Listed": [list(p) for p in pairs]}


@scenario
def grants(w: World, t: Transcript) -> None:
    alice, bob, carol = w.install("grants", "alice", "bob", "carol")
    for name, app in (("alice", alice), ("bob", bob), ("carol", carol)):
        t.norm.name(app.agent.raw, f"agent:{name}")

    def allowed(label: str, who: Any, fn: str, secret: bytes | None = None) -> None:
        """Record whether the conductor lets ``who`` call alice's ``a.fn`` (and why not)."""
        payload = "hi" if fn == "echo" else None
        try:
            alice.call("a", fn, payload, provenance=who.agent, secret=secret)
        except ZomehostError as exc:
            t.note(label, {"allowed": False, "raised": type(exc).__name__, "message": exc.message})
        else:
            t.note(label, {"allowed": True})

    def listing(label: str, include_revoked: bool) -> list[Any]:
        """The grants, in tag order: the host lists them in action-hash order, which is
        different on every run."""
        got = alice.call("b", "list_grants", include_revoked)
        t.note(label, sorted(got, key=lambda g: g["grant"]["tag"]))
        return list(got)

    secret = t.call("new secret", alice, "a", "new_secret")
    assert isinstance(secret, bytes) and len(secret) == 64
    assert alice.call("a", "new_secret") != secret

    allowed("bob, no grant", bob, "echo")
    g1 = t.call(
        "grant unrestricted",
        alice,
        "a",
        "make_grant",
        _grant("Unrestricted", _listed(("a", "echo")), "open-echo"),
    )
    t.call("grant record", alice, "a", "get_record", g1)
    allowed("bob, unrestricted echo", bob, "echo")
    allowed("bob, unlisted fn", bob, "now")

    g2 = t.call(
        "grant transferable",
        alice,
        "a",
        "make_grant",
        _grant({"Transferable": {"secret": secret}}, "All", "with-secret"),
    )
    allowed("carol with the secret", carol, "now", secret)
    allowed("carol without a secret", carol, "now")
    allowed("carol, wrong secret", carol, "now", bytes(64))

    s2 = alice.call("a", "new_secret")
    g3 = t.call(
        "grant assigned",
        alice,
        "a",
        "make_grant",
        _grant(
            {"Assigned": {"secret": s2, "assignees": [bob.agent.raw]}},
            _listed(("a", "caller"), ("b", "caller")),
            "bob-only",
        ),
    )
    allowed("bob, assigned", bob, "caller", s2)
    allowed("carol, assigned to bob", carol, "caller", s2)
    info = t.call(
        "call info through a grant", alice, "b", "caller", None, provenance=bob.agent, secret=s2
    )
    assert info["cap_grant"]["RemoteAgent"]["action_hash"] == g3

    listing("list live", False)
    g4 = t.call(
        "update grant",
        alice,
        "a",
        "update_grant",
        {
            "original_action": g2,
            "grant": _grant({"Transferable": {"secret": s2}}, _listed(("a", "now")), "v2"),
        },
    )
    allowed("old secret after update", carol, "now", secret)
    allowed("new secret after update", carol, "now", s2)
    t.call("update record", alice, "a", "get_record", g4)
    d = t.call("delete grant", alice, "a", "delete_grant", g1)
    t.call("delete record", alice, "a", "get_record", d)
    allowed("bob after revoke", bob, "echo")
    live = listing("list live, after", False)
    everything = listing("list with revoked", True)
    assert {g["action_hash"] for g in live} == {g3, g4}
    assert {g["action_hash"] for g in everything} == {g1, g2, g3, g4}

    seq = head_seq(alice)
    entry = alice.call("a", "create_entry", {"value": "not a grant"})
    t.call("delete a non-grant", alice, "a", "delete_grant", entry)
    t.call(
        "update a non-grant",
        alice,
        "a",
        "update_grant",
        {"original_action": entry, "grant": _grant("Unrestricted", "All")},
    )
    t.call("update_entry on a grant", alice, "a", "update_entry", {"original": g3, "value": 1})
    t.call(
        "grant with a short secret",
        alice,
        "a",
        "make_grant",
        _grant({"Transferable": {"secret": b"short"}}, "All"),
    )
    t.call("grant of a bad shape", alice, "a", "make_grant", {"tag": "x", "access": "Nope"})
    # a grant with a field missing must be refused, never completed with defaults
    for label, partial in [
        ("no functions", {"tag": "x", "access": "Unrestricted"}),
        ("no access", {"tag": "x", "functions": "All"}),
        ("no tag", {"access": "Unrestricted", "functions": "All"}),
        (
            "transferable, no secret",
            {"tag": "x", "access": {"Transferable": {}}, "functions": "All"},
        ),
        (
            "assigned, no assignees",
            {"tag": "x", "access": {"Assigned": {"secret": s2}}, "functions": "All"},
        ),
        (
            "listed, not pairs",
            {"tag": "x", "access": "Unrestricted", "functions": {"Listed": [["a"]]}},
        ),
        ("nil functions", {"tag": "x", "access": "Unrestricted", "functions": None}),
        ("nil access", {"tag": "x", "access": None, "functions": "All"}),
        ("nil tag", {"tag": None, "access": "Unrestricted", "functions": "All"}),
        (
            "data on Unrestricted",
            {"tag": "x", "access": {"Unrestricted": {"secret": s2}}, "functions": "All"},
        ),
        ("data on All", {"tag": "x", "access": "Unrestricted", "functions": {"All": 1}}),
        ("no data on Listed", {"tag": "x", "access": "Unrestricted", "functions": "Listed"}),
        ("not a map", None),
    ]:
        t.call(f"grant with {label}", alice, "a", "make_grant", partial)
    t.call("update without a grant", alice, "a", "update_grant", {"original_action": g3})
    t.call(
        "update with a partial grant",
        alice,
        "a",
        "update_grant",
        {"original_action": g3, "grant": {"tag": "x", "access": "Unrestricted"}},
    )
    assert head_seq(alice) == seq + 1


@scenario
def claims(w: World, t: Transcript) -> None:
    alice, bob, carol = w.install("claims", "alice", "bob", "carol")
    for name, app in (("alice", alice), ("bob", bob), ("carol", carol)):
        t.norm.name(app.agent.raw, f"agent:{name}")
    secrets = [alice.call("a", "new_secret") for _ in range(3)]
    claims = [
        {"tag": "blog", "grantor": bob.agent.raw, "secret": secrets[0]},
        {"tag": "chat", "grantor": bob.agent.raw, "secret": secrets[1]},
        {"tag": "blog", "grantor": carol.agent.raw, "secret": secrets[2]},
    ]
    hashes = [t.call(f"claim {i}", alice, "a", "make_claim", c) for i, c in enumerate(claims)]
    rec = t.call("claim record", alice, "a", "get_record", hashes[0])
    assert rec["action"]["entry_type"] == "CapClaim"
    filters: dict[str, Any] = {
        "all (nil)": None,
        "all ({})": {},
        "grantor bob": {"grantor": bob.agent.raw},
        "tag blog": {"tag": "blog"},
        "bob's blog": {"grantor": bob.agent.raw, "tag": "blog"},
        "carol's chat": {"grantor": carol.agent.raw, "tag": "chat"},
        "explicit nils": {"grantor": None, "tag": None},
        "alice's own": {"grantor": alice.agent.raw},
    }
    for label, flt in filters.items():
        t.call(f"list {label}", alice, "b", "list_claims", flt)
    listed = alice.call("a", "list_claims", None)
    assert [c["action_hash"] for c in listed] == hashes
    # a claim is no grant: it authorizes nothing on the claimant's own cell
    r = t.call("claim as a grant", alice, "a", "echo", "x", provenance=bob.agent, secret=secrets[0])
    assert isinstance(r, Raised) and r.kind == "Unauthorized"
    t.call(
        "claim with a short secret",
        alice,
        "a",
        "make_claim",
        {"tag": "t", "grantor": bob.agent.raw, "secret": b"short"},
    )
    t.call("claim of a bad shape", alice, "a", "make_claim", {"tag": "t"})
    t.call(
        "claim without a tag",
        alice,
        "a",
        "make_claim",
        {"grantor": bob.agent.raw, "secret": secrets[0]},
    )
    t.call(
        "claim without a secret", alice, "a", "make_claim", {"tag": "t", "grantor": bob.agent.raw}
    )
    t.call("list claims, bad filter", alice, "a", "list_claims", {"grantor": "bob"})


@scenario
def calls(w: World, t: Transcript) -> None:
    alice, bob = w.install("calls", "alice", "bob")
    t.norm.name(alice.agent.raw, "agent:alice")
    t.norm.name(bob.agent.raw, "agent:bob")
    dna = alice.cell_id().dna_hash.raw
    t.norm.name(dna, "dna")

    def call_other(
        label: str,
        app: Any,
        target: Any,
        zome: str,
        fn: str,
        payload: Any = None,
        secret: bytes | None = None,
    ) -> Any:
        return t.call(
            label,
            app,
            "a",
            "call_other",
            {
                "target": target,
                "zome_name": zome,
                "fn_name": fn,
                "cap_secret": secret,
                "payload": payload,
            },
        )

    assert ok(call_other("local echo", alice, {"Local": None}, "b", "echo", "via b")) == "via b"
    assert ok(call_other("bare Local", alice, "Local", "b", "echo", "bare")) == "bare"
    call_other("role target", alice, {"Role": "main"}, "b", "whoami")
    info = ok(call_other("local caller", alice, {"Local": None}, "b", "caller"))
    assert info["provenance"] == alice.agent.raw and info["zome_name"] == "b"
    call_other("local, Err", alice, {"Local": None}, "b", "create_then_fail", 1)
    call_other("local, trap", alice, {"Local": None}, "b", "create_then_panic", 1)
    call_other("local, no such fn", alice, {"Local": None}, "b", "nope")
    call_other("local, no such zome", alice, {"Local": None}, "zz", "echo", "x")
    call_other("unknown role", alice, {"Role": "nope"}, "b", "echo", "x")
    call_other("bad target", alice, {"Elsewhere": None}, "b", "echo", "x")
    call_other("missing fields", alice, {"Local": None}, "b", "echo")  # payload nil: echo fails

    # a write in the caller and in the callee: one workspace, both or neither commit
    seq = head_seq(alice)
    r = t.call(
        "create and call ok",
        alice,
        "a",
        "create_and_call",
        {
            "value": "outer",
            "zome_name": "b",
            "fn_name": "create_entry",
            "payload": {"value": "inner"},
        },
    )
    assert variant(r) == "Ok"
    assert head_seq(alice) == seq + 2
    r = t.call(
        "create and call, callee fails",
        alice,
        "a",
        "create_and_call",
        {"value": "outer", "zome_name": "b", "fn_name": "create_then_fail", "payload": "inner"},
    )
    t.note("head after a failing callee", head_seq(alice) - seq)

    # another agent's cell on this conductor: the capability rule applies
    bob_cell = [dna, bob.agent.raw]
    assert (
        variant(call_other("bob's cell, no grant", alice, {"Cell": bob_cell}, "a", "echo", "x"))
        == "Unauthorized"
    )
    secret = bob.call("a", "new_secret")
    bob.call(
        "a",
        "make_grant",
        _grant(
            {"Transferable": {"secret": secret}}, _listed(("a", "echo"), ("a", "caller")), "calls"
        ),
    )
    assert (
        ok(call_other("bob's cell, granted", alice, {"Cell": bob_cell}, "a", "echo", "y", secret))
        == "y"
    )
    call_other("bob's cell, caller", alice, {"Cell": bob_cell}, "a", "caller", None, secret)
    call_other("bob's cell, not listed", alice, {"Cell": bob_cell}, "a", "whoami", None, secret)
    t.call("bad call input", alice, "a", "call_other", {"target": {"Local": None}})


@scenario
def signals(w: World, t: Transcript) -> None:
    alice, bob = w.install("signals", "alice", "bob")
    t.norm.name(alice.agent.raw, "agent:alice")
    t.norm.name(bob.agent.raw, "agent:bob")
    cells = {alice.cell_id(): "alice", bob.cell_id(): "bob"}

    def collect(label: str, mark: int, wait_for: int = 0) -> list[Any]:
        end = time.monotonic() + 5
        while len(w.signals_since(mark)) < wait_for and time.monotonic() < end:
            time.sleep(0.02)
        got = [(cells.get(s.cell, "?"), s.zome_name, s.payload) for s in w.signals_since(mark)]
        t.note(label, got)
        return got

    mark = w.mark()
    t.call("emit", alice, "a", "signal", {"hello": [1, 2, 3]})
    t.call("emit from b", alice, "b", "signal", "plain")
    collect("emitted", mark, 2)

    mark = w.mark()
    t.call("create", alice, "a", "create_entry", {"value": 1})
    collect("post_commit after a create", mark, 1)
    mark = w.mark()
    t.call("create, then fail", alice, "a", "create_then_fail", 1)
    collect("post_commit after a failed call", mark)
    mark = w.mark()
    t.call(
        "grant (a write too)",
        alice,
        "a",
        "make_grant",
        _grant("Unrestricted", _listed(("a", "recv_remote_signal")), "signals"),
    )
    collect("post_commit after a grant", mark, 1)

    # remote signals: run the recipient's recv_remote_signal only if it granted it
    # (alice did, above; bob did not)
    mark = w.mark()
    t.call(
        "remote signal to bob (no grant)",
        alice,
        "a",
        "remote_signal",
        {"agents": [bob.agent.raw], "value": "ungranted"},
    )
    time.sleep(0.2)
    assert collect("bob's: dropped", mark) == []
    mark = w.mark()
    t.call(
        "remote signal to alice (granted)",
        bob,
        "a",
        "remote_signal",
        {"agents": [alice.agent.raw], "value": {"from": "bob"}},
    )
    got = collect("alice's: delivered", mark, 1)
    assert got and got[0][0] == "alice" and unpack(got[0][2]) == {"from": "bob"}
    mark = w.mark()
    t.call(
        "remote signal to both",
        alice,
        "a",
        "remote_signal",
        {"agents": [bob.agent.raw, alice.agent.raw], "value": "both"},
    )
    collect("to both: alice's delivered", mark, 1)
    t.call("remote signal, bad input", bob, "a", "remote_signal", {"agents": "nobody"})


@scenario
def remote_calls(w: World, t: Transcript) -> None:
    alice, bob = w.install("remote", "alice", "bob")
    t.norm.name(alice.agent.raw, "agent:alice")
    t.norm.name(bob.agent.raw, "agent:bob")
    stranger = w.node.conductor.generate_agent()
    t.norm.name(stranger.raw, "agent:stranger")

    def remote(
        label: str,
        app: Any,
        agent: Any,
        fn: str,
        payload: Any = None,
        secret: bytes | None = None,
        zome: str = "a",
        **kw: Any,
    ) -> Any:
        return t.call(
            label,
            app,
            "a",
            "call_remote_fn",
            {
                "agent": agent.raw,
                "zome_name": zome,
                "fn_name": fn,
                "cap_secret": secret,
                "payload": payload,
                **kw,
            },
        )

    assert variant(remote("no grant", alice, bob.agent, "echo", "x")) == "Unauthorized"
    secret = bob.call("a", "new_secret")
    g = bob.call(
        "a",
        "make_grant",
        _grant(
            {"Transferable": {"secret": secret}},
            _listed(("a", "echo"), ("a", "caller"), ("a", "call_remote_fn"), ("a", "create_entry")),
            "remote",
        ),
    )
    assert ok(remote("echo", alice, bob.agent, "echo", "hi bob", secret)) == "hi bob"
    info = ok(remote("caller", alice, bob.agent, "caller", None, secret))
    assert info["provenance"] == alice.agent.raw
    assert info["cap_grant"]["RemoteAgent"]["action_hash"] == g
    remote("wrong secret", alice, bob.agent, "echo", "x", bytes(64))
    remote("not listed", alice, bob.agent, "whoami", None, secret)
    remote("with a timeout", alice, bob.agent, "echo", "t", secret, timeout_ms=5000)
    bob_seq = head_seq(bob)
    h = ok(
        remote(
            "write on bob's chain",
            alice,
            bob.agent,
            "create_entry",
            {"value": "from alice"},
            secret,
        )
    )
    assert head_seq(bob) == bob_seq + 1 and bob.records()[-1].action_hash.raw == h
    remote("callee Err", alice, bob.agent, "create_entry", {}, secret)
    remote("stranger (no cell here, no network)", alice, stranger, "echo", "x")

    # nested: alice -> bob -> alice
    alice.call("a", "make_grant", _grant("Unrestricted", _listed(("b", "echo")), "back"))
    inner = {"agent": alice.agent.raw, "zome_name": "b", "fn_name": "echo", "payload": "ping"}
    r = remote("nested", alice, bob.agent, "call_remote_fn", inner, secret)
    assert ok(ok(r)) == "ping"
    t.call("bad remote input", alice, "a", "call_remote_fn", {"agent": b"short"})


# ---------------------------------------------------------------------------------------
# The tests


DUMP = os.environ.get("CONFORMANCE_DUMP")  # a directory: write each transcript there as JSON


def run(w: World, name: str) -> dict[str, Any]:
    t = Transcript()
    try:
        SCENARIOS[name](w, t)
    finally:
        if DUMP:  # also the part of a scenario that failed
            path = Path(DUMP) / f"{name}-{w.lang}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(t.as_dict(), indent=1, ensure_ascii=False, default=repr))
    return t.as_dict()


def transcript_of(
    worlds: dict[str, World], transcripts: dict[str, dict[str, Any]], name: str, lang: str
) -> dict[str, Any]:
    """Run a scenario once per language (a failure is kept, and raised again)."""
    per_lang = transcripts.setdefault(name, {})
    if lang not in per_lang:
        try:
            per_lang[lang] = run(worlds[lang], name)
        except BaseException as exc:
            per_lang[lang] = exc
            raise
    got = per_lang[lang]
    if isinstance(got, BaseException):
        pytest.fail(f"the {lang} run of {name} failed: {type(got).__name__}: {got}")
    return got  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("lang", LANGS)
def test_scenario(
    lang: str, name: str, worlds: dict[str, World], transcripts: dict[str, dict[str, Any]]
) -> None:
    """The scenario holds in this language (and its transcript is kept for the comparison)."""
    transcript_of(worlds, transcripts, name, lang)


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    lines = []
    for key in list(dict.fromkeys([*a, *b])):
        if a.get(key, "<missing>") != b.get(key, "<missing>"):
            lines.append(
                f"  {key}:\n    rust:           {a.get(key, '<missing>')!r}\n"
                f"    assemblyscript: {b.get(key, '<missing>')!r}"
            )
    return "\n".join(lines)


# Steps where the probes are known to differ: (scenario, step) -> why. The comparison
# asserts that they still differ, so that fixing one probe makes this list shrink.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_languages_agree(
    name: str, worlds: dict[str, World], transcripts: dict[str, dict[str, Any]]
) -> None:
    """The normalised transcripts of the Rust and the AssemblyScript probe are equal."""
    rust = dict(transcript_of(worlds, transcripts, name, "rust"))
    assemblyscript = dict(transcript_of(worlds, transcripts, name, "assemblyscript"))
    assert list(rust) == list(assemblyscript)
    for (scenario_name, step), why in KNOWN_DIFFERENCES.items():
        if scenario_name == name:
            assert rust.pop(step) != assemblyscript.pop(step), (
                f"{name}/{step} is listed as a known difference but the probes now agree: "
                f"remove it from KNOWN_DIFFERENCES ({why})"
            )
    assert rust == assemblyscript, f"{name}: the probes differ:\n{_diff(rust, assemblyscript)}"
