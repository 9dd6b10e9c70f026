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

from zomehost.core.agent_crypto import AgentCrypto
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey
from zomehost.errors import BadPassphrase, DeserializeError, KeystoreError, NotFound

_CHECK = b"zomehost-keystore-v1"
FORMAT = "zomehost-keystore/1"
# Bounds on what a keystore file may ask for: its Argon2id costs are read from the file, so
# a damaged or hostile one could otherwise hang the conductor or allocate gigabytes before
# the passphrase is even checked. Keystores are only ever written within these bounds.
MIN_OPS, MAX_OPS = nacl.pwhash.argon2id.OPSLIMIT_MIN, 8
MIN_MEM, MAX_MEM = nacl.pwhash.argon2id.MEMLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MODERATE
MAX_KEYS = 100_000
MAX_FILE_BYTES = 16 * 1024 * 1024
_SEALED_LEN = nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES
_SEALED_KEY_LEN = _SEALED_LEN + 32  # an Ed25519 seed


def _cost(name: str, value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise KeystoreError(
            f"the keystore's Argon2id {name} is {value!r:.40}: it must be an integer "
            f"from {lo} to {hi}"
        )
    return value


def _costs(ops: object, mem: object) -> tuple[int, int]:
    return _cost("ops", ops, MIN_OPS, MAX_OPS), _cost("mem", mem, MIN_MEM, MAX_MEM)


def _fields(data: bytes) -> tuple[bytes, int, int, bytes, list[bytes]]:
    """The sealed document's fields, each of the right type and size."""
    if len(data) > MAX_FILE_BYTES:
        raise KeystoreError(f"the keystore is {len(data)} bytes, over {MAX_FILE_BYTES}")
    try:
        doc = unpack(data, what="keystore")
    except DeserializeError:
        raise KeystoreError("the keystore is damaged: not msgpack") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise KeystoreError("the file is not a zomehost keystore (format missing or unknown)")
    missing = [k for k in ("salt", "ops", "mem", "check", "keys") if k not in doc]
    if missing:
        raise KeystoreError(f"the keystore is damaged: no {', '.join(missing)}")
    ops, mem = _costs(doc["ops"], doc["mem"])
    salt, check, keys = doc["salt"], doc["check"], doc["keys"]
    if not isinstance(salt, bytes) or len(salt) != nacl.pwhash.argon2id.SALTBYTES:
        raise KeystoreError(f"the keystore's salt must be {nacl.pwhash.argon2id.SALTBYTES} bytes")
    if not isinstance(check, bytes) or len(check) != _SEALED_LEN + len(_CHECK):
        raise KeystoreError("the keystore's check value is damaged")
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise KeystoreError(f"the keystore's keys must be a list of at most {MAX_KEYS}")
    for i, sealed in enumerate(keys):
        if not isinstance(sealed, bytes) or len(sealed) != _SEALED_KEY_LEN:
            raise KeystoreError(f"key #{i} in the keystore is damaged")
    return salt, ops, mem, check, keys


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
        _costs(ops, mem)  # what unseal would refuse is never written
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        return cls(_derive(passphrase, salt, ops, mem), salt, ops, mem)

    @classmethod
    def unseal(cls, data: bytes, passphrase: str) -> Keystore:
        """Open a sealed keystore; every field is checked, and the Argon2id costs bounded,
        before any work or allocation they ask for."""
        salt, ops, mem, check, sealed_keys = _fields(data)
        box_key = _derive(passphrase, salt, ops, mem)
        box = nacl.secret.SecretBox(box_key)
        try:
            if box.decrypt(check) != _CHECK:
                raise BadPassphrase("wrong passphrase for the keystore")
        except nacl.exceptions.CryptoError:
            raise BadPassphrase("wrong passphrase for the keystore") from None
        store = cls(box_key, salt, ops, mem)
        for i, sealed in enumerate(sealed_keys):
            try:
                sk = nacl.signing.SigningKey(box.decrypt(sealed))
            except (nacl.exceptions.CryptoError, ValueError, TypeError):
                raise KeystoreError(f"key #{i} in the keystore is damaged") from None
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

    def crypto(self, agent: AgentPubKey) -> AgentCrypto:
        """Encryption with ``agent``'s key (core/agent_crypto.py); the seed stays here."""
        return AgentCrypto(self.signing_key(agent))

    def signing_key(self, agent: AgentPubKey) -> nacl.signing.SigningKey:
        sk = self.keys.get(agent)
        if sk is None:
            raise NotFound(f"no key for agent {agent} in this keystore")
        return sk
