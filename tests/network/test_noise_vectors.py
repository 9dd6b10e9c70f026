"""The cacophony test vectors for ``*_25519_ChaChaPoly_BLAKE2b``, every one we support.

Each vector runs both sides with fixed keys: every handshake ciphertext, the final handshake
hash and the transport messages after it must match byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zomehost.network.errors import (
    DecryptError,
    HandshakeError,
    NonceExhaustedError,
    StateError,
    UnsupportedProtocolError,
)
from zomehost.network.noise import (
    MAX_NONCE,
    CipherState,
    HandshakeState,
    KeyPair,
    parse_protocol_name,
)

VECTORS_FILE = Path(__file__).parent / "vectors" / "noise-25519-chachapoly-blake2b.json"
"""The public cacophony vectors, kept in the repository (data, not code): a clone anywhere runs
every case, and a missing or shrunken file fails here instead of silently running fewer."""
EXPECTED_VECTORS = 59


def _load() -> list[dict[str, Any]]:
    if not VECTORS_FILE.is_file():
        raise FileNotFoundError(f"the Noise test vectors are missing: {VECTORS_FILE}")
    data = json.loads(VECTORS_FILE.read_text())
    vectors: list[dict[str, Any]] = data["vectors"] if isinstance(data, dict) else data
    return vectors


VECTORS = _load()


def _supported(vector: dict[str, Any]) -> bool:
    try:
        parse_protocol_name(vector["protocol_name"])
    except UnsupportedProtocolError:
        return False
    return True


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for v in VECTORS:
        name = v["protocol_name"]
        seen[name] = seen.get(name, 0) + 1
        ids.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return ids


def _h(vector: dict[str, Any], key: str) -> bytes | None:
    value = vector.get(key)
    return None if value is None else bytes.fromhex(value)


def _key(vector: dict[str, Any], key: str) -> KeyPair | None:
    private = _h(vector, key)
    return None if private is None else KeyPair.from_private(private)


def _side(vector: dict[str, Any], prefix: str, initiator: bool) -> HandshakeState:
    return HandshakeState(
        vector["protocol_name"],
        initiator=initiator,
        prologue=_h(vector, f"{prefix}_prologue") or b"",
        s=_key(vector, f"{prefix}_static"),
        e=_key(vector, f"{prefix}_ephemeral"),
        rs=_h(vector, f"{prefix}_remote_static"),
        psks=[bytes.fromhex(p) for p in vector.get(f"{prefix}_psks", [])],
    )


def test_vectors_present() -> None:
    assert len(VECTORS) == EXPECTED_VECTORS, f"{VECTORS_FILE} holds {len(VECTORS)} vectors"
    assert all(_supported(v) for v in VECTORS), "every vector's pattern must be supported"
    xx = [v for v in VECTORS if v["protocol_name"].startswith("Noise_XX_")]
    assert xx, "the vectors file has no plain XX vector"
    assert all(_supported(v) for v in xx)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids())
def test_vector(vector: dict[str, Any]) -> None:
    initiator = _side(vector, "init", True)
    responder = _side(vector, "resp", False)
    pattern = initiator.pattern
    messages = vector["messages"]
    n_handshake = len(pattern.messages)
    assert len(messages) >= n_handshake

    for i, msg in enumerate(messages[:n_handshake]):
        writer, reader = (initiator, responder) if i % 2 == 0 else (responder, initiator)
        payload = bytes.fromhex(msg["payload"])
        wire = writer.write_message(payload)
        assert wire.hex() == msg["ciphertext"], f"handshake message {i}"
        assert reader.read_message(wire) == payload

    assert initiator.complete and responder.complete
    expected_hash = vector["handshake_hash"]
    assert initiator.handshake_hash.hex() == expected_hash
    assert responder.handshake_hash.hex() == expected_hash

    i_send, i_recv = initiator.split()
    r_recv, r_send = responder.split()
    for i, msg in enumerate(messages[n_handshake:], start=n_handshake):
        from_initiator = pattern.one_way or i % 2 == 0
        send: CipherState = i_send if from_initiator else r_send
        recv: CipherState = r_recv if from_initiator else i_recv
        payload = bytes.fromhex(msg["payload"])
        wire = send.encrypt_with_ad(b"", payload)
        assert wire.hex() == msg["ciphertext"], f"transport message {i}"
        assert recv.decrypt_with_ad(b"", wire) == payload


# -- the state machines around the vectors -------------------------------------------------

XX = "Noise_XX_25519_ChaChaPoly_BLAKE2b"


def test_cipher_state_refuses_the_last_nonce() -> None:
    send, recv = CipherState(bytes(32)), CipherState(bytes(32))
    send.set_nonce(MAX_NONCE - 1)
    recv.set_nonce(MAX_NONCE - 1)
    assert recv.decrypt_with_ad(b"ad", send.encrypt_with_ad(b"ad", b"last")) == b"last"
    with pytest.raises(NonceExhaustedError):
        send.encrypt_with_ad(b"ad", b"one too many")
    with pytest.raises(NonceExhaustedError):
        recv.decrypt_with_ad(b"ad", bytes(32))


def test_cipher_state_failed_decrypt_keeps_nonce() -> None:
    send, recv = CipherState(bytes(32)), CipherState(bytes(32))
    wire = send.encrypt_with_ad(b"", b"x")
    with pytest.raises(DecryptError):
        recv.decrypt_with_ad(b"other ad", wire)
    assert recv.nonce == 0
    assert recv.decrypt_with_ad(b"", wire) == b"x"


def test_rekey_keeps_both_sides_in_step() -> None:
    send, recv = CipherState(bytes(32)), CipherState(bytes(32))
    before = send.encrypt_with_ad(b"", b"x")
    send.rekey()
    recv.rekey()
    recv.set_nonce(1)
    after = send.encrypt_with_ad(b"", b"x")
    assert recv.decrypt_with_ad(b"", after) == b"x"
    assert after != before


def test_handshake_out_of_turn_and_after_failure() -> None:
    initiator = HandshakeState(XX, initiator=True, s=KeyPair.generate())
    responder = HandshakeState(XX, initiator=False, s=KeyPair.generate())
    with pytest.raises(StateError):
        responder.write_message()
    with pytest.raises(StateError):
        initiator.read_message(bytes(32))
    responder.read_message(initiator.write_message())
    msg2 = bytearray(responder.write_message())
    msg2[-1] ^= 1
    with pytest.raises(DecryptError):
        initiator.read_message(bytes(msg2))
    with pytest.raises(StateError):
        initiator.write_message()


def test_low_order_ephemeral_refused() -> None:
    responder = HandshakeState("Noise_NN_25519_ChaChaPoly_BLAKE2b", initiator=False)
    responder.read_message(bytes(32))  # the all-zero point: ee must fail
    with pytest.raises(HandshakeError):
        responder.write_message()


@pytest.mark.parametrize(
    "name",
    [
        "Noise_XXfallback_25519_ChaChaPoly_BLAKE2b",
        "Noise_XXhfs_25519+Kyber1024_ChaChaPoly_BLAKE2b",
        "Noise_XX_448_ChaChaPoly_BLAKE2b",
        "Noise_XX_25519_AESGCM_SHA256",
        "Noise_QQ_25519_ChaChaPoly_BLAKE2b",
        "Noise_NNpsk9_25519_ChaChaPoly_BLAKE2b",
    ],
)
def test_unsupported_protocols(name: str) -> None:
    with pytest.raises(UnsupportedProtocolError):
        parse_protocol_name(name)


def test_bad_configuration() -> None:
    with pytest.raises(ValueError):
        HandshakeState("Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b", initiator=True)
    with pytest.raises(ValueError):
        HandshakeState("Noise_NK_25519_ChaChaPoly_BLAKE2b", initiator=True)  # needs rs
