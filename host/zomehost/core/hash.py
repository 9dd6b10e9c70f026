"""HoloHash: 3-byte type prefix + 32-byte core + 4-byte DHT location = 39 bytes.

The text form is ``u`` + base64url (no padding) of the 39 bytes, as in Holochain, so
agent keys read ``uhCAk…``, action hashes ``uhCkk…``, entry hashes ``uhCEk…``.
Like Holochain, decoding checks length and prefix but not the location bytes: clients such
as ``@holochain/client`` make signing keys with zero location bytes.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Self

from zomehost.errors import InvalidInput

HASH_LEN = 39
CORE_LEN = 32


class HashType(Enum):
    """The kinds of hash, each with its Holochain prefix."""

    AGENT = b"\x84\x20\x24"
    ENTRY = b"\x84\x21\x24"
    NET_ID = b"\x84\x22\x24"
    DHT_OP = b"\x84\x24\x24"
    ACTION = b"\x84\x29\x24"
    WASM = b"\x84\x2a\x24"
    DNA = b"\x84\x2d\x24"
    EXTERNAL = b"\x84\x2f\x24"


_BY_PREFIX = {t.value: t for t in HashType}


_FOUR_WORDS = struct.Struct("<4I")
_WORD = struct.Struct("<I")


def dht_location(core: bytes) -> bytes:
    """Four location bytes: BLAKE2b-128 of the core, folded by XOR into 4 bytes."""
    a, b, c, d = _FOUR_WORDS.unpack(hashlib.blake2b(core, digest_size=16).digest())
    return _WORD.pack(a ^ b ^ c ^ d)


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


@dataclass(frozen=True, slots=True)
class HoloHash:
    """A typed 39-byte hash; compare, hash and store it as bytes."""

    raw: bytes
    TYPE: ClassVar[HashType | None] = None

    def __post_init__(self) -> None:
        if len(self.raw) != HASH_LEN:
            raise InvalidInput(f"a hash is {HASH_LEN} bytes, got {len(self.raw)}")
        kind = _BY_PREFIX.get(self.raw[:3])
        if kind is None:
            raise InvalidInput(f"unknown hash prefix {self.raw[:3].hex()}")
        if self.TYPE is not None and kind is not self.TYPE:
            raise InvalidInput(f"expected a {self.TYPE.name} hash, got a {kind.name} hash")

    @property
    def hash_type(self) -> HashType:
        return _BY_PREFIX[self.raw[:3]]

    @property
    def core(self) -> bytes:
        return self.raw[3:35]

    @classmethod
    def from_core(cls, core: bytes, hash_type: HashType | None = None) -> Self:
        kind = hash_type or cls.TYPE
        if kind is None:
            raise InvalidInput("a hash type is needed")
        if len(core) != CORE_LEN:
            raise InvalidInput(f"a hash core is {CORE_LEN} bytes, got {len(core)}")
        return cls(kind.value + core + dht_location(core))

    @classmethod
    def of_content(cls, content: bytes) -> Self:
        """The hash of serialized content: BLAKE2b-256 core."""
        return cls.from_core(blake2b_256(content))

    @classmethod
    def from_text(cls, text: str) -> Self:
        if not text.startswith("u"):
            raise InvalidInput(f"not a hash (no 'u' prefix): {text[:60]!r}")
        try:
            raw = base64.urlsafe_b64decode(text[1:] + "=" * (-len(text[1:]) % 4))
        except Exception:
            raise InvalidInput(f"not a hash (bad base64): {text[:60]!r}") from None
        return cls(raw)

    def __str__(self) -> str:
        return "u" + base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


class AgentPubKey(HoloHash):
    TYPE = HashType.AGENT

    @property
    def ed25519(self) -> bytes:
        return self.core


class ActionHash(HoloHash):
    TYPE = HashType.ACTION


class EntryHash(HoloHash):
    TYPE = HashType.ENTRY


class DnaHash(HoloHash):
    TYPE = HashType.DNA


class WasmHash(HoloHash):
    TYPE = HashType.WASM


def any_hash(raw: bytes) -> HoloHash:
    """Decode 39 bytes into the typed hash class its prefix names."""
    base = HoloHash(raw)
    cls = _CLASSES.get(base.hash_type, HoloHash)
    return cls(raw)


_CLASSES: dict[HashType, type[HoloHash]] = {
    HashType.AGENT: AgentPubKey,
    HashType.ACTION: ActionHash,
    HashType.ENTRY: EntryHash,
    HashType.DNA: DnaHash,
    HashType.WASM: WasmHash,
}


@dataclass(frozen=True, slots=True)
class CellId:
    """One agent running one DNA: the unit that owns a source chain."""

    dna_hash: DnaHash
    agent: AgentPubKey

    def to_wire(self) -> list[bytes]:
        return [self.dna_hash.raw, self.agent.raw]

    @classmethod
    def from_wire(cls, value: object) -> CellId:
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise InvalidInput("a cell id is [dna_hash, agent_pub_key]")
        dna, agent = value
        if not isinstance(dna, bytes) or not isinstance(agent, bytes):
            raise InvalidInput("a cell id holds two 39-byte hashes")
        return cls(DnaHash(dna), AgentPubKey(agent))

    @property
    def key(self) -> bytes:
        """The 78-byte storage key of this cell."""
        return self.dna_hash.raw + self.agent.raw

    def __str__(self) -> str:
        return f"{self.dna_hash}:{self.agent}"
