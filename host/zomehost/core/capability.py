"""Capability grants, claims and the one authorization rule for every incoming call.

Client calls, bridge calls to another agent's cell and remote calls all end here with the
same three facts: who calls, which (zome, fn), and which secret (if any) was presented.
Nothing from the transport reaches this module.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zomehost.core.hash import ActionHash, AgentPubKey
from zomehost.errors import InvalidInput

SECRET_LEN = 64


class AccessKind(StrEnum):
    UNRESTRICTED = "Unrestricted"
    TRANSFERABLE = "Transferable"
    ASSIGNED = "Assigned"


@dataclass(frozen=True, slots=True)
class CapAccess:
    kind: AccessKind
    secret: bytes | None = None
    assignees: frozenset[AgentPubKey] = frozenset()

    def __post_init__(self) -> None:
        if self.kind is AccessKind.UNRESTRICTED:
            if self.secret is not None or self.assignees:
                raise InvalidInput("an unrestricted grant has no secret and no assignees")
            return
        if self.secret is None or len(self.secret) != SECRET_LEN:
            raise InvalidInput(f"a {self.kind.value} grant needs a {SECRET_LEN}-byte secret")
        if self.kind is AccessKind.TRANSFERABLE and self.assignees:
            raise InvalidInput("a transferable grant has no assignees")
        if self.kind is AccessKind.ASSIGNED and not self.assignees:
            raise InvalidInput("an assigned grant needs at least one assignee")

    def to_wire(self) -> Any:
        if self.kind is AccessKind.UNRESTRICTED:
            return "Unrestricted"
        if self.kind is AccessKind.TRANSFERABLE:
            return {"Transferable": {"secret": self.secret}}
        return {
            "Assigned": {
                "secret": self.secret,
                "assignees": sorted(a.raw for a in self.assignees),
            }
        }

    @classmethod
    def from_wire(cls, value: Any) -> CapAccess:
        if value == "Unrestricted":
            return cls(AccessKind.UNRESTRICTED)
        if isinstance(value, dict) and len(value) == 1:
            ((tag, body),) = value.items()
            if tag == "Unrestricted":
                return cls(AccessKind.UNRESTRICTED)
            if tag in ("Transferable", "Assigned") and isinstance(body, dict):
                secret = body.get("secret")
                if not isinstance(secret, bytes):
                    raise InvalidInput("a grant secret is bytes")
                if tag == "Transferable":
                    return cls(AccessKind.TRANSFERABLE, secret)
                assignees = body.get("assignees")
                if not isinstance(assignees, (list, tuple)):
                    raise InvalidInput("assigned access needs a list of assignees")
                return cls(
                    AccessKind.ASSIGNED,
                    secret,
                    frozenset(AgentPubKey(bytes(a)) for a in assignees),
                )
        raise InvalidInput(f"unknown capability access: {value!r:.80}")


@dataclass(frozen=True, slots=True)
class GrantedFunctions:
    """``All`` functions of the cell, or a listed set of (zome, fn)."""

    listed: frozenset[tuple[str, str]] | None = None  # None means All

    @property
    def is_all(self) -> bool:
        return self.listed is None

    def covers(self, zome: str, fn: str) -> bool:
        return self.listed is None or (zome, fn) in self.listed

    def to_wire(self) -> Any:
        if self.listed is None:
            return "All"
        return {"Listed": [list(pair) for pair in sorted(self.listed)]}

    @classmethod
    def from_wire(cls, value: Any) -> GrantedFunctions:
        if value == "All" or (isinstance(value, dict) and "All" in value):
            return cls(None)
        if isinstance(value, dict) and isinstance(value.get("Listed"), (list, tuple)):
            pairs: set[tuple[str, str]] = set()
            for item in value["Listed"]:
                if (
                    not isinstance(item, (list, tuple))
                    or len(item) != 2
                    or not all(isinstance(s, str) for s in item)
                ):
                    raise InvalidInput("listed functions are [zome, fn] pairs of strings")
                pairs.add((item[0], item[1]))
            return cls(frozenset(pairs))
        raise InvalidInput(f"unknown granted functions: {value!r:.80}")


@dataclass(frozen=True, slots=True)
class ZomeCallCapGrant:
    tag: str
    access: CapAccess
    functions: GrantedFunctions

    def to_wire(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "access": self.access.to_wire(),
            "functions": self.functions.to_wire(),
        }

    @classmethod
    def from_wire(cls, value: Any) -> ZomeCallCapGrant:
        if not isinstance(value, dict) or not isinstance(value.get("tag", ""), str):
            raise InvalidInput("a grant is a map {tag, access, functions}")
        return cls(
            tag=value.get("tag", ""),
            access=CapAccess.from_wire(value.get("access")),
            functions=GrantedFunctions.from_wire(value.get("functions")),
        )


@dataclass(frozen=True, slots=True)
class CapClaim:
    tag: str
    grantor: AgentPubKey
    secret: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"tag": self.tag, "grantor": self.grantor.raw, "secret": self.secret}

    @classmethod
    def from_wire(cls, value: Any) -> CapClaim:
        if not isinstance(value, dict):
            raise InvalidInput("a claim is a map {tag, grantor, secret}")
        tag, grantor, secret = value.get("tag"), value.get("grantor"), value.get("secret")
        if not isinstance(tag, str) or not isinstance(grantor, bytes):
            raise InvalidInput("a claim needs tag: str and grantor: agent key")
        if not isinstance(secret, bytes) or len(secret) != SECRET_LEN:
            raise InvalidInput(f"a claim secret is {SECRET_LEN} bytes")
        return cls(tag, AgentPubKey(grantor), secret)


@dataclass(frozen=True, slots=True)
class StoredGrant:
    """A grant as it stands on the grantor's chain: live, or revoked/replaced."""

    action_hash: ActionHash
    grant: ZomeCallCapGrant
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Authorization:
    """Why a call was let in: the author capability, or one live grant."""

    provenance: AgentPubKey
    grant: StoredGrant | None = field(default=None)

    @property
    def is_author(self) -> bool:
        return self.grant is None

    def to_wire(self) -> Any:
        if self.grant is None:
            return {"ChainAuthor": self.provenance.raw}
        g = self.grant.grant
        return {
            "RemoteAgent": {
                "action_hash": self.grant.action_hash.raw,
                "tag": g.tag,
                "access": g.access.to_wire(),
                "functions": g.functions.to_wire(),
            }
        }


