"""Actions, entries and records: the content of a source chain, and its hashing and signing rules.

An action's hash is BLAKE2b-256 of its canonical msgpack; the author signs exactly those
bytes (Ed25519). Records are stored with the canonical action bytes as signed, so
verification re-hashes what is on disk and never re-encodes. See docs/formats.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import nacl.exceptions
import nacl.signing

from zomehost.core.codec import canonical_key_order, pack, pack_canonical, unpack
from zomehost.core.hash import ActionHash, AgentPubKey, DnaHash, EntryHash
from zomehost.errors import DeserializeError, IntegrityError, InvalidInput


class ActionType(StrEnum):
    DNA = "Dna"
    AGENT_VALIDATION_PKG = "AgentValidationPkg"
    INIT_ZOMES_COMPLETE = "InitZomesComplete"
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


class SystemEntryType(StrEnum):
    """Entry types the host writes itself; every other name is an app entry type."""

    AGENT = "Agent"
    CAP_GRANT = "CapGrant"
    CAP_CLAIM = "CapClaim"


SYSTEM_ENTRY_TYPES = frozenset(t.value for t in SystemEntryType)


@dataclass(frozen=True, slots=True)
class Entry:
    """Entry content: a type name and the msgpack bytes of the app's value."""

    entry_type: str
    content: bytes
    # canonical bytes and hash, computed once: a write hashes, checks and stores an entry
    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _hash: EntryHash | None = field(default=None, init=False, repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {"entry_type": self.entry_type, "content": self.content}

    @classmethod
    def from_wire(cls, value: Any) -> Entry:
        if not isinstance(value, dict):
            raise InvalidInput("an entry is a map {entry_type, content}")
        et, content = value.get("entry_type"), value.get("content")
        if not isinstance(et, str) or not isinstance(content, bytes):
            raise InvalidInput("an entry needs entry_type: str and content: bin")
        return cls(et, content)

    def encode(self) -> bytes:
        encoded = self._encoded
        if encoded is None:
            if type(self.entry_type) is str and type(self.content) is bytes:
                # both scalars: canonical is the two keys in order ("content" sorts first)
                encoded = pack({"content": self.content, "entry_type": self.entry_type})
            else:
                encoded = pack_canonical(self.to_wire())
            object.__setattr__(self, "_encoded", encoded)
        return encoded

    @property
    def hash(self) -> EntryHash:
        h = self._hash
        if h is None:
            h = EntryHash.of_content(self.encode())
            object.__setattr__(self, "_hash", h)
        return h


# Fields each action type carries beyond the common header, with their wire types.
_HASH_FIELDS: dict[str, type] = {
    "dna_hash": DnaHash,
    "entry_hash": EntryHash,
    "original_action_address": ActionHash,
    "original_entry_address": EntryHash,
    "deletes_address": ActionHash,
    "deletes_entry_address": EntryHash,
}
_TYPE_FIELDS: dict[ActionType, tuple[str, ...]] = {
    ActionType.DNA: ("dna_hash",),
    ActionType.AGENT_VALIDATION_PKG: ("membrane_proof",),
    ActionType.INIT_ZOMES_COMPLETE: (),
    ActionType.CREATE: ("entry_type", "entry_hash"),
    ActionType.UPDATE: (
        "entry_type",
        "entry_hash",
        "original_action_address",
        "original_entry_address",
    ),
    ActionType.DELETE: ("deletes_address", "deletes_entry_address"),
}
_COMMON_FIELDS = ("type", "author", "timestamp", "action_seq", "prev_action")
# Each action type's wire keys in canonical order: with scalar values, a map built in this
# order packs to the canonical bytes without sorting per action.
_WIRE_ORDER = {t: canonical_key_order(_COMMON_FIELDS + f) for t, f in _TYPE_FIELDS.items()}
_SCALARS = frozenset({str, bytes, int, bool, type(None)})


@dataclass(frozen=True, slots=True)
class Action:
    """One signed step of a source chain (see docs/formats.md for each type's fields)."""

    type: ActionType
    author: AgentPubKey
    timestamp: int
    action_seq: int
    prev_action: ActionHash | None
    dna_hash: DnaHash | None = None
    membrane_proof: bytes | None = None
    entry_type: str | None = None
    entry_hash: EntryHash | None = None
    original_action_address: ActionHash | None = None
    original_entry_address: EntryHash | None = None
    deletes_address: ActionHash | None = None
    deletes_entry_address: EntryHash | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type.value,
            "author": self.author.raw,
            "timestamp": self.timestamp,
            "action_seq": self.action_seq,
            "prev_action": self.prev_action.raw if self.prev_action else None,
        }
        for name in _TYPE_FIELDS[self.type]:
            value = getattr(self, name)
            out[name] = value.raw if hasattr(value, "raw") else value
        return out

    @classmethod
    def from_wire(cls, value: Any) -> Action:
        if not isinstance(value, dict):
            raise InvalidInput("an action is a map")
        try:
            atype = ActionType(value["type"])
            kwargs: dict[str, Any] = {
                "type": atype,
                "author": AgentPubKey(value["author"]),
                "timestamp": int(value["timestamp"]),
                "action_seq": int(value["action_seq"]),
                "prev_action": ActionHash(value["prev_action"])
                if value.get("prev_action") is not None
                else None,
            }
            for name in _TYPE_FIELDS[atype]:
                raw = value.get(name)
                hash_cls = _HASH_FIELDS.get(name)
                kwargs[name] = hash_cls(raw) if hash_cls and raw is not None else raw
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInput(f"malformed action: {exc}") from None
        return cls(**kwargs)

    def encode(self) -> bytes:
        wire = self.to_wire()
        if _SCALARS.issuperset(map(type, wire.values())):
            return pack({k: wire[k] for k in _WIRE_ORDER[self.type]})
        return pack_canonical(wire)  # a membrane proof from the wire may be anything

    @property
    def has_entry(self) -> bool:
        return self.entry_hash is not None


