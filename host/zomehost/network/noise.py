"""The Noise Protocol Framework (revision 34) for ``25519_ChaChaPoly_BLAKE2b``, sans-I/O.

Only PyNaCl's primitives and :mod:`hashlib` are used: X25519 (``crypto_scalarmult``),
ChaCha20-Poly1305 IETF with the Noise nonce layout (4 zero bytes + 64-bit little-endian
counter), BLAKE2b-512, and HMAC/HKDF over it as the spec defines them. The handshake is driven
generically from pattern tokens, so every interactive, one-way and deferred pattern of the spec
works, with optional ``pskN`` modifiers. Nothing here touches a socket: callers pass bytes in
and get bytes out, as :mod:`zomehost.network.session` does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.utils
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib

from zomehost.network.errors import (
    DecryptError,
    HandshakeError,
    NonceExhaustedError,
    StateError,
    UnsupportedProtocolError,
)

DHLEN = 32
HASHLEN = 64
BLOCKLEN = 128
KEYLEN = 32
TAGLEN = 16
PSKLEN = 32
MAX_NONCE = 2**64 - 1
"""Reserved by the spec (used only by rekey): a cipher state refuses to use it."""
MAX_MESSAGE_LEN = 65535
"""The spec's limit on a handshake message; transport framing sets its own."""

SUITE = "25519_ChaChaPoly_BLAKE2b"


# --- primitives -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair; the private half stays out of ``repr``."""

    private: bytes = field(repr=False)
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private(bytes(nacl.utils.random(DHLEN)))

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        if len(private) != DHLEN:
            raise ValueError(f"X25519 private key must be {DHLEN} bytes")
        return cls(private, bytes(nacl.bindings.crypto_scalarmult_base(private)))


def dh(key_pair: KeyPair, public: bytes) -> bytes:
    """X25519; a low-order remote key (all-zero result) is refused, as the spec permits."""
    if len(public) != DHLEN:
        raise HandshakeError("bad X25519 public key length")
    try:
        return bytes(nacl.bindings.crypto_scalarmult(key_pair.private, public))
    except nacl.exceptions.CryptoError as exc:
        raise HandshakeError("invalid X25519 public key") from exc


def _nonce(n: int) -> bytes:
    return b"\x00\x00\x00\x00" + n.to_bytes(8, "little")


# ChaCha20-Poly1305 straight through libsodium (PyNaCl's own cffi module): its
# ``nacl.bindings`` wrappers re-check every argument and format three error messages per
# call, ~3.4 µs of a ~5.8 µs frame of 0.6 KiB; our arguments are checked where they are made
# (keys by ``initialize_key``, nonces by ``_nonce``, ``bytes`` everywhere).
def _encrypt(k: bytes, n: int, ad: bytes, plaintext: bytes) -> bytes:
    out = _ffi.new("unsigned char[]", len(plaintext) + TAGLEN)
    _lib.crypto_aead_chacha20poly1305_ietf_encrypt(
        out, _ffi.NULL, plaintext, len(plaintext), ad, len(ad), _ffi.NULL, _nonce(n), k
    )
    return bytes(_ffi.buffer(out))


def _decrypt(k: bytes, n: int, ad: bytes, ciphertext: bytes) -> bytes:
    if len(ciphertext) < TAGLEN:
        raise DecryptError(f"ciphertext of {len(ciphertext)} bytes is shorter than its tag")
    out = _ffi.new("unsigned char[]", len(ciphertext) - TAGLEN)
    failed = _lib.crypto_aead_chacha20poly1305_ietf_decrypt(
        out, _ffi.NULL, _ffi.NULL, ciphertext, len(ciphertext), ad, len(ad), _nonce(n), k
    )
    if failed:
        raise DecryptError("authentication failed")
    return bytes(_ffi.buffer(out))


def hash_(data: bytes) -> bytes:
    """BLAKE2b with a 64-byte digest (HASHLEN)."""
    return hashlib.blake2b(data, digest_size=HASHLEN).digest()


def hmac_hash(key: bytes, data: bytes) -> bytes:
    """HMAC-BLAKE2b (RFC 2104 with BLOCKLEN 128, HASHLEN 64)."""
    return hmac.new(key, data, hashlib.blake2b).digest()


