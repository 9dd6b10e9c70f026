"""Signed zome call parameters: how client calls and remote calls prove who is calling.

The caller msgpack-encodes :class:`ZomeCallParams` (the field order of Holochain's
``ZomeCallParams``) and signs SHA-512 of those bytes with Ed25519, as ``@holochain/client``
does. The callee verifies the signature over the bytes it *received* and only then decodes
them, so nothing is ever re-encoded. The nonce window rejects expired calls, calls dated
too far ahead, and replays.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.signing

from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.errors import (
    AuthenticationFailed,
    BadNonce,
    DeserializeError,
    InvalidInput,
    NonceProblem,
    ZomehostError,
)

NONCE_LEN = 32
DEFAULT_EXPIRY_US = 5 * 60 * 1_000_000
MAX_FUTURE_US = 50 * 60 * 1_000_000


@dataclass(frozen=True, slots=True)
class ZomeCallParams:
    provenance: AgentPubKey
    cell_id: CellId
    zome_name: str
    fn_name: str
    cap_secret: bytes | None
    payload: bytes
    nonce: bytes
    expires_at: int

    def encode(self) -> bytes:
        return pack(
            {
                "cap_secret": self.cap_secret,
                "cell_id": self.cell_id.to_wire(),
                "zome_name": self.zome_name,
                "fn_name": self.fn_name,
                "provenance": self.provenance.raw,
                "payload": self.payload,
                "nonce": self.nonce,
                "expires_at": self.expires_at,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> ZomeCallParams:
        try:
            doc: Any = unpack(data, what="zome call parameters")
            if not isinstance(doc, dict):
                raise InvalidInput("zome call parameters must be a map")
            nonce, payload, secret = doc["nonce"], doc["payload"], doc.get("cap_secret")
            if not isinstance(nonce, bytes) or len(nonce) != NONCE_LEN:
                raise InvalidInput(f"the nonce must be {NONCE_LEN} bytes")
            if not isinstance(payload, bytes):
                raise InvalidInput("the payload must be msgpack bytes")
            if secret is not None and not isinstance(secret, bytes):
                raise InvalidInput("cap_secret must be bytes")
            if not isinstance(doc["zome_name"], str) or not isinstance(doc["fn_name"], str):
                raise InvalidInput("zome_name and fn_name must be strings")
            return cls(
                provenance=AgentPubKey(bytes(doc["provenance"])),
                cell_id=CellId.from_wire(doc["cell_id"]),
                zome_name=doc["zome_name"],
                fn_name=doc["fn_name"],
                cap_secret=secret,
                payload=payload,
                nonce=nonce,
                expires_at=int(doc["expires_at"]),
            )
        except (KeyError, TypeError, ValueError):
            raise DeserializeError("zome call parameters are missing fields") from None


@dataclass(frozen=True, slots=True)
class ZomeCall:
    """A call into a cell after authentication: who calls what, with which secret.

    ``depth`` counts the calls above this one across conductors (a remote call arrives with
    its caller's depth + 1), so a call tree is bounded wherever it runs; ``timeout_ms`` is
    what the caller may still wait (never more than the cell's own limit).
    """

    cell_id: CellId
    zome_name: str
    fn_name: str
    payload: bytes  # msgpack bytes of the input
    provenance: AgentPubKey
    cap_secret: bytes | None = None
    depth: int = 0
    timeout_ms: int | None = None

    @classmethod
    def from_params(
        cls, params: ZomeCallParams, *, depth: int = 0, timeout_ms: int | None = None
    ) -> ZomeCall:
        """The call that authenticated ``params`` ask for (client and peer requests alike)."""
        return cls(
            params.cell_id,
            params.zome_name,
            params.fn_name,
            params.payload,
            params.provenance,
            params.cap_secret,
            depth,
            timeout_ms,
        )


def params_digest(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()


def sign_call(params: ZomeCallParams, key: nacl.signing.SigningKey) -> tuple[bytes, bytes]:
    """Encode and sign: returns (bytes, signature) as sent on the wire."""
    data = params.encode()
    return data, bytes(key.sign(params_digest(data)).signature)


def new_nonce() -> bytes:
    return os.urandom(NONCE_LEN)


def decode_call(data: bytes) -> ZomeCallParams:
    """Decode received call params; malformed ones fail authentication."""
    try:
        return ZomeCallParams.decode(data)
    except ZomehostError as exc:
        raise AuthenticationFailed(f"malformed signed call: {exc.message}") from None


def verify_call(data: bytes, signature: bytes) -> ZomeCallParams:
    """Decode the received bytes and check they were signed by their provenance."""
    params = decode_call(data)
    check_signature(params, data, signature)
    return params


def check_signature(params: ZomeCallParams, data: bytes, signature: bytes) -> None:
    """``data`` (what ``params`` were decoded from) was signed by ``params.provenance``."""
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise AuthenticationFailed("the signature must be 64 bytes")
    try:  # libsodium directly: no VerifyKey object per call
        nacl.bindings.crypto_sign_open(signature + params_digest(data), params.provenance.ed25519)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        raise AuthenticationFailed(f"bad signature for provenance {params.provenance}") from None


class NonceWindow:
    """Remembers nonces until they expire, so a signed call runs at most once.

    Not thread-safe: :class:`ReplayGuard` serialises access to its windows.
    """

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: OrderedDict[bytes, int] = OrderedDict()
        self.max_entries = max_entries

    def check(self, params: ZomeCallParams, now_us: int) -> None:
        if params.expires_at <= now_us:
            raise BadNonce(NonceProblem.EXPIRED, "the call has expired")
        if params.expires_at > now_us + MAX_FUTURE_US:
            raise BadNonce(NonceProblem.FUTURE, "the call expires too far in the future")
        self._prune(now_us)
        key = params.provenance.raw + params.nonce
        if key in self._seen:
            raise BadNonce(NonceProblem.DUPLICATE, "nonce already used: replayed call refused")
        if len(self._seen) >= self.max_entries:
            raise BadNonce(NonceProblem.WINDOW_FULL, "too many calls in flight: nonce window full")
        self._seen[key] = params.expires_at

    def _prune(self, now_us: int) -> None:
        # Entries are pruned lazily, oldest inserted first; expiries are close to insertion order.
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now_us:
                break
            del self._seen[key]


class ReplayGuard:
    """One nonce window per cell, shared by every channel a signed call can arrive on.

    The app interface and the peer protocol both check here, so a call seen on one cannot
    run again through the other before it expires; a flood at one cell fills only that
    cell's window. Thread-safe: calls are authenticated on worker threads.
    """

    def __init__(self, max_entries_per_cell: int = 1_000_000) -> None:
        self._windows: dict[bytes, NonceWindow] = {}
        self._lock = threading.Lock()
        self.max_entries_per_cell = max_entries_per_cell

    def check(self, params: ZomeCallParams, now_us: int) -> None:
        """Raise :class:`~zomehost.errors.BadNonce` for an expired, early or replayed call."""
        key = params.cell_id.key
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = NonceWindow(self.max_entries_per_cell)
            window.check(params, now_us)