def hash_action_bytes(action_bytes: bytes) -> ActionHash:
    return ActionHash.of_content(action_bytes)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The newest action of a chain: what a write builds on and a call sees as ``as_at``."""

    action: ActionHash
    seq: int
    timestamp: int

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action.raw, "seq": self.seq, "timestamp": self.timestamp}


@dataclass(frozen=True, slots=True)
class Record:
    """A signed action, its hash, and its entry if it has one and it is present."""

    action: Action
    action_hash: ActionHash
    signature: bytes
    entry: Entry | None
    action_bytes: bytes

    def to_wire(self) -> dict[str, Any]:
        return {
            "action_hash": self.action_hash.raw,
            "action": self.action.to_wire(),
            "signature": self.signature,
            "entry": self.entry.to_wire() if self.entry else None,
        }

    @classmethod
    def from_wire(cls, value: Any) -> Record:
        """Rebuild a record received from elsewhere, checking its hash and signature."""
        if not isinstance(value, dict):
            raise InvalidInput("a record is a map")
        action = Action.from_wire(value.get("action"))
        action_bytes = action.encode()
        record = cls(
            action=action,
            action_hash=hash_action_bytes(action_bytes),
            signature=bytes(value.get("signature") or b""),
            entry=Entry.from_wire(value["entry"]) if value.get("entry") else None,
            action_bytes=action_bytes,
        )
        if value.get("action_hash") != record.action_hash.raw:
            raise IntegrityError("record hash does not match its action")
        verify_record(record)
        return record


Signer = Callable[[bytes], bytes]


# The signature of a record not signed yet: a relaxed write is signed once its place on the
# chain is final (at commit), not once at the call and again when a rebase moves it.
UNSIGNED = b""


def sign_action(action: Action, sign: Signer | None, entry: Entry | None = None) -> Record:
    """Encode, hash and sign ``action`` with the author's key (``sign`` None: the record is
    left :data:`UNSIGNED`, see :func:`signed`)."""
    if entry is not None and action.entry_hash != entry.hash:
        raise InvalidInput("entry does not match the action's entry hash")
    action_bytes = action.encode()
    return Record(
        action=action,
        action_hash=hash_action_bytes(action_bytes),
        signature=UNSIGNED if sign is None else sign(action_bytes),
        entry=entry,
        action_bytes=action_bytes,
    )


def signed(record: Record, sign: Signer) -> Record:
    """``record`` with its signature (made now if it was left unsigned)."""
    if record.signature != UNSIGNED:
        return record
    signature = sign(record.action_bytes)  # (dataclasses.replace costs ~3 µs more)
    return Record(record.action, record.action_hash, signature, record.entry, record.action_bytes)


def verify_signature(agent: AgentPubKey, signature: bytes, data: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(agent.ed25519).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def verify_record(record: Record) -> None:
    """Check a record's hash, signature and entry; raise :class:`IntegrityError` if off."""
    if hash_action_bytes(record.action_bytes) != record.action_hash:
        raise IntegrityError(f"action {record.action_hash}: hash does not match its bytes")
    if not verify_signature(record.action.author, record.signature, record.action_bytes):
        raise IntegrityError(f"action {record.action_hash}: bad signature")
    if record.entry is not None and record.entry.hash != record.action.entry_hash:
        raise IntegrityError(f"action {record.action_hash}: entry does not match its hash")


def decode_action(action_bytes: bytes) -> Action:
    try:
        return Action.from_wire(unpack(action_bytes, what="action"))
    except DeserializeError as exc:
        raise IntegrityError(str(exc)) from None


def verify_links(records: list[Record]) -> None:
    """Check that ``records`` (in chain order from genesis) form one unbroken chain."""
    prev: Record | None = None
    for seq, record in enumerate(records):
        a = record.action
        if a.action_seq != seq:
            raise IntegrityError(f"record {seq}: action_seq is {a.action_seq}")
        if prev is None:
            if a.type is not ActionType.DNA or a.prev_action is not None:
                raise IntegrityError("the chain does not start with a Dna action")
        else:
            if a.prev_action != prev.action_hash:
                raise IntegrityError(f"record {seq}: prev_action does not link to record {seq - 1}")
            if a.author != prev.action.author:
                raise IntegrityError(f"record {seq}: authored by another agent")
            if a.timestamp < prev.action.timestamp:
                raise IntegrityError(f"record {seq}: timestamp goes backwards")
        prev = record
