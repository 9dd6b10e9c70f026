"""Errors of the peer transport (Noise handshake, identity binding, framing).

Everything derives from one base, :class:`TransportError`, so callers that move bytes can
catch a single type and drop the connection. It is a :class:`zomehost.errors.NetworkError`,
so the project's one hierarchy covers it too. Arguments that are wrong for reasons of the
caller's own code (a key of the wrong length, a bad limit) raise ``ValueError`` instead.
"""

from __future__ import annotations

from zomehost.errors import NetworkError


class TransportError(NetworkError):
    """Base of every peer-transport failure (a :class:`zomehost.errors.NetworkError`)."""


class UnsupportedProtocolError(TransportError):
    """A Noise protocol name this implementation does not provide."""


class StateError(TransportError):
    """An operation that the current state does not allow (out of turn, too early)."""


class SessionClosedError(StateError):
    """The session already failed or was closed; it never recovers."""


class HandshakeError(TransportError):
    """The handshake cannot complete: malformed message, bad key, early end of stream."""


class IdentityError(HandshakeError):
    """The peer's identity binding is invalid, or names an identity we did not expect."""


class DecryptError(TransportError):
    """AEAD authentication failed: tampered, reordered, replayed or forged ciphertext."""


class NonceExhaustedError(TransportError):
    """A cipher state reached the last nonce; continuing would reuse a (key, nonce)."""


class FrameError(TransportError):
    """A wire frame is malformed."""


class FrameTooLargeError(FrameError):
    """A frame is over the configured maximum size."""


class TruncatedFrameError(FrameError):
    """The stream ended inside a frame."""


class ProtocolError(TransportError):
    """A decrypted frame that is not a message of the peer protocol (docs/network.md)."""


class PeerUnreachable(TransportError):
    """No connection to a peer could be made (refused, timed out, wrong identity)."""


class HttpError(NetworkError):
    """A bootstrap HTTP exchange that is malformed, over a bound, or refused (``status``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AgentInfoError(TransportError):
    """An agent-info record that is malformed, unsigned, mis-signed or expired."""


__all__ = [
    "AgentInfoError",
    "DecryptError",
    "FrameError",
    "FrameTooLargeError",
    "HandshakeError",
    "HttpError",
    "IdentityError",
    "NonceExhaustedError",
    "PeerUnreachable",
    "ProtocolError",
    "SessionClosedError",
    "StateError",
    "TransportError",
    "TruncatedFrameError",
    "UnsupportedProtocolError",
]
