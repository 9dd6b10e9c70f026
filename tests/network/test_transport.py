"""The connection manager over real loopback TCP: multiplexing, reuse, identity, fail-closed.

A raw client (a :class:`SecureSession` driven by hand over a socket) lets the tests put
exactly the bytes they want on the wire: tampered, truncated, reordered and replayed frames
must each close the connection, and a request waiting on it must fail at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from nacl.signing import SigningKey

from zomehost.network import protocol
from zomehost.network.agent_info import parse_address
from zomehost.network.errors import PeerUnreachable
from zomehost.network.session import Frame, HandshakeComplete, SecureSession
from zomehost.network.transport import Connection, Transport, _Socket

from .relay import Relay

MARKER = "PLAINTEXT-MARKER-7f3a"


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 30) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(main())


class Echo:
    """A transport whose requests echo their body (after an optional delay)."""

    def __init__(self, key: SigningKey | None = None, **kw: Any) -> None:
        self.key = key or SigningKey.generate()
        self.messages: list[Any] = []
        self.requests = 0
        self.transport = Transport(
            self.key, on_request=self.on_request, on_message=self.on_message, **kw
        )

    async def on_request(self, conn: Connection, req: protocol.Request) -> Any:
        self.requests += 1
        body = req.body
        if isinstance(body, dict) and body.get("sleep"):
            await asyncio.sleep(body["sleep"])
        return {"echo": body}

    async def on_message(self, conn: Connection, msg: protocol.OneWay) -> None:
        self.messages.append((msg.op, msg.body))

    @property
    def identity(self) -> bytes:
        return self.transport.identity


async def raw_client(
    address: str, key: SigningKey | None = None, expected: bytes | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, SecureSession]:
    """Connect and complete the handshake by hand; returns the open session."""
    reader, writer = await asyncio.open_connection(*parse_address(address))
    session = SecureSession(
        key or SigningKey.generate(), initiator=True, expected_remote_identity=expected
    )
    writer.write(session.data_to_send())
    while not session.is_open:
        session.receive_data(await reader.read(65536))
        for event in session.events():
            assert isinstance(event, HandshakeComplete)
            break
    writer.write(session.data_to_send())
    await writer.drain()
    return reader, writer, session


async def read_answer(reader: asyncio.StreamReader, session: SecureSession) -> Any:
    while True:
        for event in session.events():
            assert isinstance(event, Frame)
            return protocol.decode(event.payload)
        data = await asyncio.wait_for(reader.read(65536), 5)
        session.receive_data(data)


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float = 5) -> bool:
    """True once the peer has closed (EOF or reset) within ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = await asyncio.wait_for(reader.read(65536), end - time.monotonic())
        except TimeoutError:  # first: TimeoutError is an OSError
            return False
        except (ConnectionError, OSError):
            return True
        if not data:
            return True
    return False


def req(rid: int, body: Any) -> bytes:
    return protocol.encode(protocol.Request(rid, "echo", body))


async def settle(cond: Callable[[], bool], timeout: float = 5) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.01)


# -- the happy path ---------------------------------------------------------------------------