def hkdf(chaining_key: bytes, ikm: bytes, num_outputs: int) -> tuple[bytes, ...]:
    """The spec's HKDF: two or three HASHLEN-byte outputs keyed by the chaining key."""
    if num_outputs not in (2, 3):
        raise ValueError("HKDF yields two or three outputs")
    temp_key = hmac_hash(chaining_key, ikm)
    outputs: list[bytes] = []
    previous = b""
    for i in range(1, num_outputs + 1):
        previous = hmac_hash(temp_key, previous + bytes([i]))
        outputs.append(previous)
    return tuple(outputs)


# --- CipherState ------------------------------------------------------------------------


class CipherState:
    """A key plus a 64-bit nonce counter; without a key it passes data through (spec 5.1)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._k: bytes | None = None
        self._n = 0
        if key is not None:
            self.initialize_key(key)

    def initialize_key(self, key: bytes | None) -> None:
        if key is not None and len(key) != KEYLEN:
            raise ValueError(f"cipher key must be {KEYLEN} bytes")
        self._k = key
        self._n = 0

    def has_key(self) -> bool:
        return self._k is not None

    @property
    def nonce(self) -> int:
        return self._n

    def set_nonce(self, nonce: int) -> None:
        """SetNonce from the spec; also how tests reach the exhaustion limit."""
        if not 0 <= nonce <= MAX_NONCE:
            raise ValueError("nonce out of range")
        self._n = nonce

    def _check_nonce(self) -> None:
        if self._n >= MAX_NONCE:
            raise NonceExhaustedError("nonce space exhausted; the key must not be used again")

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        if self._k is None:
            return plaintext
        self._check_nonce()
        ciphertext = _encrypt(self._k, self._n, ad, plaintext)
        self._n += 1
        return ciphertext

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        """Decrypt; on failure the nonce does not advance (the caller must give up anyway)."""
        if self._k is None:
            return ciphertext
        self._check_nonce()
        plaintext = _decrypt(self._k, self._n, ad, ciphertext)
        self._n += 1
        return plaintext

    def rekey(self) -> None:
        """Derive the next key from the current one (spec 4.2), keeping the nonce."""
        if self._k is None:
            raise StateError("no key to rekey")
        self._k = _encrypt(self._k, MAX_NONCE, b"", bytes(KEYLEN))[:KEYLEN]


# --- SymmetricState ---------------------------------------------------------------------


class SymmetricState:
    """Chaining key and handshake hash, mixing in everything the handshake exchanges."""

    def __init__(self, protocol_name: bytes) -> None:
        if len(protocol_name) <= HASHLEN:
            self._h = protocol_name.ljust(HASHLEN, b"\x00")
        else:
            self._h = hash_(protocol_name)
        self._ck = self._h
        self.cipher = CipherState()

    @property
    def handshake_hash(self) -> bytes:
        return self._h

    def mix_key(self, ikm: bytes) -> None:
        self._ck, temp_k = hkdf(self._ck, ikm, 2)
        self.cipher.initialize_key(temp_k[:KEYLEN])

    def mix_hash(self, data: bytes) -> None:
        self._h = hash_(self._h + data)

    def mix_key_and_hash(self, ikm: bytes) -> None:
        self._ck, temp_h, temp_k = hkdf(self._ck, ikm, 3)
        self.mix_hash(temp_h)
        self.cipher.initialize_key(temp_k[:KEYLEN])

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self._h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self._h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        temp_k1, temp_k2 = hkdf(self._ck, b"", 2)
        return CipherState(temp_k1[:KEYLEN]), CipherState(temp_k2[:KEYLEN])


# --- handshake patterns -----------------------------------------------------------------


@dataclass(frozen=True)
class HandshakePattern:
    """Pre-messages and messages as token tuples; even-indexed messages go initiator → responder."""

    name: str
    initiator_pre: tuple[str, ...]
    responder_pre: tuple[str, ...]
    messages: tuple[tuple[str, ...], ...]

    @property
    def one_way(self) -> bool:
        return len(self.messages) == 1

    @property
    def psk_count(self) -> int:
        return sum(msg.count("psk") for msg in self.messages)


def _p(pre_i: str, pre_r: str, *messages: str) -> tuple[tuple[str, ...], ...]:
    def toks(text: str) -> tuple[str, ...]:
        return tuple(t.strip() for t in text.split(",") if t.strip())

    return (toks(pre_i), toks(pre_r), *(toks(m) for m in messages))


# name: (initiator pre-message, responder pre-message, messages...) from spec sections 7.4-7.6
_PATTERNS: dict[str, tuple[tuple[str, ...], ...]] = {
    # one-way
    "N": _p("", "s", "e, es"),
    "K": _p("s", "s", "e, es, ss"),
    "X": _p("", "s", "e, es, s, ss"),
    # interactive, fundamental
    "NN": _p("", "", "e", "e, ee"),
    "NK": _p("", "s", "e, es", "e, ee"),
    "NX": _p("", "", "e", "e, ee, s, es"),
    "XN": _p("", "", "e", "e, ee", "s, se"),
    "XK": _p("", "s", "e, es", "e, ee", "s, se"),
    "XX": _p("", "", "e", "e, ee, s, es", "s, se"),
    "KN": _p("s", "", "e", "e, ee, se"),
    "KK": _p("s", "s", "e, es, ss", "e, ee, se"),
    "KX": _p("s", "", "e", "e, ee, se, s, es"),
    "IN": _p("", "", "e, s", "e, ee, se"),
    "IK": _p("", "s", "e, es, s, ss", "e, ee, se"),
    "IX": _p("", "", "e, s", "e, ee, se, s, es"),
    # interactive, deferred
    "NK1": _p("", "s", "e", "e, ee, es"),
    "NX1": _p("", "", "e", "e, ee, s", "es"),
    "X1N": _p("", "", "e", "e, ee", "s", "se"),
    "X1K": _p("", "s", "e, es", "e, ee", "s", "se"),
    "XK1": _p("", "s", "e", "e, ee, es", "s, se"),
    "X1K1": _p("", "s", "e", "e, ee, es", "s", "se"),
    "X1X": _p("", "", "e", "e, ee, s, es", "s", "se"),
    "XX1": _p("", "", "e", "e, ee, s", "es, s, se"),
    "X1X1": _p("", "", "e", "e, ee, s", "es, s", "se"),
    "K1N": _p("s", "", "e", "e, ee", "se"),
    "K1K": _p("s", "s", "e, es", "e, ee", "se"),
    "KK1": _p("s", "s", "e", "e, ee, se, es"),
    "K1K1": _p("s", "s", "e", "e, ee, es", "se"),
    "K1X": _p("s", "", "e", "e, ee, s, es", "se"),
    "KX1": _p("s", "", "e", "e, ee, se, s", "es"),
    "K1X1": _p("s", "", "e", "e, ee, s", "se, es"),
    "I1N": _p("", "", "e, s", "e, ee", "se"),
    "I1K": _p("", "s", "e, es, s", "e, ee", "se"),
    "IK1": _p("", "s", "e, s", "e, ee, se, es"),
    "I1K1": _p("", "s", "e, s", "e, ee, es", "se"),
    "I1X": _p("", "", "e, s", "e, ee, s, es", "se"),
    "IX1": _p("", "", "e, s", "e, ee, se, s", "es"),
    "I1X1": _p("", "", "e, s", "e, ee, s", "se, es"),
}

_PATTERN_NAME = re.compile(r"(?P<base>[A-Z0-9]+)(?P<mods>[a-z].*)?")
_PSK_MODIFIER = re.compile(r"psk(?P<n>[0-9]+)")


def handshake_pattern(name: str) -> HandshakePattern:
    """Look up a pattern such as ``XX`` or ``XXpsk3``; fallback and hfs are not provided."""
    match = _PATTERN_NAME.fullmatch(name)
    if match is None or match["base"] not in _PATTERNS:
        raise UnsupportedProtocolError(f"unknown handshake pattern {name!r}")
    pre_i, pre_r, *msgs = _PATTERNS[match["base"]]
    messages = [list(m) for m in msgs]
    modifiers = match["mods"].split("+") if match["mods"] else []
    for modifier in modifiers:
        psk = _PSK_MODIFIER.fullmatch(modifier)
        if psk is None:
            raise UnsupportedProtocolError(f"unsupported pattern modifier {modifier!r}")
        n = int(psk["n"])
        if n == 0:
            messages[0].insert(0, "psk")
        elif n <= len(messages):
            messages[n - 1].append("psk")
        else:
            raise UnsupportedProtocolError(f"{modifier} is past the last message of {name}")
    return HandshakePattern(name, pre_i, pre_r, tuple(tuple(m) for m in messages))


def parse_protocol_name(protocol_name: str) -> HandshakePattern:
    """``Noise_<pattern>_25519_ChaChaPoly_BLAKE2b`` → its pattern; other suites are refused."""
    prefix, _, rest = protocol_name.partition("_")
    pattern_name, _, suite = rest.partition("_")
    if prefix != "Noise" or suite != SUITE:
        raise UnsupportedProtocolError(f"unsupported Noise protocol {protocol_name!r}")
    return handshake_pattern(pattern_name)


# --- HandshakeState ---------------------------------------------------------------------


class HandshakeState:
    """One side of a handshake: feed it messages in turn, then ``split()`` for transport.

    Any failure (bad message, DH or AEAD error) leaves the state unusable, as the spec
    requires: every later call raises :class:`StateError`.
    """

    def __init__(
        self,
        protocol_name: str,
        *,
        initiator: bool,
        prologue: bytes = b"",
        s: KeyPair | None = None,
        e: KeyPair | None = None,
        rs: bytes | None = None,
        psks: Sequence[bytes] = (),
    ) -> None:
        """``e`` fixes the ephemeral key, which only test vectors should do."""
        self.pattern = parse_protocol_name(protocol_name)
        self.initiator = initiator
        self._s = s
        self._e = e
        self._e_used = False
        self._rs = rs
        self._re: bytes | None = None
        if rs is not None and len(rs) != DHLEN:
            raise ValueError("remote static key must be 32 bytes")
        if any(len(p) != PSKLEN for p in psks):
            raise ValueError(f"a PSK must be {PSKLEN} bytes")
        if len(psks) != self.pattern.psk_count:
            raise ValueError(f"{self.pattern.name} takes {self.pattern.psk_count} PSK(s)")
        self._psks = list(psks)
        self._psk_mode = self.pattern.psk_count > 0
        self._symmetric = SymmetricState(protocol_name.encode("ascii"))
        self._symmetric.mix_hash(prologue)
        self._step = 0
        self._failed = False
        self._payload_hash = self._symmetric.handshake_hash
        self._result: tuple[CipherState, CipherState] | None = None

        for owner_is_initiator, tokens in (
            (True, self.pattern.initiator_pre),
            (False, self.pattern.responder_pre),
        ):
            for token in tokens:
                if token != "s":
                    raise UnsupportedProtocolError("only 's' pre-messages are supported")
                key = self._local_static() if owner_is_initiator == initiator else self._rs
                if key is None:
                    side = "local" if owner_is_initiator == initiator else "remote"
                    raise ValueError(f"{self.pattern.name} needs the {side} static key up front")
                self._symmetric.mix_hash(key)

    # -- state --

    @property
    def complete(self) -> bool:
        return self._result is not None

    @property
    def is_my_turn(self) -> bool:
        """True when the next call must be ``write_message``."""
        return not self.complete and (self._step % 2 == 0) == self.initiator

    @property
    def handshake_hash(self) -> bytes:
        """``h``: after completion, a unique and secret-dependent name for the session."""
        return self._symmetric.handshake_hash

    @property
    def payload_hash(self) -> bytes:
        """``h`` right before the last payload was encrypted (or decrypted): its AD.

        Both sides see the same value, so a signature over it binds the transcript so far,
        including every key exchanged in that message.
        """
        return self._payload_hash

    @property
    def local_static(self) -> KeyPair | None:
        return self._s

    @property
    def remote_static(self) -> bytes | None:
        return self._rs

    @property
    def remote_ephemeral(self) -> bytes | None:
        return self._re

    def split(self) -> tuple[CipherState, CipherState]:
        """``(initiator → responder, responder → initiator)`` cipher states."""
        if self._result is None:
            raise StateError("handshake not complete")
        return self._result

    # -- messages --

    def write_message(self, payload: bytes = b"") -> bytes:
        return self.write_message_with(lambda _h: payload)

    def write_message_with(self, make_payload: Callable[[bytes], bytes]) -> bytes:
        """Write the next message; ``make_payload(payload_hash)`` supplies the payload.

        The callback lets the payload depend on the transcript up to this message, e.g. a
        signature binding a long-term identity to it.
        """
        self._check_usable()
        if not self.is_my_turn:
            raise StateError("not our turn to write")
        try:
            out = bytearray()
            for token in self.pattern.messages[self._step]:
                out += self._write_token(token)
            self._payload_hash = self._symmetric.handshake_hash
            out += self._symmetric.encrypt_and_hash(make_payload(self._payload_hash))
            if len(out) > MAX_MESSAGE_LEN:
                raise HandshakeError("handshake message over 65535 bytes")
        except BaseException:
            self._failed = True
            raise
        self._advance()
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        """Read the peer's next message and return its payload."""
        self._check_usable()
        if self.is_my_turn or self.complete:
            raise StateError("not our turn to read")
        try:
            if len(message) > MAX_MESSAGE_LEN:
                raise HandshakeError("handshake message over 65535 bytes")
            view = memoryview(message)
            for token in self.pattern.messages[self._step]:
                view = self._read_token(token, view)
            self._payload_hash = self._symmetric.handshake_hash
            payload = self._symmetric.decrypt_and_hash(bytes(view))
        except BaseException:
            self._failed = True
            raise
        self._advance()
        return payload

    # -- internals --

    def _check_usable(self) -> None:
        if self._failed:
            raise StateError("handshake already failed")
        if self.complete:
            raise StateError("handshake already complete")

    def _advance(self) -> None:
        self._step += 1
        if self._step == len(self.pattern.messages):
            self._result = self._symmetric.split()

    def _local_static(self) -> bytes | None:
        return None if self._s is None else self._s.public

    def _write_token(self, token: str) -> bytes:
        sym = self._symmetric
        if token == "e":
            if self._e_used:
                raise StateError("ephemeral key already sent")
            if self._e is None:
                self._e = KeyPair.generate()
            self._e_used = True
            sym.mix_hash(self._e.public)
            if self._psk_mode:
                sym.mix_key(self._e.public)
            return self._e.public
        if token == "s":
            if self._s is None:
                raise StateError("pattern sends a static key but none was given")
            return sym.encrypt_and_hash(self._s.public)
        self._token_without_data(token)
        return b""

    def _read_token(self, token: str, view: memoryview) -> memoryview:
        sym = self._symmetric
        if token == "e":
            if self._re is not None:
                raise HandshakeError("peer ephemeral key already received")
            if len(view) < DHLEN:
                raise HandshakeError("handshake message too short")
            self._re = bytes(view[:DHLEN])
            sym.mix_hash(self._re)
            if self._psk_mode:
                sym.mix_key(self._re)
            return view[DHLEN:]
        if token == "s":
            if self._rs is not None:
                raise HandshakeError("peer static key already known")
            size = DHLEN + TAGLEN if sym.cipher.has_key() else DHLEN
            if len(view) < size:
                raise HandshakeError("handshake message too short")
            self._rs = sym.decrypt_and_hash(bytes(view[:size]))
            return view[size:]
        self._token_without_data(token)
        return view

    def _token_without_data(self, token: str) -> None:
        """DH tokens and ``psk``: the same on the writing and the reading side."""
        if token == "psk":
            self._symmetric.mix_key_and_hash(self._psks.pop(0))
            return
        if token not in ("ee", "es", "se", "ss"):
            raise UnsupportedProtocolError(f"unknown token {token!r}")
        # The first letter names the initiator's key, the second the responder's.
        mine, theirs = (token[0], token[1]) if self.initiator else (token[1], token[0])
        local = self._e if mine == "e" else self._s
        remote = self._re if theirs == "e" else self._rs
        if local is None or remote is None:
            raise StateError(f"token {token!r} needs a key that is missing")
        self._symmetric.mix_key(dh(local, remote))


__all__ = [
    "DHLEN",
    "HASHLEN",
    "MAX_MESSAGE_LEN",
    "MAX_NONCE",
    "SUITE",
    "TAGLEN",
    "CipherState",
    "HandshakePattern",
    "HandshakeState",
    "KeyPair",
    "SymmetricState",
    "dh",
    "handshake_pattern",
    "hkdf",
    "parse_protocol_name",
]
