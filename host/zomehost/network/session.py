"""The zomehost secure session: a Noise XX handshake bound to Ed25519 identities, then frames.

Sans-I/O in the manner of ``h11``: the session never touches a socket. The I/O layer feeds
whatever bytes arrive to :meth:`SecureSession.receive_data`, drains
:meth:`SecureSession.events`, and writes out :meth:`SecureSession.data_to_send` plus whatever
:meth:`SecureSession.send` returns. See ``docs/transport.md`` for the wire format.

Every message on the wire, handshake or transport, is a 4-byte big-endian length followed by
that many bytes. Any failure on the receiving side closes the session for good: each later
call raises :class:`SessionClosedError`, and the key material is dropped.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

import nacl.exceptions
import nacl.signing

from zomehost.network.errors import (
    DecryptError,
    FrameError,
    FrameTooLargeError,
    HandshakeError,
    IdentityError,
    SessionClosedError,
    StateError,
    TransportError,
    TruncatedFrameError,
)
from zomehost.network.noise import (
    MAX_MESSAGE_LEN,
    TAGLEN,
    CipherState,
    HandshakeState,
    KeyPair,
)

PROTOCOL_NAME = "Noise_XX_25519_ChaChaPoly_BLAKE2b"
PROLOGUE_LABEL = b"zomehost-transport/1"
"""Mixed into every handshake, so a session cannot be confused with another Noise protocol."""
INITIATOR_LABEL = b"zomehost-transport/1 initiator identity\x00"
RESPONDER_LABEL = b"zomehost-transport/1 responder identity\x00"
"""Signature domain separation: one label per role, never valid for anything else."""

LENGTH_PREFIX_LEN = 4
MAX_FRAME_SIZE = 1 << 20
"""Default limit on a frame's plaintext, 1 MiB; the ciphertext is 16 bytes longer."""
_MAX_WIRE_LEN = 2**32 - 1
IDENTITY_LEN = 32
SIGNATURE_LEN = 64
IDENTITY_PAYLOAD_LEN = IDENTITY_LEN + SIGNATURE_LEN


