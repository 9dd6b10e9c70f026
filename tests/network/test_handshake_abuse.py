"""Crafted handshakes over a real socket, from a peer that holds real keys.

The peer runs the genuine Noise XX initiator (its ephemeral and static keys are real, so the
responder gets as far as decrypting message 3's static key) and then puts damaged bytes on
the wire. Each attempt must fail with a typed error, close that socket, free its slot, and
leave the listener serving honest peers.
"""

from __future__ import annotations

import asyncio

import pytest
from nacl.signing import SigningKey

from zomehost.network.agent_info import parse_address
from zomehost.network.errors import DecryptError, HandshakeError
from zomehost.network.noise import DHLEN, TAGLEN, HandshakeState, KeyPair
from zomehost.network.session import (
    INITIATOR_LABEL,
    PROLOGUE_LABEL,
    PROTOCOL_NAME,
    SecureSession,
    _wire,
    signed_binding,
)

from .test_transport import Echo, closed_by_peer, run, settle

STATIC_LEN = DHLEN + TAGLEN  # message 3 starts with the encrypted static key


async def message_3(
    address: str, edit: bytes | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Run messages 1 and 2 honestly, then send message 3 cut to its static key plus
    ``edit`` (or the honest message when ``edit`` is None)."""
    reader, writer = await asyncio.open_connection(*parse_address(address))
    key, static = SigningKey.generate(), KeyPair.generate()
    hs = HandshakeState(PROTOCOL_NAME, initiator=True, prologue=PROLOGUE_LABEL + b"\x00", s=static)

    def identity(payload_hash: bytes) -> bytes:
        signed = key.sign(signed_binding(INITIATOR_LABEL, payload_hash, static.public))
        return bytes(key.verify_key) + signed.signature

    writer.write(_wire(hs.write_message(b"")))
    head = await reader.readexactly(4)
    hs.read_message(await reader.readexactly(int.from_bytes(head, "big")))
    honest = hs.write_message_with(identity)
    assert len(honest) == STATIC_LEN + 96 + TAGLEN
    writer.write(_wire(honest if edit is None else honest[:STATIC_LEN] + edit))
    await writer.drain()
    return reader, writer  # the writer too: dropping it would close the socket


@pytest.mark.parametrize("payload_len", [0, 1, 8, TAGLEN - 1])
def test_message_3_with_a_payload_shorter_than_its_tag_is_a_typed_error(
    payload_len: int,
) -> None:
    """The sans-I/O session first: a typed HandshakeError, and the session is closed."""
    init = SecureSession(SigningKey.generate(), initiator=True)
    resp = SecureSession(SigningKey.generate(), initiator=False)
    resp.receive_data(init.data_to_send())
    list(resp.events())
    init.receive_data(resp.data_to_send())
    list(init.events())
    msg3 = init.data_to_send()[4:]
    resp.receive_data(_wire(msg3[: STATIC_LEN + payload_len]))
    with pytest.raises(HandshakeError) as info:
        list(resp.events())
    assert isinstance(info.value.__cause__, DecryptError)
    assert resp.closed and resp.error is info.value


def test_crafted_message_3_closes_the_socket_frees_its_slot_and_the_listener_serves() -> None:
    async def main() -> None:
        server = Echo(max_connections=3)
        address = await server.transport.listen()
        edits = [b"", b"\x00", bytes(15), b"\xff" * 16, bytes(95), b"\x01" * 400]
        for _ in range(2):  # twice the slot count, so a leaked slot would lock us out
            for edit in edits:
                reader, writer = await message_3(address, edit)
                assert await closed_by_peer(reader), f"socket left open after {edit!r:.20}"
                writer.close()
        await settle(lambda: not server.transport._handshaking)  # every slot freed
        assert not server.transport.connections
        reader, writer = await message_3(address, None)
        assert not await closed_by_peer(reader, timeout=0.3)  # the honest one stays open
        writer.close()
        client = Echo()
        conn = await client.transport.connect(address, server.identity)
        assert (await conn.request("echo", "still serving", 5)) == {"echo": "still serving"}
        await client.transport.stop()
        await server.transport.stop()

    run(main)
