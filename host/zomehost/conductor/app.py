"""Installed apps and the cells they run, as the conductor keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.errors import ConductorError, InvalidInput, LimitExceeded, ZomehostError


class AppStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    AWAITING_MEMPROOFS = "awaiting_memproofs"
    """Installed with deferred membrane proofs: no genesis yet (``provide_memproofs``)."""


CLONE_ID_DELIMITER = "."
MAX_CLONES_PER_ROLE = 256
"""Clones one role may have at once (the manifest's ``clone_limit`` as zomehost reports it)."""
MAX_CLONE_NAME_CHARS = 256
MAX_NETWORK_SEED_CHARS = 1024
MAX_CLONE_PROPERTIES_BYTES = 64 * 1024
MAX_MEMBRANE_PROOF_BYTES = 64 * 1024
"""Bounds on what a clone's creator (a client or a zome) stores in the app's record."""


def check_clone_modifiers(
    network_seed: str | None, properties: Any, name: str | None, membrane_proof: bytes | None
) -> None:
    """A clone's modifiers within their bounds, before anything is written."""
    if network_seed is None and properties is None:
        raise InvalidInput("a clone needs a network seed or properties (else it is the role)")
    if network_seed is not None and len(network_seed) > MAX_NETWORK_SEED_CHARS:
        raise LimitExceeded(f"a network seed is at most {MAX_NETWORK_SEED_CHARS} characters")
    if name is not None and len(name) > MAX_CLONE_NAME_CHARS:
        raise LimitExceeded(f"a clone's name is at most {MAX_CLONE_NAME_CHARS} characters")
    if properties is not None and len(pack(properties)) > MAX_CLONE_PROPERTIES_BYTES:
        raise LimitExceeded(f"a clone's properties are at most {MAX_CLONE_PROPERTIES_BYTES} bytes")
    if membrane_proof is not None and len(membrane_proof) > MAX_MEMBRANE_PROOF_BYTES:
        raise LimitExceeded(f"a membrane proof is at most {MAX_MEMBRANE_PROOF_BYTES} bytes")


def properties_bytes(value: Any) -> bytes:
    """DNA properties as Holochain's API carries them: msgpack bytes, nil for none."""
    return pack(None if value in (None, {}) else value)


@dataclass(frozen=True, slots=True)
class CloneCell:
    """A role's DNA run again with other modifiers: a cell of its own for the app's agent.

    ``clone_id`` is ``<role>.<index>``; indexes are never reused within an app.
    """

    clone_id: str
    role: str
    dna_hash: DnaHash
    original_dna_hash: DnaHash
    name: str
    network_seed: str
    properties: Any
    enabled: bool = True

    def cloned_cell(self, agent: AgentPubKey) -> dict[str, Any]:
        """Holochain's ``ClonedCell``: what the conductor API and the zome ABI answer."""
        return {
            "cell_id": CellId(self.dna_hash, agent).to_wire(),
            "clone_id": self.clone_id,
            "original_dna_hash": self.original_dna_hash.raw,
            "dna_modifiers": {
                "network_seed": self.network_seed,
                "properties": properties_bytes(self.properties),
            },
            "name": self.name,
            "enabled": self.enabled,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "clone_id": self.clone_id,
            "role": self.role,
            "dna_hash": self.dna_hash.raw,
            "original_dna_hash": self.original_dna_hash.raw,
            "name": self.name,
            "network_seed": self.network_seed,
            "properties": self.properties,
            "enabled": self.enabled,
        }

    @classmethod
    def from_state(cls, doc: Any) -> CloneCell:
        if not isinstance(doc, dict):
            raise TypeError("a clone cell is a mapping")
        clone_id, role, name, seed = doc["clone_id"], doc["role"], doc["name"], doc["network_seed"]
        if not all(isinstance(v, str) for v in (clone_id, role, name, seed)):
            raise TypeError("clone cell names are strings")
        return cls(
            clone_id,
            role,
            DnaHash(doc["dna_hash"]),
            DnaHash(doc["original_dna_hash"]),
            name,
            seed,
            doc.get("properties"),
            bool(doc["enabled"]),
        )


@dataclass(frozen=True, slots=True)
class InstalledApp:
    app_id: str
    agent: AgentPubKey
    status: AppStatus
    roles: dict[str, DnaHash]
    manifest: dict[str, Any]
    installed_at: int
    linked_apps: frozenset[str] = frozenset()
    """Apps whose cells this app's zomes may call as their author (declared at install)."""
    clones: tuple[CloneCell, ...] = ()
    clones_created: int = 0
    """Clones ever created (the next clone's index: a deleted clone's id is not reused)."""
    agent_key_revoked: bool = False
    """``revoke_agent_key`` ran: this app's cells refuse every write from then on."""

    def cell_id(self, role: str) -> CellId:
        """The cell of a role, or of an enabled clone by its clone id (``role.N``)."""
        if role in self.roles:
            return CellId(self.roles[role], self.agent)
        clone = self.clone(role)
        if clone is None or not clone.enabled:
            raise KeyError(role)
        return CellId(clone.dna_hash, self.agent)

    def clone(self, ref: str | DnaHash) -> CloneCell | None:
        """A clone by clone id or by its DNA hash."""
        for c in self.clones:
            if c.clone_id == ref or c.dna_hash == ref:
                return c
        return None

    @property
    def provisioned_cell_ids(self) -> list[CellId]:
        return [CellId(d, self.agent) for d in self.roles.values()]

    @property
    def cell_ids(self) -> list[CellId]:
        """The cells that run while the app is enabled: provisioned and enabled clones."""
        return [cid for cid, _ in self.named_cells()]

    def named_cells(self) -> list[tuple[CellId, str]]:
        """:attr:`cell_ids`, each with its role name or clone id."""
        return [(CellId(d, self.agent), role) for role, d in self.roles.items()] + [
            (CellId(c.dna_hash, self.agent), c.clone_id) for c in self.clones if c.enabled
        ]

    def cell_name(self, cell_id: CellId) -> str | None:
        """The role name (or clone id) a cell of this app runs as, None if not this app's."""
        if cell_id.agent != self.agent:
            return None
        for role, dna_hash in self.roles.items():
            if dna_hash == cell_id.dna_hash:
                return role
        clone = self.clone(cell_id.dna_hash)
        return clone.clone_id if clone is not None and clone.enabled else None

    def to_state(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "agent": self.agent.raw,
            "status": self.status.value,
            "roles": {r: h.raw for r, h in self.roles.items()},
            "manifest": self.manifest,
            "installed_at": self.installed_at,
            "linked_apps": sorted(self.linked_apps),
            "clones": [c.to_state() for c in self.clones],
            "clones_created": self.clones_created,
            "agent_key_revoked": self.agent_key_revoked,
        }

    @classmethod
    def from_state(cls, doc: Any) -> InstalledApp:
        """An app as stored; a damaged record is a ConductorError, never a KeyError."""
        try:
            if not isinstance(doc, dict):
                raise TypeError("not a mapping")
            app_id, roles, manifest = doc["app_id"], doc["roles"], doc["manifest"]
            installed_at, linked = doc["installed_at"], doc.get("linked_apps", ())
            clones, created = doc.get("clones", ()), doc.get("clones_created", 0)
            if not isinstance(clones, list | tuple) or not isinstance(created, int):
                raise TypeError("clones is not a list")
            if not isinstance(app_id, str) or not isinstance(manifest, dict):
                raise TypeError("app_id or manifest of the wrong type")
            if not isinstance(roles, dict) or not all(isinstance(r, str) for r in roles):
                raise TypeError("roles is not a mapping of role names")
            if not isinstance(installed_at, int) or isinstance(installed_at, bool):
                raise TypeError("installed_at is not an integer")
            if not isinstance(linked, list | tuple) or not all(isinstance(a, str) for a in linked):
                raise TypeError("linked_apps is not a list of app ids")
            return cls(
                app_id=app_id,
                agent=AgentPubKey(doc["agent"]),
                status=AppStatus(doc["status"]),
                roles={r: DnaHash(h) for r, h in roles.items()},
                manifest=manifest,
                installed_at=installed_at,
                linked_apps=frozenset(linked),
                clones=tuple(CloneCell.from_state(c) for c in clones),
                clones_created=created,
                agent_key_revoked=bool(doc.get("agent_key_revoked", False)),
            )
        except (KeyError, TypeError, ValueError, ZomehostError) as exc:
            what = doc.get("app_id") if isinstance(doc, dict) else None
            detail = exc.message if isinstance(exc, ZomehostError) else str(exc)
            raise ConductorError(
                f"the stored record of app {what!r:.80} is damaged: {detail}"
            ) from None