class SessionState(Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class HandshakeComplete:
    """The peer proved it holds ``remote_identity``; frames may flow both ways now."""

    remote_identity: bytes
    handshake_hash: bytes


@dataclass(frozen=True)
class Frame:
    """One decrypted application frame, in order, exactly once."""

    payload: bytes


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer ended the stream on a frame boundary after the handshake."""


Event = HandshakeComplete | Frame | ConnectionClosed


def signed_binding(label: bytes, handshake_hash: bytes, static_public: bytes) -> bytes:
    """The bytes an identity signs: role label ‖ handshake hash ‖ Noise static key."""
    return label + handshake_hash + static_public


class SecureSession:
    """One side of a zomehost peer session.

    The initiator's first handshake message is ready in :meth:`data_to_send` as soon as the
    session is built. ``expected_remote_identity``, if given, makes the handshake fail unless
    the peer proves that exact Ed25519 key; the initiator checks it before revealing its own
    identity. ``prologue`` (e.g. a network id) must match on both sides.
    """

    def __init__(
        self,
        identity: nacl.signing.SigningKey,
        *,
        initiator: bool,
        expected_remote_identity: bytes | None = None,
        prologue: bytes = b"",
        max_frame_size: int = MAX_FRAME_SIZE,
        static_key: KeyPair | None = None,
    ) -> None:
        if expected_remote_identity is not None and len(expected_remote_identity) != IDENTITY_LEN:
            raise ValueError("expected_remote_identity must be a 32-byte Ed25519 public key")
        if not 0 < max_frame_size <= _MAX_WIRE_LEN - TAGLEN:
            raise ValueError("max_frame_size out of range")
        self._identity = identity
        self._initiator = initiator
        self._expected = expected_remote_identity
        self._max_frame_size = max_frame_size
        self._static = static_key if static_key is not None else KeyPair.generate()
        self._handshake: HandshakeState | None = HandshakeState(
            PROTOCOL_NAME,
            initiator=initiator,
            prologue=PROLOGUE_LABEL + b"\x00" + prologue,
            s=self._static,
        )
        self._state = SessionState.HANDSHAKE
        self._error: TransportError | None = None
        self._send_cipher: CipherState | None = None
        self._recv_cipher: CipherState | None = None
        self._remote_identity: bytes | None = None
        self._handshake_hash: bytes | None = None
        self._inbox = bytearray()
        self._inbox_pos = 0
        self._eof = False
        self._outbox = bytearray()
        if initiator:
            self._outbox += _wire(self._handshake.write_message(b""))

    # -- inspection --

    @property
    def initiator(self) -> bool:
        return self._initiator

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state is SessionState.OPEN

    @property
    def closed(self) -> bool:
        return self._state is SessionState.CLOSED

    @property
    def error(self) -> TransportError | None:
        """What closed the session, if a failure did."""
        return self._error

    @property
    def identity(self) -> bytes:
        """Our own Ed25519 public key."""
        return bytes(self._identity.verify_key.encode())

    @property
    def remote_identity(self) -> bytes | None:
        """The peer's proven Ed25519 public key, once it has been verified."""
        return self._remote_identity

    @property
    def handshake_hash(self) -> bytes | None:
        """Unique per session once the handshake completes; usable for channel binding."""
        return self._handshake_hash

    @property
    def max_frame_size(self) -> int:
        return self._max_frame_size

    # -- the sans-I/O surface --

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer ended the stream."""
        self._check_not_closed()
        if self._eof:
            raise StateError("data received after end of stream")
        if not data:
            self._eof = True
            return
        self._inbox += data

    def next_event(self) -> Event | None:
        """The next event, or None until more data arrives; a failure closes the session."""
        self._check_not_closed()
        try:
            return self._next_event()
        except TransportError as exc:
            self._fail(exc)
            raise

    def events(self) -> Iterator[Event]:
        """Every event the buffered data makes available."""
        while (event := self.next_event()) is not None:
            yield event
            if isinstance(event, ConnectionClosed):
                return

    def data_to_send(self) -> bytes:
        """Handshake bytes the session produced on its own; write them to the peer."""
        self._check_not_closed()
        out = bytes(self._outbox)
        self._outbox.clear()
        return out

    def send(self, payload: bytes) -> bytes:
        """Encrypt one frame; the returned bytes go on the wire in call order.

        A payload over the size limit raises :class:`FrameTooLargeError` and leaves the
        session usable; running out of nonces closes it.
        """
        self._check_not_closed()
        if self._state is not SessionState.OPEN or self._send_cipher is None:
            raise StateError("handshake not complete")
        if len(payload) > self._max_frame_size:
            raise FrameTooLargeError(
                f"frame of {len(payload)} bytes over the limit of {self._max_frame_size}"
            )
        try:
            return _wire(self._send_cipher.encrypt_with_ad(b"", payload))
        except TransportError as exc:
            self._fail(exc)
            raise

    def close(self) -> None:
        """Close locally; later calls raise :class:`SessionClosedError`."""
        if self._state is not SessionState.CLOSED:
            self._shutdown()

    # -- internals --

    def _check_not_closed(self) -> None:
        if self._state is SessionState.CLOSED:
            raise SessionClosedError("session is closed") from self._error

    def _fail(self, exc: TransportError) -> None:
        self._error = exc
        self._shutdown()

    def _shutdown(self) -> None:
        self._state = SessionState.CLOSED
        self._handshake = None
        self._send_cipher = None
        self._recv_cipher = None
        self._inbox = bytearray()
        self._inbox_pos = 0
        self._outbox.clear()

    def _next_event(self) -> Event | None:
        body = self._take_message()
        if body is None:
            if self._eof:
                return self._end_of_stream()
            return None
        if self._state is SessionState.HANDSHAKE:
            return self._handshake_step(body)
        assert self._recv_cipher is not None
        try:
            payload = self._recv_cipher.decrypt_with_ad(b"", body)
        except DecryptError as exc:
            raise DecryptError(
                "frame failed authentication (tampered, reordered or replayed)"
            ) from exc
        return Frame(payload)

    def _take_message(self) -> bytes | None:
        """Cut one length-prefixed message off the inbox, checking its length first."""
        available = len(self._inbox) - self._inbox_pos
        if available < LENGTH_PREFIX_LEN:
            return None
        start = self._inbox_pos
        length = int.from_bytes(self._inbox[start : start + LENGTH_PREFIX_LEN], "big")
        if self._state is SessionState.HANDSHAKE:
            if length > MAX_MESSAGE_LEN:
                raise HandshakeError(f"handshake message of {length} bytes is too large")
        else:
            if length > self._max_frame_size + TAGLEN:
                raise FrameTooLargeError(
                    f"frame of {length - TAGLEN} bytes over the limit of {self._max_frame_size}"
                )
            if length < TAGLEN:
                raise FrameError(f"frame of {length} bytes is shorter than its tag")
        if available < LENGTH_PREFIX_LEN + length:
            return None
        body_start = start + LENGTH_PREFIX_LEN
        body = bytes(self._inbox[body_start : body_start + length])
        self._inbox_pos = body_start + length
        if self._inbox_pos > len(self._inbox) // 2:
            del self._inbox[: self._inbox_pos]
            self._inbox_pos = 0
        return body

    def _end_of_stream(self) -> ConnectionClosed:
        if len(self._inbox) > self._inbox_pos:
            raise TruncatedFrameError("stream ended inside a frame")
        if self._state is SessionState.HANDSHAKE:
            raise HandshakeError("stream ended during the handshake")
        self._shutdown()
        return ConnectionClosed()

    def _handshake_step(self, message: bytes) -> HandshakeComplete | None:
        hs = self._handshake
        assert hs is not None
        try:
            payload = hs.read_message(message)
        except DecryptError as exc:
            raise HandshakeError("handshake message failed authentication") from exc
        except StateError as exc:
            raise HandshakeError(f"unexpected handshake message: {exc}") from exc
        if hs.remote_static is None:
            # Responder, first message: only an ephemeral key, and nothing else is allowed.
            if payload:
                raise HandshakeError("first handshake message must carry no payload")
            self._outbox += _wire(hs.write_message_with(self._identity_payload))
            return None
        remote_label = RESPONDER_LABEL if self._initiator else INITIATOR_LABEL
        self._remote_identity = self._verify_identity(
            payload, remote_label, hs.payload_hash, hs.remote_static
        )
        if self._initiator:
            self._outbox += _wire(hs.write_message_with(self._identity_payload))
        assert hs.complete
        initiator_to_responder, responder_to_initiator = hs.split()
        if self._initiator:
            self._send_cipher, self._recv_cipher = initiator_to_responder, responder_to_initiator
        else:
            self._send_cipher, self._recv_cipher = responder_to_initiator, initiator_to_responder
        self._handshake_hash = hs.handshake_hash
        self._handshake = None
        self._state = SessionState.OPEN
        return HandshakeComplete(self._remote_identity, self._handshake_hash)

    def _identity_payload(self, payload_hash: bytes) -> bytes:
        """Our Ed25519 key and its signature binding it to this handshake and static key."""
        label = INITIATOR_LABEL if self._initiator else RESPONDER_LABEL
        message = signed_binding(label, payload_hash, self._static.public)
        signature = bytes(self._identity.sign(message).signature)
        return self.identity + signature

    def _verify_identity(
        self, payload: bytes, label: bytes, payload_hash: bytes, remote_static: bytes
    ) -> bytes:
        if len(payload) != IDENTITY_PAYLOAD_LEN:
            raise IdentityError("malformed identity payload")
        remote_identity, signature = payload[:IDENTITY_LEN], payload[IDENTITY_LEN:]
        message = signed_binding(label, payload_hash, remote_static)
        try:
            nacl.signing.VerifyKey(remote_identity).verify(message, signature)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise IdentityError("identity signature does not verify") from exc
        if self._expected is not None and not hmac.compare_digest(remote_identity, self._expected):
            raise IdentityError("peer proved an identity other than the expected one")
        return remote_identity

    def _set_nonces_for_testing(
        self, *, send: int | None = None, receive: int | None = None
    ) -> None:
        """Move the transport nonce counters, so tests can reach the exhaustion limit."""
        if self._send_cipher is None or self._recv_cipher is None:
            raise StateError("handshake not complete")
        if send is not None:
            self._send_cipher.set_nonce(send)
        if receive is not None:
            self._recv_cipher.set_nonce(receive)


def _wire(body: bytes) -> bytes:
    return len(body).to_bytes(LENGTH_PREFIX_LEN, "big") + body


__all__ = [
    "INITIATOR_LABEL",
    "MAX_FRAME_SIZE",
    "PROLOGUE_LABEL",
    "PROTOCOL_NAME",
    "RESPONDER_LABEL",
    "ConnectionClosed",
    "Event",
    "Frame",
    "HandshakeComplete",
    "SecureSession",
    "SessionState",
    "signed_binding",
]