def grant_allows(
    grant: ZomeCallCapGrant,
    caller: AgentPubKey,
    zome: str,
    fn: str,
    secret: bytes | None,
) -> bool:
    """Does this one grant let ``caller`` call (zome, fn) presenting ``secret``?"""
    if not grant.functions.covers(zome, fn):
        return False
    access = grant.access
    if secret is None:
        return access.kind is AccessKind.UNRESTRICTED
    if access.kind is AccessKind.UNRESTRICTED:
        # A secret was presented: only secret-bearing grants are considered (Holochain's rule).
        return False
    assert access.secret is not None
    if not hmac.compare_digest(access.secret, secret):
        return False
    return access.kind is AccessKind.TRANSFERABLE or caller in access.assignees


def authorize(
    callee: AgentPubKey,
    caller: AgentPubKey,
    zome: str,
    fn: str,
    secret: bytes | None,
    grants: Iterable[StoredGrant],
    *,
    as_author: bool = True,
) -> Authorization | None:
    """The capability rule. Returns how the call is authorized, or ``None`` to deny it.

    ``as_author`` is false when the caller holds the callee's key but may not act as its
    author (a zome of another app sharing the agent key): then only a grant can allow it.
    """
    if caller == callee and as_author:
        return Authorization(caller)
    for stored in grants:
        if not stored.revoked and grant_allows(stored.grant, caller, zome, fn, secret):
            return Authorization(caller, stored)
    return None