def test_concurrent_requests_are_multiplexed_and_answered_out_of_order() -> None:
    async def main() -> None:
        server, client = Echo(), Echo()
        address = await server.transport.listen()
        conn = await client.transport.connect(address, server.identity)
        t0 = time.monotonic()
        delays = [0.3, 0.1, 0.2, 0.0, 0.25]
        results = await asyncio.gather(
            *(conn.request("echo", {"sleep": d, "i": i}, 5) for i, d in enumerate(delays))
        )
        assert [r["echo"]["i"] for r in results] == list(range(len(delays)))
        assert time.monotonic() - t0 < 0.6  # concurrent, not one after the other
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_worker_threads_request_and_answer_directly_in_order() -> None:
    """Requests sent from threads (``request_threadsafe``) and answers written from threads
    (``take_request`` + ``respond``) interleave with loop writes; frames far larger than the
    socket buffer take the queue through the loop. Every answer matches its request."""

    async def main() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(8)  # callers
        answering = concurrent.futures.ThreadPoolExecutor(4)
        taken: list[int] = []

        def take(conn: Connection, request: protocol.Request) -> bool:
            if request.body.get("loop"):
                return False  # answered by the async handler, on the loop
            taken.append(request.id)
            answering.submit(conn.respond, request.id, {"echo": request.body})
            return True

        server = Echo(take_request=take)
        client = Echo()
        address = await server.transport.listen()
        conn = await client.transport.connect(address, server.identity)
        big = "y" * (3 << 20)

        def call(i: int) -> Any:
            body = {"i": i, "pad": big if i % 5 == 0 else "", "loop": i % 3 == 0}
            rid, fut = conn.request_threadsafe("echo", body)
            try:
                return fut.result(20)
            finally:
                conn.forget(rid)

        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, call, i) for i in range(40)),
            *(conn.request("echo", {"i": 100 + i, "loop": True}, 20) for i in range(10)),
        )
        assert [r["echo"]["i"] for r in results] == [*range(40), *range(100, 110)]
        assert all(
            r["echo"]["pad"] == (big if i % 5 == 0 else "") for i, r in enumerate(results[:40])
        )
        assert taken and not conn.closed and conn.idle
        await client.transport.stop()
        await server.transport.stop()
        pool.shutdown()
        answering.shutdown()

    run(main)


def test_a_thread_waiting_for_an_answer_fails_at_once_when_the_connection_closes() -> None:
    async def main() -> None:
        server = Echo(take_request=lambda conn, request: True)  # taken, never answered
        client = Echo()
        address = await server.transport.listen()
        conn = await client.transport.connect(address, server.identity)
        rid, fut = await asyncio.to_thread(conn.request_threadsafe, "echo", "never answered")
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        await server.transport.stop()
        with pytest.raises(PeerUnreachable, match="lost"):
            await asyncio.to_thread(fut.result, 5)
        assert time.monotonic() - t0 < 1
        conn.forget(rid)
        with pytest.raises(PeerUnreachable):
            conn.request_threadsafe("echo", "after the close")
        await client.transport.stop()

    run(main)


def test_bytes_sent_with_the_connection_and_with_the_last_handshake_message_are_kept() -> None:
    """A blocking client puts the first handshake message on the wire with the connect
    (before the server's handshake runs) and a request in the same write as the last one."""

    def client(address: str, server_identity: bytes) -> Any:
        session = SecureSession(SigningKey.generate(), initiator=True)
        with socket.create_connection(parse_address(address)) as sock:
            sock.sendall(session.data_to_send())
            while not session.is_open:
                session.receive_data(sock.recv(65536))
                for event in session.events():
                    assert isinstance(event, HandshakeComplete)
                    assert event.remote_identity == server_identity
            sock.sendall(session.data_to_send() + session.send(req(1, "early")))
            while True:
                for event in session.events():
                    assert isinstance(event, Frame)
                    return protocol.decode(event.payload)
                session.receive_data(sock.recv(65536))

    async def main() -> None:
        server = Echo()
        address = await server.transport.listen()
        answer = await asyncio.to_thread(client, address, server.identity)
        assert answer == protocol.Response(1, {"echo": "early"})
        await server.transport.stop()

    for _ in range(5):
        run(main)


def test_the_socket_keeps_bytes_that_arrive_while_nobody_reads() -> None:
    """Between the accept and the handshake, and between the handshake and the connection,
    the socket has no reader: what arrives then (and the end of stream) waits for the next."""

    async def main() -> None:
        sock = _Socket()
        sock.data_received(b"first ")
        got: list[bytes] = []
        sock.attach(got.append)
        sock.data_received(b"second ")
        sock.detach()
        sock.data_received(b"third")
        sock.eof_received()
        assert got == [b"first ", b"second "]
        later: list[bytes] = []
        sock.attach(later.append)
        assert later == [b"third", b""]

    run(main)


