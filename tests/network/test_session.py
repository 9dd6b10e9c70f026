"""The secure session: identity-bound XX handshake, framing, and fail-closed behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from zomehost.network.errors import (
    DecryptError,
    FrameError,
    FrameTooLargeError,
    HandshakeError,
    IdentityError,
    NonceExhaustedError,
    SessionClosedError,
    StateError,
    TransportError,
    TruncatedFrameError,
)
from zomehost.network.noise import MAX_NONCE, KeyPair
from zomehost.network.session import (
    INITIATOR_LABEL,
    RESPONDER_LABEL,
    ConnectionClosed,
    Event,
    Frame,
    HandshakeComplete,
    SecureSession,
    SessionState,
    signed_binding,
)

# -- helpers -------------------------------------------------------------------------------


def pair(
    *,
    initiator_key: SigningKey | None = None,
    responder_key: SigningKey | None = None,
    **kwargs: Any,
) -> tuple[SecureSession, SecureSession]:
    """A fresh initiator and responder; kwargs go to both, ``i_``/``r_`` prefixed to one."""
    common = {k: v for k, v in kwargs.items() if not k.startswith(("i_", "r_"))}
    i_kw = common | {k[2:]: v for k, v in kwargs.items() if k.startswith("i_")}
    r_kw = common | {k[2:]: v for k, v in kwargs.items() if k.startswith("r_")}
    initiator = SecureSession(initiator_key or SigningKey.generate(), initiator=True, **i_kw)
    responder = SecureSession(responder_key or SigningKey.generate(), initiator=False, **r_kw)
    return initiator, responder


def pump(src: SecureSession, dst: SecureSession, chunk: int | None = None) -> list[Event]:
    """Move src's pending handshake bytes to dst (optionally in chunks) and drain dst."""
    data = src.data_to_send()
    return feed(dst, data, chunk)


def feed(dst: SecureSession, data: bytes, chunk: int | None = None) -> list[Event]:
    events: list[Event] = []
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        dst.receive_data(data[i : i + step])
        events.extend(dst.events())
    return events


def handshake(
    initiator: SecureSession, responder: SecureSession, chunk: int | None = None
) -> tuple[list[Event], list[Event]]:
    r_events = pump(initiator, responder, chunk)
    i_events = pump(responder, initiator, chunk)
    r_events += pump(initiator, responder, chunk)
    return i_events, r_events


def open_pair(**kwargs: Any) -> tuple[SecureSession, SecureSession]:
    initiator, responder = pair(**kwargs)
    handshake(initiator, responder)
    assert initiator.is_open and responder.is_open
    return initiator, responder


def frames(events: list[Event]) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, Frame)]


def assert_permanently_closed(session: SecureSession) -> None:
    assert session.closed
    assert session.state is SessionState.CLOSED
    with pytest.raises(SessionClosedError):
        session.receive_data(b"x")
    with pytest.raises(SessionClosedError):
        session.next_event()
    with pytest.raises(SessionClosedError):
        session.send(b"x")
    with pytest.raises(SessionClosedError):
        session.data_to_send()


def forged_payload(
    claimed: SigningKey,
    signer: SigningKey,
    label: bytes,
    static: KeyPair,
    hash_override: bytes | None = None,
) -> Callable[[bytes], bytes]:
    """An identity payload claiming ``claimed`` but signed by ``signer`` (or over wrong data)."""

    def make(payload_hash: bytes) -> bytes:
        h = payload_hash if hash_override is None else hash_override
        signature = signer.sign(signed_binding(label, h, static.public)).signature
        return bytes(claimed.verify_key.encode()) + bytes(signature)

    return make


# -- handshake -----------------------------------------------------------------------------


