"""Signing credentials for zome calls, as ``@holochain/client`` makes and uses them.

``authorize_signing_credentials`` (admin side) makes a fresh Ed25519 key pair, a 64-byte cap
secret, and writes an *assigned* grant for that key on the cell; every later call to the cell
is signed with the key (provenance = the signing key) and presents the secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import nacl.signing

from zomehost.core.capability import SECRET_LEN
from zomehost.core.hash import AgentPubKey, CellId, HashType, dht_location

SIGNING_KEY_TAG = "zome-call-signing-key"


def signing_key_hash(key: nacl.signing.SigningKey) -> AgentPubKey:
    """The JS client's form: agent prefix + public key + four zero location bytes."""
    return AgentPubKey(HashType.AGENT.value + bytes(key.verify_key) + b"\x00" * 4)


@dataclass(frozen=True)
class SigningCredentials:
    """What signs a zome call: a key, the provenance it signs as, and the secret presented."""

    key: nacl.signing.SigningKey
    provenance: AgentPubKey
    cap_secret: bytes | None

    @classmethod
    def generate(cls) -> SigningCredentials:
        key = nacl.signing.SigningKey.generate()
        return cls(key, signing_key_hash(key), os.urandom(SECRET_LEN))

    @classmethod
    def for_agent(
        cls, key: nacl.signing.SigningKey, cap_secret: bytes | None = None
    ) -> SigningCredentials:
        """Sign as an agent itself (its own key): the author capability, no grant needed."""
        pub = bytes(key.verify_key)
        return cls(key, AgentPubKey(HashType.AGENT.value + pub + dht_location(pub)), cap_secret)

    def to_doc(self) -> dict[str, Any]:
        return {
            "seed": bytes(self.key).hex(),
            "provenance": self.provenance.raw.hex(),
            "cap_secret": self.cap_secret.hex() if self.cap_secret else None,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SigningCredentials:
        secret = doc.get("cap_secret")
        return cls(
            nacl.signing.SigningKey(bytes.fromhex(doc["seed"])),
            AgentPubKey(bytes.fromhex(doc["provenance"])),
            bytes.fromhex(secret) if secret else None,
        )


# Like the JS client: credentials authorized in this process, by cell, used by every AppClient.
_CREDENTIALS: dict[bytes, SigningCredentials] = {}


def set_signing_credentials(cell_id: CellId, credentials: SigningCredentials) -> None:
    _CREDENTIALS[cell_id.key] = credentials


def get_signing_credentials(cell_id: CellId) -> SigningCredentials | None:
    return _CREDENTIALS.get(cell_id.key)
