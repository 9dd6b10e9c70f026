"""The capability rule (`zomehost.core.capability.authorize`), as the issue states it.

The rule (docs/capabilities.md):
* caller == callee → authorized by the author capability, no grant needed;
* otherwise a *live* grant must cover (zome, fn) (``All`` or listed) and match the access:
  no secret → only ``Unrestricted``; a secret → only ``Transferable``/``Assigned`` grants
  whose secret is equal (an ``Unrestricted`` grant does NOT match a call presenting a secret,
  unlike Holochain); ``Assigned`` → the caller must also be an assignee.

Grant states modelled here:
* ``live``: the grant as created;
* ``updated``: ``update_cap_grant`` replaced it — the old grant is stored as revoked and a
  new grant exists (fresh secret, functions covering only an unrelated function), so the
  old grant's access must stop working at once;
* ``deleted``: ``delete_cap_grant`` revoked it — stored as revoked, nothing replaces it.
"""

from __future__ import annotations

import hmac
import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zomehost.core.capability import (
    SECRET_LEN,
    AccessKind,
    Authorization,
    CapAccess,
    CapClaim,
    GrantedFunctions,
    StoredGrant,
    ZomeCallCapGrant,
    authorize,
)
from zomehost.core.hash import ActionHash, AgentPubKey
from zomehost.errors import InvalidInput

CALLEE = AgentPubKey.from_core(b"\x01" * 32)
ASSIGNEE = AgentPubKey.from_core(b"\x02" * 32)
OTHER = AgentPubKey.from_core(b"\x03" * 32)
SECRET = b"S" * SECRET_LEN
WRONG_SECRET = b"W" * SECRET_LEN
ZOME, LISTED_FN, UNLISTED_FN = "z", "listed_fn", "unlisted_fn"
REPLACEMENT_ONLY = ("z", "replacement_only")


def _hash(n: int) -> ActionHash:
    return ActionHash.from_core(n.to_bytes(32, "big"))


def _access(kind: str, secret: bytes = SECRET) -> CapAccess:
    if kind == "unrestricted":
        return CapAccess(AccessKind.UNRESTRICTED)
    if kind == "transferable":
        return CapAccess(AccessKind.TRANSFERABLE, secret)
    return CapAccess(AccessKind.ASSIGNED, secret, frozenset({ASSIGNEE}))


def _grants(kind: str, functions: str, state: str) -> tuple[StoredGrant, list[StoredGrant]]:
    funcs = (
        GrantedFunctions(None)
        if functions == "all"
        else GrantedFunctions(frozenset({(ZOME, LISTED_FN)}))
    )
    grant = StoredGrant(_hash(1), ZomeCallCapGrant("under-test", _access(kind), funcs))
    if state == "live":
        return grant, [grant]
    revoked = StoredGrant(grant.action_hash, grant.grant, revoked=True)
    if state == "deleted":
        return grant, [revoked]
    replacement = StoredGrant(
        _hash(2),
        ZomeCallCapGrant(
            "replacement",
            _access(kind, secret=os.urandom(SECRET_LEN)),
            GrantedFunctions(frozenset({REPLACEMENT_ONLY})),
        ),
    )
    return grant, [revoked, replacement]


ACCESS = ("unrestricted", "transferable", "assigned")
SECRETS = ("right", "wrong", "missing")
CALLERS = ("assignee", "other")
FUNCTIONS = ("listed", "unlisted", "all")  # (granted functions, called fn) combinations
STATES = ("live", "updated", "deleted")

# The whole table: exactly these 10 of the 162 combinations are authorized.
AUTHORIZED = {
    # Unrestricted: only without a secret, anyone, covered functions, live grant.
    ("unrestricted", "missing", "assignee", "listed", "live"),
    ("unrestricted", "missing", "assignee", "all", "live"),
    ("unrestricted", "missing", "other", "listed", "live"),
    ("unrestricted", "missing", "other", "all", "live"),
    # Transferable: the right secret, anyone.
    ("transferable", "right", "assignee", "listed", "live"),
    ("transferable", "right", "assignee", "all", "live"),
    ("transferable", "right", "other", "listed", "live"),
    ("transferable", "right", "other", "all", "live"),
    # Assigned: the right secret and an assignee.
    ("assigned", "right", "assignee", "listed", "live"),
    ("assigned", "right", "assignee", "all", "live"),
}
MATRIX = list(itertools.product(ACCESS, SECRETS, CALLERS, FUNCTIONS, STATES))


def test_the_matrix_is_complete() -> None:
    assert len(MATRIX) == 3 * 3 * 2 * 3 * 3 == 162
    assert set(MATRIX) >= AUTHORIZED