def test_one_connection_per_peer_pair_is_reused_both_ways() -> None:
    async def main() -> None:
        a, b = Echo(), Echo()
        addr_b = await b.transport.listen()
        await a.transport.listen()
        c1 = await a.transport.connect(addr_b, b.identity)
        c2 = await a.transport.connect(addr_b, b.identity)
        assert c1 is c2
        # Concurrent dials share one attempt.
        a2 = Echo()
        conns = await asyncio.gather(*(a2.transport.connect(addr_b, b.identity) for _ in range(5)))
        assert len({id(c) for c in conns}) == 1
        await settle(lambda: len(b.transport.connections) == 2)
        # B answers over the connection A opened: no second connection for the way back.
        back = b.transport.connection_for(a.identity)
        assert back is not None
        assert (await back.request("echo", "from b", 5)) == {"echo": "from b"}
        assert len(a.transport.connections) == 1
        # One-way messages arrive too.
        await c1.send_message("note", {"x": 1})
        await settle(lambda: b.messages == [("note", {"x": 1})])
        for t in (a, a2, b):
            await t.transport.stop()

    run(main)


def test_simultaneous_open_settles_on_one_connection() -> None:
    async def main() -> None:
        a, b = Echo(retire_grace=0.2), Echo(retire_grace=0.2)
        addr_a, addr_b = await a.transport.listen(), await b.transport.listen()
        ca, cb = await asyncio.gather(
            a.transport.connect(addr_b, b.identity), b.transport.connect(addr_a, a.identity)
        )
        await settle(lambda: len(a.transport.connections) == 2 == len(b.transport.connections))
        # Both sides chose the same TCP connection (the one dialled by the smaller identity).
        chosen_a = a.transport.connection_for(b.identity)
        chosen_b = b.transport.connection_for(a.identity)
        assert chosen_a is not None and chosen_b is not None
        assert chosen_a.initiator_identity == chosen_b.initiator_identity
        assert chosen_a.initiator_identity == min(a.identity, b.identity)
        assert (await chosen_a.request("echo", 1, 5)) == {"echo": 1}
        assert (await chosen_b.request("echo", 2, 5)) == {"echo": 2}
        # The retired twin closes once idle.
        await settle(lambda: len(a.transport.connections) == 1, timeout=10)
        await settle(lambda: len(b.transport.connections) == 1, timeout=10)
        assert a.transport.connection_for(b.identity) is chosen_a
        del ca, cb
        await a.transport.stop()
        await b.transport.stop()

    run(main)


# -- identity ---------------------------------------------------------------------------------


def test_handshake_with_a_peer_holding_the_wrong_identity_key_fails() -> None:
    async def main() -> None:
        impostor, client = Echo(), Echo()
        address = await impostor.transport.listen()
        expected = bytes(SigningKey.generate().verify_key)  # who we think lives there
        with pytest.raises(PeerUnreachable, match="identity"):
            await client.transport.connect(address, expected)
        assert client.transport.connections == []
        # The initiator stops before sending its own identity: the impostor never
        # completes the handshake, so it has no connection either.
        await asyncio.sleep(0.1)
        assert impostor.transport.connections == []
        assert impostor.requests == 0
        await client.transport.stop()
        await impostor.transport.stop()

    run(main)


def test_a_handshake_that_stalls_times_out() -> None:
    async def main() -> None:
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        client = Transport(
            SigningKey.generate(),
            on_request=Echo().on_request,
            on_message=Echo().on_message,
            handshake_timeout=0.3,
        )
        with pytest.raises(PeerUnreachable, match="timed out"):
            await client.connect(f"127.0.0.1:{port}")
        with pytest.raises(PeerUnreachable, match="cannot connect"):
            await client.connect("127.0.0.1:1")
        silent.close()
        await client.stop()

    run(main)


# -- fail-closed ------------------------------------------------------------------------------


async def _server_and_client() -> tuple[Echo, Any, Any, SecureSession]:
    server = Echo()
    address = await server.transport.listen()
    reader, writer, session = await raw_client(address, expected=server.identity)
    writer.write(session.send(req(1, "first")))
    answer = await read_answer(reader, session)
    assert answer == protocol.Response(1, {"echo": "first"})
    return server, reader, writer, session


def test_tampered_frame_closes_the_connection() -> None:
    async def main() -> None:
        server, reader, writer, session = await _server_and_client()
        frame = bytearray(session.send(req(2, "second")))
        frame[10] ^= 0x01
        writer.write(bytes(frame))
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])
        assert server.requests == 1
        await server.transport.stop()

    run(main)