def test_handshake_binds_both_identities() -> None:
    ka, kb = SigningKey.generate(), SigningKey.generate()
    a, b = pair(initiator_key=ka, responder_key=kb)
    assert a.state is SessionState.HANDSHAKE and b.state is SessionState.HANDSHAKE
    a_events, b_events = handshake(a, b)

    ida, idb = bytes(ka.verify_key.encode()), bytes(kb.verify_key.encode())
    assert a.remote_identity == idb and b.remote_identity == ida
    assert a.identity == ida and b.identity == idb
    assert a.handshake_hash is not None and a.handshake_hash == b.handshake_hash
    assert a_events == [HandshakeComplete(idb, a.handshake_hash)]
    assert b_events == [HandshakeComplete(ida, a.handshake_hash)]
    assert a.data_to_send() == b"" and b.data_to_send() == b""

    assert frames(feed(b, a.send(b"hello"))) == [b"hello"]
    assert frames(feed(a, b.send(b"world"))) == [b"world"]
    assert frames(feed(b, a.send(b""))) == [b""]


def test_sessions_have_distinct_hashes() -> None:
    a1, _ = open_pair()
    a2, _ = open_pair()
    assert a1.handshake_hash != a2.handshake_hash


def test_expected_identity_matches() -> None:
    kb = SigningKey.generate()
    a, b = pair(responder_key=kb, i_expected_remote_identity=bytes(kb.verify_key.encode()))
    handshake(a, b)
    assert a.is_open and b.is_open


def test_initiator_rejects_unexpected_identity_before_revealing_its_own() -> None:
    other = SigningKey.generate()
    a, b = pair(i_expected_remote_identity=bytes(other.verify_key.encode()))
    pump(a, b)
    msg2 = b.data_to_send()
    with pytest.raises(IdentityError):
        feed(a, msg2)
    assert a.remote_identity is None
    assert isinstance(a.error, IdentityError)
    assert_permanently_closed(a)


def test_responder_rejects_unexpected_identity() -> None:
    other = SigningKey.generate()
    a, b = pair(r_expected_remote_identity=bytes(other.verify_key.encode()))
    pump(a, b)
    pump(b, a)
    with pytest.raises(IdentityError):
        pump(a, b)
    assert_permanently_closed(b)


def test_responder_without_identity_key_cannot_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    """A responder claiming the victim's identity, signing with its own key, is refused."""
    victim, impostor = SigningKey.generate(), SigningKey.generate()
    a, b = pair(
        responder_key=impostor, i_expected_remote_identity=bytes(victim.verify_key.encode())
    )
    static = b._static
    monkeypatch.setattr(
        b, "_identity_payload", forged_payload(victim, impostor, RESPONDER_LABEL, static)
    )
    pump(a, b)
    with pytest.raises(IdentityError):
        pump(b, a)
    assert_permanently_closed(a)


def test_initiator_without_identity_key_cannot_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    victim, impostor = SigningKey.generate(), SigningKey.generate()
    a, b = pair(initiator_key=impostor)
    monkeypatch.setattr(
        a, "_identity_payload", forged_payload(victim, impostor, INITIATOR_LABEL, a._static)
    )
    pump(a, b)
    pump(b, a)
    assert a.is_open  # the initiator cannot tell; the responder must refuse
    with pytest.raises(IdentityError):
        pump(a, b)
    assert b.remote_identity is None
    assert_permanently_closed(b)