@pytest.mark.parametrize(("access", "secret", "caller", "functions", "state"), MATRIX)
def test_capability_matrix(
    access: str, secret: str, caller: str, functions: str, state: str
) -> None:
    grant, stored = _grants(access, functions, state)
    presented = {"right": SECRET, "wrong": WRONG_SECRET, "missing": None}[secret]
    who = ASSIGNEE if caller == "assignee" else OTHER
    fn = UNLISTED_FN if functions == "unlisted" else LISTED_FN

    result = authorize(CALLEE, who, ZOME, fn, presented, stored)

    if (access, secret, caller, functions, state) in AUTHORIZED:
        assert isinstance(result, Authorization)
        assert result.grant == grant  # authorized through the grant under test
        assert result.provenance == who
        assert not result.is_author
        assert result.to_wire()["RemoteAgent"]["action_hash"] == grant.action_hash.raw
    else:
        assert result is None


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("secret", [SECRET, WRONG_SECRET, None])
def test_the_author_needs_no_grant(state: str, secret: bytes | None) -> None:
    _, stored = _grants("assigned", "listed", state)
    for grants in (stored, []):
        result = authorize(CALLEE, CALLEE, ZOME, UNLISTED_FN, secret, grants)
        assert result is not None and result.is_author
        assert result.to_wire() == {"ChainAuthor": CALLEE.raw}


def test_the_replacement_grant_of_an_update_works_with_its_own_secret() -> None:
    _, stored = _grants("transferable", "listed", "updated")
    replacement = stored[1]
    new_secret = replacement.grant.access.secret
    assert authorize(CALLEE, OTHER, *REPLACEMENT_ONLY, new_secret, stored) is not None
    assert authorize(CALLEE, OTHER, *REPLACEMENT_ONLY, SECRET, stored) is None
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, new_secret, stored) is None


def test_any_one_matching_grant_of_several_authorizes() -> None:
    listed = GrantedFunctions(frozenset({(ZOME, LISTED_FN)}))
    grants = [
        StoredGrant(_hash(1), ZomeCallCapGrant("dead", _access("transferable"), listed), True),
        StoredGrant(
            _hash(2),
            ZomeCallCapGrant(
                "other-fn", _access("transferable"), GrantedFunctions(frozenset({REPLACEMENT_ONLY}))
            ),
        ),
        StoredGrant(_hash(3), ZomeCallCapGrant("open", _access("unrestricted"), listed)),
        StoredGrant(_hash(4), ZomeCallCapGrant("assigned", _access("assigned"), listed)),
    ]
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, None, grants).grant == grants[2]  # type: ignore[union-attr]
    assert authorize(CALLEE, ASSIGNEE, ZOME, LISTED_FN, SECRET, grants).grant == grants[3]  # type: ignore[union-attr]
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, SECRET, grants) is None
    assert authorize(CALLEE, OTHER, ZOME, UNLISTED_FN, None, grants) is None


def test_assigned_to_several_agents() -> None:
    access = CapAccess(AccessKind.ASSIGNED, SECRET, frozenset({ASSIGNEE, OTHER}))
    grants = [StoredGrant(_hash(1), ZomeCallCapGrant("two", access, GrantedFunctions(None)))]
    stranger = AgentPubKey.from_core(b"\x09" * 32)
    assert authorize(CALLEE, ASSIGNEE, ZOME, LISTED_FN, SECRET, grants) is not None
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, SECRET, grants) is not None
    assert authorize(CALLEE, stranger, ZOME, LISTED_FN, SECRET, grants) is None


def test_a_secret_that_differs_only_in_its_last_byte_does_not_match() -> None:
    grants = [
        StoredGrant(
            _hash(1), ZomeCallCapGrant("t", _access("transferable"), GrantedFunctions(None))
        )
    ]
    near = SECRET[:-1] + b"T"
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, near, grants) is None
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, SECRET[:-1], grants) is None
    assert authorize(CALLEE, OTHER, ZOME, LISTED_FN, SECRET + b"x", grants) is None


# -- shapes and wire forms --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "secret", "assignees"),
    [
        (AccessKind.UNRESTRICTED, SECRET, frozenset()),
        (AccessKind.UNRESTRICTED, None, frozenset({OTHER})),
        (AccessKind.TRANSFERABLE, None, frozenset()),
        (AccessKind.TRANSFERABLE, b"short", frozenset()),
        (AccessKind.TRANSFERABLE, SECRET, frozenset({OTHER})),
        (AccessKind.ASSIGNED, None, frozenset({OTHER})),
        (AccessKind.ASSIGNED, SECRET + b"!", frozenset({OTHER})),
    ],
)
def test_malformed_access_is_refused(
    kind: AccessKind, secret: bytes | None, assignees: frozenset[AgentPubKey]
) -> None:
    with pytest.raises(InvalidInput):
        CapAccess(kind, secret, assignees)


