"""The agent keystore's sealed format: Ed25519 seeds encrypted with a passphrase.

A passphrase is stretched with Argon2id (PyNaCl ``pwhash``) into a secretbox key. The
sealed document holds the salt, the cost parameters, a check value (so a wrong passphrase
is a clear error rather than garbage keys) and each agent's seed in its own secretbox.
Pure: bytes in, bytes out; the conductor reads and writes the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey
from zomehost.errors import BadPassphrase, DeserializeError, KeystoreError, NotFound

_CHECK = b"zomehost-keystore-v1"
FORMAT = "zomehost-keystore/1"


def _derive(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=ops, memlimit=mem
    )


@dataclass
class Keystore:
    """Unlocked keys in memory; :meth:`seal` turns them back into the at-rest form."""

    box_key: bytes
    salt: bytes
    ops: int
    mem: int
    keys: dict[AgentPubKey, nacl.signing.SigningKey] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        passphrase: str,
        *,
        ops: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        mem: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    ) -> Keystore:
        if not passphrase:
            raise KeystoreError("the passphrase must not be empty")
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        return cls(_derive(passphrase, salt, ops, mem), salt, ops, mem)

    @classmethod
    def unseal(cls, data: bytes, passphrase: str) -> Keystore:
        try:
            doc = unpack(data, what="keystore")
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise KeystoreError("the keystore file is not a zomehost keystore")
            salt, ops, mem = doc["salt"], int(doc["ops"]), int(doc["mem"])
            sealed_keys = doc["keys"]
        except (DeserializeError, KeyError, TypeError, ValueError):
            raise KeystoreError("the keystore file is damaged") from None
        box_key = _derive(passphrase, salt, ops, mem)
        box = nacl.secret.SecretBox(box_key)
        try:
            if box.decrypt(doc["check"]) != _CHECK:
                raise BadPassphrase("wrong passphrase for the keystore")
        except nacl.exceptions.CryptoError:
            raise BadPassphrase("wrong passphrase for the keystore") from None
        store = cls(box_key, salt, ops, mem)
        for sealed in sealed_keys:
            try:
                seed = box.decrypt(sealed)
            except nacl.exceptions.CryptoError:
                raise KeystoreError("a key in the keystore is damaged") from None
            sk = nacl.signing.SigningKey(seed)
            store.keys[AgentPubKey.from_core(bytes(sk.verify_key))] = sk
        return store

    def seal(self) -> bytes:
        box = nacl.secret.SecretBox(self.box_key)
        return pack(
            {
                "format": FORMAT,
                "salt": self.salt,
                "ops": self.ops,
                "mem": self.mem,
                "check": bytes(box.encrypt(_CHECK)),
                "keys": [bytes(box.encrypt(bytes(sk))) for sk in self.keys.values()],
            }
        )

    def generate(self) -> AgentPubKey:
        sk = nacl.signing.SigningKey.generate()
        agent: AgentPubKey = AgentPubKey.from_core(bytes(sk.verify_key))
        self.keys[agent] = sk
        return agent

    def sign(self, agent: AgentPubKey, data: bytes) -> bytes:
        sk = self.keys.get(agent)
        if sk is None:
            raise NotFound(f"no key for agent {agent} in this keystore")
        return bytes(sk.sign(data).signature)

    def signing_key(self, agent: AgentPubKey) -> nacl.signing.SigningKey:
        sk = self.keys.get(agent)
        if sk is None:
            raise NotFound(f"no key for agent {agent} in this keystore")
        return sk