def test_truncated_frame_closes_the_connection() -> None:
    async def main() -> None:
        server, reader, writer, session = await _server_and_client()
        frame = session.send(req(2, "second"))
        writer.write(frame[: len(frame) // 2])
        writer.write_eof()
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])
        assert server.requests == 1
        await server.transport.stop()

    run(main)


def test_reordered_frames_close_the_connection() -> None:
    async def main() -> None:
        server, reader, writer, session = await _server_and_client()
        f2 = session.send(req(2, "second"))
        f3 = session.send(req(3, "third"))
        writer.write(f3 + f2)
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])
        assert server.requests == 1
        await server.transport.stop()

    run(main)


def test_replayed_frame_closes_the_connection() -> None:
    async def main() -> None:
        server, reader, writer, session = await _server_and_client()
        f2 = session.send(req(2, "second"))
        writer.write(f2)
        assert await read_answer(reader, session) == protocol.Response(2, {"echo": "second"})
        writer.write(f2)  # the same bytes again
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])
        assert server.requests == 2
        await server.transport.stop()

    run(main)


def test_oversized_frame_and_non_protocol_frames_close_the_connection() -> None:
    async def main() -> None:
        server, reader, writer, session = await _server_and_client()
        writer.write((2**31).to_bytes(4, "big"))  # a length over the limit: refused unread
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])

        address = server.transport.address
        assert address is not None
        reader, writer, session = await raw_client(address)
        writer.write(session.send(b"\x93\x01\x02\x03"))  # authentic, but not a peer message
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])
        await server.transport.stop()

    run(main)


def test_a_request_waiting_on_a_connection_fails_at_once_when_it_closes() -> None:
    async def main() -> None:
        server = Echo()
        address = await server.transport.listen()
        client_key = SigningKey.generate()
        _reader, writer, session = await raw_client(address, client_key, server.identity)
        await settle(
            lambda: server.transport.connection_for(bytes(client_key.verify_key)) is not None
        )
        conn = server.transport.connection_for(bytes(client_key.verify_key))
        assert conn is not None
        pending = asyncio.ensure_future(conn.request("echo", "never answered", 30))
        await asyncio.sleep(0.1)
        frame = bytearray(session.send(req(9, "x")))
        frame[-1] ^= 0x80  # tamper with the tag
        writer.write(bytes(frame))
        t0 = time.monotonic()
        with pytest.raises(PeerUnreachable, match="lost"):
            await pending
        assert time.monotonic() - t0 < 1
        await server.transport.stop()

    run(main)


# -- on the wire ------------------------------------------------------------------------------


def test_relay_sees_no_plaintext_and_tampering_in_flight_closes() -> None:
    async def main() -> None:
        server, client = Echo(), Echo()
        address = await server.transport.listen()
        host, port = parse_address(address)
        relay = Relay(host, port)
        via = await relay.start()
        conn = await client.transport.connect(via, server.identity)
        answer = await conn.request("echo", {"text": MARKER * 3}, 5)
        assert answer == {"echo": {"text": MARKER * 3}}
        wire = bytes(relay.up) + bytes(relay.down)
        assert len(relay.up) > 200 and len(relay.down) > 200
        assert MARKER.encode() not in wire
        assert b"echo" not in wire and b"text" not in wire
        await relay.stop()

        # A relay that flips one bit of the first frame after the handshake (past the three
        # handshake messages: 4+32, 4+32+48+112, 4+48+112 bytes).
        def flip(direction: str, chunk: bytes, offset: int) -> bytes:
            data = bytearray(chunk)
            for i in range(len(data)):
                if direction == "down" and offset + i == 4 + 32 + 48 + 96 + 16 + 20:
                    data[i] ^= 0x04
            return bytes(data)

        evil = Relay(host, port, mutate=flip)
        client2 = Echo()
        conn2 = await client2.transport.connect(await evil.start(), server.identity)
        with pytest.raises(PeerUnreachable):
            await conn2.request("echo", {"pad": "x" * 100}, 5)
        await settle(lambda: conn2.closed)
        for t in (client, client2, server):
            await t.transport.stop()
        await evil.stop()

    run(main)
