"""Encryption with an agent's own key, for zomes that must never see a secret key.

An agent's X25519 key pair is the birational image of its Ed25519 agent key (libsodium's
``crypto_sign_ed25519_*_to_curve25519``): anyone who knows an ``AgentPubKey`` can encrypt
to that agent, and only the keystore holding the agent's seed can decrypt, so there is no
second key to create, publish, back up or lose. ``crypto_box`` (X25519 + XSalsa20-Poly1305)
encrypts between two agents; ``secretbox`` encrypts for the agent itself with a key derived
from its X25519 secret and a context (the cell's DNA hash), so each cell has its own key.
Ciphertexts are ``nonce ‖ box``, with a fresh random nonce each time.
"""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret
import nacl.signing

from zomehost.core.hash import AgentPubKey
from zomehost.errors import InvalidInput

SECRETBOX_PERSON = b"zh-secretbox/1"  # BLAKE2b personalisation: keys for nothing else


def x25519_public(agent: AgentPubKey) -> bytes:
    """The X25519 public key of ``agent``; an agent key off the curve is refused."""
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(agent.core))
    except (nacl.exceptions.RuntimeError, ValueError):
        raise InvalidInput(f"agent key {agent} has no X25519 form") from None


class AgentCrypto:
    """The encrypting half of one agent's key; the keystore hands it out, never its bytes."""

    __slots__ = ("_secret",)

    def __init__(self, signing_key: nacl.signing.SigningKey) -> None:
        self._secret = nacl.public.PrivateKey(bytes(signing_key.to_curve25519_private_key()))

    def box_encrypt(self, recipient: AgentPubKey, data: bytes) -> bytes:
        box = nacl.public.Box(self._secret, nacl.public.PublicKey(x25519_public(recipient)))
        return bytes(box.encrypt(data))

    def box_decrypt(self, sender: AgentPubKey, data: bytes) -> bytes | None:
        """The plaintext, or None when ``data`` was not boxed by ``sender`` for us."""
        box = nacl.public.Box(self._secret, nacl.public.PublicKey(x25519_public(sender)))
        return _open(box, data)

    def _secretbox(self, context: bytes) -> nacl.secret.SecretBox:
        key = hashlib.blake2b(
            context, key=bytes(self._secret), person=SECRETBOX_PERSON, digest_size=32
        ).digest()
        return nacl.secret.SecretBox(key)

    def secretbox_encrypt(self, context: bytes, data: bytes) -> bytes:
        return bytes(self._secretbox(context).encrypt(data))

    def secretbox_decrypt(self, context: bytes, data: bytes) -> bytes | None:
        """The plaintext, or None when ``data`` was not sealed by us in ``context``."""
        return _open(self._secretbox(context), data)


_MIN_SEALED = nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES  # same for Box


def _open(box: nacl.public.Box | nacl.secret.SecretBox, data: bytes) -> bytes | None:
    if len(data) < _MIN_SEALED:
        return None
    try:
        return bytes(box.decrypt(data))
    except nacl.exceptions.CryptoError:
        return None