@pytest.mark.parametrize("what", ["hash", "static", "label"])
def test_signature_must_cover_this_handshake(monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """A genuine signature over another session's hash, static key or role does not pass."""
    kb = SigningKey.generate()
    a, b = pair(responder_key=kb)
    static = KeyPair.generate() if what == "static" else b._static
    label = INITIATOR_LABEL if what == "label" else RESPONDER_LABEL
    override = bytes(64) if what == "hash" else None
    monkeypatch.setattr(b, "_identity_payload", forged_payload(kb, kb, label, static, override))
    pump(a, b)
    with pytest.raises(IdentityError):
        pump(b, a)
    assert_permanently_closed(a)


def test_malformed_identity_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = pair()
    monkeypatch.setattr(b, "_identity_payload", lambda h: b"\x00" * 10)
    pump(a, b)
    with pytest.raises(IdentityError):
        pump(b, a)


def test_tampered_handshake_message() -> None:
    a, b = pair()
    pump(a, b)
    msg2 = bytearray(b.data_to_send())
    msg2[60] ^= 1
    with pytest.raises(HandshakeError):
        feed(a, bytes(msg2))
    assert_permanently_closed(a)


def test_prologue_mismatch_fails() -> None:
    a, b = pair(i_prologue=b"network-1", r_prologue=b"network-2")
    pump(a, b)
    with pytest.raises(HandshakeError):
        pump(b, a)


def test_first_message_with_payload_refused() -> None:
    from zomehost.network.noise import HandshakeState
    from zomehost.network.session import PROLOGUE_LABEL, PROTOCOL_NAME

    rogue = HandshakeState(
        PROTOCOL_NAME, initiator=True, prologue=PROLOGUE_LABEL + b"\x00", s=KeyPair.generate()
    )
    msg1 = rogue.write_message(b"early data")
    _, b = pair()
    with pytest.raises(HandshakeError):
        feed(b, len(msg1).to_bytes(4, "big") + msg1)


def test_oversized_handshake_message() -> None:
    _, b = pair()
    with pytest.raises(HandshakeError):
        feed(b, (70000).to_bytes(4, "big"))
    assert_permanently_closed(b)


def test_eof_during_handshake() -> None:
    a, b = pair()
    pump(a, b)
    with pytest.raises(HandshakeError):
        a.receive_data(b"")
        a.next_event()
    assert_permanently_closed(a)


def test_send_before_handshake_is_refused_but_not_fatal() -> None:
    a, b = pair()
    with pytest.raises(StateError):
        a.send(b"too early")
    assert not a.closed
    handshake(a, b)
    assert frames(feed(b, a.send(b"now"))) == [b"now"]


def test_one_byte_chunks() -> None:
    a, b = pair()
    a_events, b_events = handshake(a, b, chunk=1)
    assert isinstance(a_events[-1], HandshakeComplete)
    assert isinstance(b_events[-1], HandshakeComplete)
    wire = a.send(b"first") + a.send(b"x" * 1000) + a.send(b"")
    assert frames(feed(b, wire, chunk=1)) == [b"first", b"x" * 1000, b""]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        SecureSession(SigningKey.generate(), initiator=True, expected_remote_identity=b"short")
    with pytest.raises(ValueError):
        SecureSession(SigningKey.generate(), initiator=True, max_frame_size=0)


# -- frames --------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 3, 4, 5, 20, -17, -1])
def test_tampered_frame(position: int) -> None:
    a, b = open_pair()
    wire = bytearray(a.send(b"a payload of some length"))
    wire[position] ^= 0x80
    with pytest.raises(TransportError):
        feed(b, bytes(wire))
        b.receive_data(b"")  # a lengthened prefix only shows as truncation at the end
        b.next_event()
    assert_permanently_closed(b)


def test_tampered_body_is_decrypt_error() -> None:
    a, b = open_pair()
    wire = bytearray(a.send(b"payload"))
    wire[8] ^= 1
    with pytest.raises(DecryptError):
        feed(b, bytes(wire))
    assert isinstance(b.error, DecryptError)
    assert_permanently_closed(b)


def test_truncated_then_continued() -> None:
    a, b = open_pair()
    first, second = a.send(b"one" * 10), a.send(b"two" * 10)
    with pytest.raises(DecryptError):
        feed(b, first[:-1] + second)
    assert_permanently_closed(b)


def test_truncated_then_end_of_stream() -> None:
    a, b = open_pair()
    wire = a.send(b"payload")
    b.receive_data(wire[:-3])
    assert b.next_event() is None
    b.receive_data(b"")
    with pytest.raises(TruncatedFrameError):
        b.next_event()
    assert_permanently_closed(b)


def test_reordered_frames() -> None:
    a, b = open_pair()
    first, second = a.send(b"first"), a.send(b"second")
    with pytest.raises(DecryptError):
        feed(b, second + first)
    assert_permanently_closed(b)


def test_replayed_frame() -> None:
    a, b = open_pair()
    first = a.send(b"first")
    assert frames(feed(b, first)) == [b"first"]
    with pytest.raises(DecryptError):
        feed(b, first)
    assert_permanently_closed(b)


def test_reflected_frame() -> None:
    """A frame sent back to its own author is refused: each direction has its own key."""
    a, _ = open_pair()
    with pytest.raises(DecryptError):
        feed(a, a.send(b"echo"))


def test_good_frames_before_a_bad_one_are_delivered() -> None:
    a, b = open_pair()
    good = a.send(b"good")
    bad = bytearray(a.send(b"bad"))
    bad[-1] ^= 1
    b.receive_data(good + bytes(bad))
    assert b.next_event() == Frame(b"good")
    with pytest.raises(DecryptError):
        b.next_event()


def test_oversized_frame_refused_from_header_alone() -> None:
    _, b = open_pair(max_frame_size=100)
    b.receive_data((100 + 16 + 1).to_bytes(4, "big"))
    with pytest.raises(FrameTooLargeError):
        b.next_event()
    assert_permanently_closed(b)


def test_oversized_frame_from_larger_limit_peer() -> None:
    a, b = open_pair(i_max_frame_size=1000, r_max_frame_size=100)
    assert frames(feed(b, a.send(b"x" * 100))) == [b"x" * 100]
    with pytest.raises(FrameTooLargeError):
        feed(b, a.send(b"x" * 101))
    assert_permanently_closed(b)


def test_sending_oversized_frame_is_refused_but_not_fatal() -> None:
    a, b = open_pair(max_frame_size=100)
    with pytest.raises(FrameTooLargeError):
        a.send(b"x" * 101)
    assert a.is_open
    assert frames(feed(b, a.send(b"x" * 100))) == [b"x" * 100]


def test_default_limit_is_one_mebibyte() -> None:
    a, b = open_pair()
    assert a.max_frame_size == 1 << 20
    big = bytes(range(256)) * 4096
    assert frames(feed(b, a.send(big))) == [big]
    with pytest.raises(FrameTooLargeError):
        a.send(big + b"!")


def test_frame_shorter_than_tag() -> None:
    _, b = open_pair()
    with pytest.raises(FrameError):
        feed(b, (15).to_bytes(4, "big") + bytes(15))
    assert_permanently_closed(b)


def test_clean_end_of_stream() -> None:
    a, b = open_pair()
    b.receive_data(a.send(b"last"))
    b.receive_data(b"")
    assert list(b.events()) == [Frame(b"last"), ConnectionClosed()]
    assert b.closed and b.error is None
    with pytest.raises(SessionClosedError):
        b.next_event()


def test_local_close() -> None:
    a, _ = open_pair()
    a.close()
    a.close()
    assert_permanently_closed(a)


# -- nonce exhaustion ----------------------------------------------------------------------


def test_send_nonce_exhaustion() -> None:
    a, b = open_pair()
    a._set_nonces_for_testing(send=MAX_NONCE - 2)
    b._set_nonces_for_testing(receive=MAX_NONCE - 2)
    assert frames(feed(b, a.send(b"1") + a.send(b"2"))) == [b"1", b"2"]
    with pytest.raises(NonceExhaustedError):
        a.send(b"3")
    assert_permanently_closed(a)


def test_receive_nonce_exhaustion() -> None:
    a, b = open_pair()
    b._set_nonces_for_testing(receive=MAX_NONCE)
    with pytest.raises(NonceExhaustedError):
        feed(b, a.send(b"any"))
    assert_permanently_closed(b)


# -- property ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=20),
    st.integers(min_value=1, max_value=64),
)
def test_random_payloads_round_trip(script: list[tuple[bool, bytes]], chunk: int) -> None:
    a, b = pair(max_frame_size=300)
    handshake(a, b, chunk=chunk)
    to_b: list[bytes] = []
    to_a: list[bytes] = []
    wire_to_b = bytearray()
    wire_to_a = bytearray()
    for from_a, payload in script:
        if from_a:
            wire_to_b += a.send(payload)
            to_b.append(payload)
        else:
            wire_to_a += b.send(payload)
            to_a.append(payload)
    assert frames(feed(b, bytes(wire_to_b), chunk)) == to_b
    assert frames(feed(a, bytes(wire_to_a), chunk)) == to_a
    assert a.is_open and b.is_open