@pytest.mark.parametrize(
    "wire",
    [
        {"tag": "u", "access": "Unrestricted", "functions": "All"},
        {
            "tag": "t",
            "access": {"Transferable": {"secret": SECRET}},
            "functions": {"Listed": [["z", "a"], ["z", "b"]]},
        },
        {
            "tag": "a",
            "access": {"Assigned": {"secret": SECRET, "assignees": [ASSIGNEE.raw, OTHER.raw]}},
            "functions": {"Listed": [["z", "a"]]},
        },
    ],
)
def test_grant_wire_round_trip(wire: dict[str, Any]) -> None:
    grant = ZomeCallCapGrant.from_wire(wire)
    assert ZomeCallCapGrant.from_wire(grant.to_wire()) == grant
    assert grant.to_wire()["tag"] == wire["tag"]


@pytest.mark.parametrize(
    "wire",
    [
        None,
        "All",
        {"tag": 5, "access": "Unrestricted", "functions": "All"},
        {"tag": "x", "access": "Everyone", "functions": "All"},
        {"tag": "x", "access": {"Transferable": {"secret": "text"}}, "functions": "All"},
        {"tag": "x", "access": {"Assigned": {"secret": SECRET}}, "functions": "All"},
        {"tag": "x", "access": "Unrestricted", "functions": {"Listed": [["z"]]}},
        {"tag": "x", "access": "Unrestricted", "functions": "Some"},
    ],
)
def test_malformed_grant_wire_is_refused(wire: Any) -> None:
    with pytest.raises(InvalidInput):
        ZomeCallCapGrant.from_wire(wire)


def test_claim_wire() -> None:
    claim = CapClaim("tag", OTHER, SECRET)
    assert CapClaim.from_wire(claim.to_wire()) == claim
    with pytest.raises(InvalidInput):
        CapClaim.from_wire({"tag": "t", "grantor": OTHER.raw, "secret": b"short"})


# -- property: random grants never authorize what the rule forbids ----------------------

AGENTS = [AgentPubKey.from_core(bytes([i]) * 32) for i in range(1, 5)]
SECRET_POOL = [bytes([i]) * SECRET_LEN for i in range(1, 4)]
FUNCTION_POOL = [("z", "f"), ("z", "g"), ("y", "f")]


@st.composite
def stored_grants(draw: st.DrawFn) -> StoredGrant:
    kind = draw(st.sampled_from(list(AccessKind)))
    if kind is AccessKind.UNRESTRICTED:
        access = CapAccess(kind)
    elif kind is AccessKind.TRANSFERABLE:
        access = CapAccess(kind, draw(st.sampled_from(SECRET_POOL)))
    else:
        access = CapAccess(
            kind,
            draw(st.sampled_from(SECRET_POOL)),
            frozenset(draw(st.lists(st.sampled_from(AGENTS), min_size=1, max_size=3))),
        )
    if draw(st.booleans()):
        functions = GrantedFunctions(None)
    else:
        functions = GrantedFunctions(
            frozenset(draw(st.lists(st.sampled_from(FUNCTION_POOL), max_size=3)))
        )
    return StoredGrant(
        _hash(draw(st.integers(0, 2**32))),
        ZomeCallCapGrant(draw(st.text(max_size=5)), access, functions),
        revoked=draw(st.booleans()),
    )


def oracle_allows(
    wire: dict[str, Any], revoked: bool, caller: bytes, zome: str, fn: str, secret: bytes | None
) -> bool:
    """The issue's rule, written against the wire form (independent of the host's classes)."""
    if revoked:
        return False
    functions = wire["functions"]
    if functions != "All" and [zome, fn] not in functions["Listed"]:
        return False
    access = wire["access"]
    if access == "Unrestricted":
        return secret is None
    if secret is None:
        return False
    ((kind, body),) = access.items()
    if not hmac.compare_digest(body["secret"], secret):
        return False
    if kind == "Transferable":
        return True
    assert kind == "Assigned"
    return caller in body["assignees"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    grants=st.lists(stored_grants(), max_size=6),
    caller=st.sampled_from(AGENTS),
    callee=st.sampled_from(AGENTS),
    target=st.sampled_from(FUNCTION_POOL),
    secret=st.one_of(st.none(), st.sampled_from(SECRET_POOL)),
)
def test_random_grants_never_authorize_what_the_rule_forbids(
    grants: list[StoredGrant],
    caller: AgentPubKey,
    callee: AgentPubKey,
    target: tuple[str, str],
    secret: bytes | None,
) -> None:
    zome, fn = target
    result = authorize(callee, caller, zome, fn, secret, grants)
    if caller == callee:
        assert result is not None and result.is_author
        return
    allowing = [
        g
        for g in grants
        if oracle_allows(g.grant.to_wire(), g.revoked, caller.raw, zome, fn, secret)
    ]
    if not allowing:
        assert result is None, f"authorized by {result} although no grant allows it"
        return
    assert result is not None, "denied although a live grant allows it"
    assert result.grant in allowing  # and through a grant that really allows it
    assert result.provenance == caller
