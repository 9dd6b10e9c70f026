"""Relays (issue 15.1): a conductor nobody can dial is reached through a relay, over the same
end-to-end Noise session; the relay sees ciphertext only, cannot forge, requires a valid
signed agent info (and the key it names), bounds what it spends, and a caller falls back to
another relay when one dies.

Real daemons and real relay services on one event loop, over loopback TCP. Conductor B
advertises a dead address (``127.0.0.1:1``): only its relays lead to it.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import nacl.signing
import pytest

from zomehost.core.hash import DnaHash
from zomehost.network.agent_info import AgentInfo, SignedAgentInfo
from zomehost.network.errors import PeerUnreachable
from zomehost.network.relay import (
    LABEL,
    RelayLimits,
    RelayLink,
    RelayServer,
    check_reply,
    dial_line,
)

from .conftest import Peer, ok_value
from .test_node import wait_for

MARKER = "RELAYED-SECRET-PLAINTEXT-4242"
UNREACHABLE = "127.0.0.1:1"


class Recording(RelayServer):
    def __init__(self, **kw: Any) -> None:
        self.seen = bytearray()
        super().__init__(tap=lambda direction, data: self.seen.extend(data), **kw)


class Tampering(RelayServer):
    """Flips one bit of every chunk it forwards to the target once ``armed``."""

    armed = False

    def forward(self, direction: str, data: bytes) -> bytes:
        if self.armed and direction == "to_target" and data:
            return bytes([data[0] ^ 1]) + data[1:]
        return data


def hidden_peer(peer_factory: Any, relays: list[RelayServer], **extra: Any) -> Peer:
    return peer_factory(
        "hidden",
        {
            "advertise": UNREACHABLE,
            "reachable": False,
            "relays": [r.address for r in relays],
            **extra,
        },
    )


def test_a_call_through_a_relay_is_end_to_end_encrypted(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def main() -> None:
        relay = Recording()
        await relay.start()
        b = hidden_peer(peer_factory, [relay])
        cb = b.install(probe_bundle)
        await b.start()
        await b.grant(cb)
        record = b.node.directory.get(cb.dna_hash, cb.agent)  # type: ignore[union-attr]
        assert record is not None and record.info.relays == (relay.address,)
        a = peer_factory("a", {"peers": [{"agent_info": record.to_text()}]})
        ca = a.install(probe_bundle)
        await a.start()
        await a.grant(ca)
        try:
            assert ok_value(await a.call_remote(ca, cb.agent, "echo", MARKER)) == MARKER
            conn = a.node.transport.connection_for(b.node.identity)  # type: ignore[union-attr]
            assert conn is not None and conn.remote_address == f"relay {relay.address}"
            # B calls A back over the same relayed connection; a remote signal too.
            res = await b.call_remote(cb, ca.agent, "echo", MARKER + "-back")
            assert ok_value(res) == MARKER + "-back"
            assert len(relay.seen) > 2000
            for plain in (MARKER.encode(), b"echo", b"call_remote_fn", b"provenance"):
                assert plain not in relay.seen, plain
            assert relay.clients[b.node.identity].forwarded == len(relay.seen)  # type: ignore[union-attr]
        finally:
            await a.stop()
            await b.stop()
            await relay.stop()

    asyncio.run(main())


def test_a_relay_that_changes_a_byte_breaks_the_session_not_the_call_result(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    async def main() -> None:
        relay = Tampering()
        await relay.start()
        b = hidden_peer(peer_factory, [relay])
        cb = b.install(probe_bundle)
        await b.start()
        await b.grant(cb)
        record = b.node.directory.get(cb.dna_hash, cb.agent)  # type: ignore[union-attr]
        assert record is not None
        a = peer_factory("a", {"peers": [{"agent_info": record.to_text()}]})
        ca = a.install(probe_bundle)
        await a.start()
        try:
            assert ok_value(await a.call_remote(ca, cb.agent, "echo", "clean")) == "clean"
            relay.armed = True
            res = await a.call_remote(ca, cb.agent, "echo", "forged?")
            assert set(res) == {"NetworkError"}, res
            assert a.node.transport.connection_for(b.node.identity) is None  # type: ignore[union-attr]
        finally:
            await a.stop()
            await b.stop()
            await relay.stop()

    asyncio.run(main())


def test_a_dead_relay_falls_back_to_another(peer_factory: Any, probe_bundle: bytes) -> None:
    async def main() -> None:
        r1, r2 = RelayServer(), RelayServer()
        await r1.start()
        await r2.start()
        b = hidden_peer(peer_factory, [r1, r2])
        cb = b.install(probe_bundle)
        await b.start()
        await b.grant(cb)
        record = b.node.directory.get(cb.dna_hash, cb.agent)  # type: ignore[union-attr]
        assert record is not None and record.info.relays == (r1.address, r2.address)
        a = peer_factory("a", {"peers": [{"agent_info": record.to_text()}]})
        ca = a.install(probe_bundle)
        await a.start()
        try:
            assert ok_value(await a.call_remote(ca, cb.agent, "echo", "one")) == "one"
            await r1.stop()  # its circuits die with it
            await wait_for(lambda: a.node.transport.connection_for(b.node.identity) is None)  # type: ignore[union-attr]
            assert ok_value(await a.call_remote(ca, cb.agent, "echo", "two")) == "two"
            conn = a.node.transport.connection_for(b.node.identity)  # type: ignore[union-attr]
            assert conn is not None and conn.remote_address == f"relay {r2.address}"
            # B noticed and re-signed its record without the dead relay, at once.
            await wait_for(
                lambda: b.node.directory.get(cb.dna_hash, cb.agent).info.relays == (r2.address,)  # type: ignore[union-attr]
            )
        finally:
            await a.stop()
            await b.stop()
            await r2.stop()

    asyncio.run(main())


def test_reachable_auto_lists_relays_only_when_no_relay_can_dial_it(
    peer_factory: Any, probe_bundle: bytes
) -> None:
    """The relay probes the address in the registering conductor's record, only when it
    names the IP the registration came from; a conductor set to ``auto`` learns from that."""

    async def main() -> None:
        relay = RelayServer()
        await relay.start()
        cases = {
            "dialable": {},  # its real listener: the relay dials it
            "firewalled": {"advertise": UNREACHABLE},  # its own IP, nothing listening
            "natted": {"advertise": "10.9.9.9:7000"},  # not the IP it registers from
        }
        peers = {}
        for name, extra in cases.items():
            peer = peer_factory(name, {"reachable": "auto", "relays": [relay.address], **extra})
            cell = peer.install(probe_bundle)
            await peer.start()
            peers[name] = (peer, cell)
        try:
            for name, (peer, cell) in peers.items():
                assert peer.node.identity in relay.clients  # registered in every case
                record = peer.node.directory.get(cell.dna_hash, cell.agent)
                expected = () if name == "dialable" else (relay.address,)
                assert record is not None and record.info.relays == expected, name
        finally:
            for peer, _ in peers.values():
                await peer.stop()
            await relay.stop()

    asyncio.run(main())


# -- the relay service on its own, over raw sockets --------------------------------------------
def record_for(key: nacl.signing.SigningKey, transport: nacl.signing.SigningKey) -> SignedAgentInfo:
    dna = DnaHash.from_core(b"\5" * 32)
    return AgentInfo.create(key, dna, UNREACHABLE, bytes(transport.verify_key))


async def exchange(address: str, *lines: bytes) -> list[bytes]:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    answers = []
    for line in lines:
        writer.write(line)
        answers.append((await reader.readline()).strip())
    writer.close()
    return answers


def test_registration_needs_a_valid_agent_info_and_its_transport_key() -> None:
    async def main() -> None:
        relay = RelayServer(limits=RelayLimits(max_clients=1))
        address = await relay.start()
        transport = nacl.signing.SigningKey.generate()
        good = record_for(nacl.signing.SigningKey.generate(), transport)

        async def register(text: str, signer: nacl.signing.SigningKey) -> bytes:
            host, port = address.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"REGISTER\n")
            challenge = (await reader.readline()).split()[1]
            proof = signer.sign(LABEL + bytes.fromhex(challenge.decode())).signature
            writer.write(f"PROOF {text} {proof.hex()}\n".encode())
            answer = (await reader.readline()).strip()
            writer.close()
            return answer

        assert (await register("garbage", transport)).startswith(b"ERR no valid agent info")
        expired = AgentInfo.create(
            nacl.signing.SigningKey.generate(),
            DnaHash.from_core(b"\5" * 32),
            UNREACHABLE,
            bytes(transport.verify_key),
            ttl_s=10,
            now=1_000_000,
        )
        assert (await register(expired.to_text(), transport)).startswith(b"ERR no valid")
        tampered = good.to_text()[:-6] + (
            "AAAAAA" if not good.to_text().endswith("AAAAAA") else "BBBBBB"
        )
        assert (await register(tampered, transport)).startswith(b"ERR")
        other = nacl.signing.SigningKey.generate()  # someone else's record, our proof
        assert (await register(good.to_text(), other)).startswith(b"ERR the proof")
        # Valid: the record and its transport key. The relay is then full (max_clients=1).
        link = RelayLink(address, transport, good, lambda relay, token: asyncio.sleep(0))
        await link.register(5)
        third = nacl.signing.SigningKey.generate()
        full = record_for(nacl.signing.SigningKey.generate(), third)
        assert await register(full.to_text(), third) == b"ERR this relay is full"
        # Dialling: unknown identities, malformed lines, lines over the limit.
        unknown = dial_line(bytes(32))
        assert (await exchange(address, unknown))[0].startswith(b"ERR no such conductor")
        assert (await exchange(address, b"DIAL xyz\n"))[0].startswith(b"ERR")
        assert (await exchange(address, b"HELLO\n"))[0] == b"ERR unknown request"
        assert (await exchange(address, b"ACCEPT " + os.urandom(16).hex().encode() + b"\n"))[
            0
        ] == b"ERR no such incoming call"
        assert (await exchange(address, b"DIAL " + b"a" * 10_000 + b"\n"))[0].startswith(b"ERR")
        with pytest.raises(PeerUnreachable, match="refused"):
            check_reply(b"ERR nope")
        link.close()
        await relay.stop()

    asyncio.run(main())


def test_a_flood_through_a_relay_is_bounded() -> None:
    """A caller writes as fast as it can: the target receives at most the relay's rate
    (plus its one-second burst), and a conductor gets at most its circuits."""
    rate = 64 * 1024

    async def main() -> None:
        relay = RelayServer(limits=RelayLimits(bytes_per_s=rate, max_circuits_per_client=2))
        address = await relay.start()
        transport = nacl.signing.SigningKey.generate()
        received = 0
        sinks: list[asyncio.StreamWriter] = []

        async def accept(relay_address: str, token: bytes) -> None:
            nonlocal received
            host, port = relay_address.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            sinks.append(writer)
            writer.write(b"ACCEPT " + token.hex().encode() + b"\n")
            assert (await reader.readline()).strip() == b"OK"
            while data := await reader.read(65536):
                received += len(data)

        link = RelayLink(
            address, transport, record_for(nacl.signing.SigningKey.generate(), transport), accept
        )
        await link.register(5)
        serving = asyncio.ensure_future(link.serve())
        host, port = address.rsplit(":", 1)
        callers = []
        for _ in range(2):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(dial_line(bytes(transport.verify_key)))
            assert (await reader.readline()).strip() == b"OK"
            callers.append(writer)
        # A third circuit to the same conductor is refused while two are open.
        third = await exchange(address, dial_line(bytes(transport.verify_key)))
        assert third[0] == b"ERR busy: too many circuits"
        chunk = os.urandom(65536)
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < 1.5:
            for writer in callers:
                writer.write(chunk)
                sent += len(chunk)
            await asyncio.sleep(0)
            if sent > 64 * 1024 * 1024:
                break
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.2)
        assert sent > 4 * rate * elapsed  # the caller did try to flood
        assert received <= rate * (elapsed + 0.2) + rate + 2 * 65536
        for writer in callers + sinks:
            writer.transport.abort()
        serving.cancel()
        link.close()
        await relay.stop()

    asyncio.run(main())
