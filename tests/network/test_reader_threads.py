"""Connections read by the transport's reader threads, over real loopback TCP.

After the handshake a connection's socket is read by :class:`ReaderPool` threads, not the
event loop; a request may run on the reader thread its bytes woke (``run_request``), and a
worker waiting for its answer (``call_threadsafe``) reads the connection itself. These
tests try to break that: a runner that blocks must not stop the connection being read,
answers must reach the right waiter whoever reads them, a call that comes back over the
same connection must not deadlock, a frame may arrive a byte at a time, and garbage or a
closed connection must fail every waiter at once while the conductor keeps serving.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from nacl.signing import SigningKey

from zomehost.network import protocol
from zomehost.network.agent_info import parse_address
from zomehost.network.errors import PeerUnreachable
from zomehost.network.readers import ReaderPool
from zomehost.network.session import Frame, HandshakeComplete, SecureSession
from zomehost.network.transport import Connection

from .test_transport import Echo, closed_by_peer, raw_client, read_answer, req, run, settle


class Runs(Echo):
    """A transport whose requests are answered by ``answer`` (on a thread): on the reader
    thread when it takes them, else from the loop's handler through a worker thread."""

    def __init__(self, answer: Callable[[Connection, protocol.Request], Any], **kw: Any) -> None:
        self.answer = answer
        self.pool = concurrent.futures.ThreadPoolExecutor(64)  # never the bottleneck here
        super().__init__(run_request=self.run_request, **kw)

    def run_request(self, conn: Connection, request: protocol.Request) -> bool:
        conn.respond(request.id, self.answer(conn, request))
        return True

    async def on_request(self, conn: Connection, req: protocol.Request) -> Any:
        self.requests += 1
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.answer, conn, req)


def test_a_request_runs_on_the_reader_thread_its_bytes_woke() -> None:
    async def main() -> None:
        ran: list[tuple[str, int]] = []

        def run_request(conn: Connection, request: protocol.Request) -> bool:
            ran.append((threading.current_thread().name, request.id))
            conn.respond(request.id, {"ran": request.body})
            return True

        server, client = Echo(run_request=run_request), Echo()
        conn = await client.transport.connect(await server.transport.listen(), server.identity)
        assert await conn.request("echo", 1, 5) == {"ran": 1}
        assert ran and ran[0][0].startswith("zome-net")
        assert server.requests == 0  # never the loop's way
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_a_runner_that_blocks_does_not_stop_the_connection_being_read() -> None:
    """Head-of-line: while the first call's runner is blocked, later requests on the same
    connection are read, run and answered (by other reader threads)."""

    async def main() -> None:
        release = threading.Event()

        def run_request(conn: Connection, request: protocol.Request) -> bool:
            if request.body == "block":
                release.wait(10)
            conn.respond(request.id, {"echo": request.body})  # as the loop's handler does
            return True

        server, client = Echo(run_request=run_request), Echo()
        conn = await client.transport.connect(await server.transport.listen(), server.identity)
        blocked = asyncio.ensure_future(conn.request("echo", "block", 20))
        await asyncio.sleep(0.1)
        answers = await asyncio.gather(*(conn.request("echo", i, 5) for i in range(20)))
        assert answers == [{"echo": i} for i in range(20)]
        assert not blocked.done()
        release.set()
        assert await blocked == {"echo": "block"}
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_with_every_reader_busy_requests_take_the_loops_way() -> None:
    """Two reader threads: one blocks in a call, the other must keep reading, so further
    requests are served by the loop's handlers instead of running on it."""

    async def main() -> None:
        release = threading.Event()

        def run_request(conn: Connection, request: protocol.Request) -> bool:
            release.wait(10)
            conn.respond(request.id, "ran")
            return True

        server = Echo(run_request=run_request, reader_threads=2)
        client = Echo()
        conn = await client.transport.connect(await server.transport.listen(), server.identity)
        first = asyncio.ensure_future(conn.request("echo", "first", 20))
        await settle(lambda: server.transport.readers().threads == 2)
        answers = await asyncio.gather(*(conn.request("echo", i, 5) for i in range(5)))
        assert answers == [{"echo": i} for i in range(5)]  # the loop's handler answered
        assert server.requests == 5
        release.set()
        assert await first == "ran"
        assert server.transport.readers().threads == 2
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_waiting_threads_each_get_their_own_answer_in_any_order() -> None:
    """Sixteen threads call at once over one connection; one of them reads for all while
    it waits, the others are answered by whoever reads; answers come back in reverse."""

    async def main() -> None:
        def run_request(conn: Connection, request: protocol.Request) -> bool:
            def answer() -> None:
                time.sleep(0.2 - request.body["i"] * 0.01)
                conn.respond(request.id, {"echo": request.body})

            threading.Thread(target=answer).start()
            return True

        server, client = Echo(run_request=run_request), Echo()
        conn = await client.transport.connect(await server.transport.listen(), server.identity)
        big = "z" * (2 << 20)  # frames far larger than one read

        def call(i: int) -> Any:
            return conn.call_threadsafe("echo", {"i": i, "pad": big if i % 4 == 0 else ""}, 10)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = await asyncio.gather(
                *(asyncio.wrap_future(pool.submit(call, i)) for i in range(16))
            )
        assert [r["echo"]["i"] for r in results] == list(range(16))
        assert all(r["echo"]["pad"] == (big if i % 4 == 0 else "") for i, r in enumerate(results))
        assert conn.idle and not conn.closed
        # Nobody holds the socket now: an answer read by a reader thread reaches the loop.
        assert await conn.request("echo", {"i": 0, "pad": ""}, 5) == {"echo": {"i": 0, "pad": ""}}
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_a_call_that_comes_back_over_the_same_connection_does_not_deadlock() -> None:
    """A calls B; B's runner (on B's reader thread) calls A back over the one connection
    while A's worker holds A's side of the socket waiting for B; three levels deep, eight
    chains at once."""

    async def main() -> None:

        def chain(name: str) -> Callable[[Connection, protocol.Request], Any]:
            def answer(conn: Connection, request: protocol.Request) -> Any:
                depth = request.body["depth"]
                if depth == 0:
                    return [name]
                return [name, *conn.call_threadsafe("echo", {"depth": depth - 1}, 10)]

            return answer

        a, b = Runs(chain("a")), Runs(chain("b"))
        conn = await a.transport.connect(await b.transport.listen(), b.identity)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            chains = await asyncio.gather(
                *(
                    asyncio.wrap_future(pool.submit(conn.call_threadsafe, "echo", {"depth": 3}, 20))
                    for _ in range(8)
                )
            )
        assert chains == [["b", "a", "b", "a"]] * 8
        assert len(a.transport.connections) == 1 == len(b.transport.connections)
        await a.transport.stop()
        await b.transport.stop()

    run(main)


def test_a_frame_that_arrives_a_byte_at_a_time_is_read_whole() -> None:
    def client(address: str, server_identity: bytes) -> list[Any]:
        session = SecureSession(SigningKey.generate(), initiator=True)
        with socket.create_connection(parse_address(address)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(session.data_to_send())
            while not session.is_open:
                session.receive_data(sock.recv(65536))
                for event in session.events():
                    assert isinstance(event, HandshakeComplete)
            sock.sendall(session.data_to_send())
            wire = session.send(req(1, "one")) + session.send(req(2, "two"))
            for i in range(len(wire)):
                sock.sendall(wire[i : i + 1])
                time.sleep(0.0005)
            answers: list[Any] = []
            while len(answers) < 2:
                for event in session.events():
                    assert isinstance(event, Frame)
                    answers.append(protocol.decode(event.payload))
                if len(answers) < 2:
                    session.receive_data(sock.recv(65536))
            return answers

    async def main() -> None:
        def run_request(conn: Connection, request: protocol.Request) -> bool:
            conn.respond(request.id, {"ran": request.body})
            return True

        server = Echo(run_request=run_request)
        address = await server.transport.listen()
        answers = await asyncio.to_thread(client, address, server.identity)
        assert sorted(answers, key=lambda m: m.id) == [
            protocol.Response(1, {"ran": "one"}),
            protocol.Response(2, {"ran": "two"}),
        ]
        await server.transport.stop()

    run(main)


def test_garbage_while_a_worker_reads_fails_its_wait_at_once_and_others_are_served() -> None:
    """The worker holding the socket reads a tampered frame: the connection closes, the
    waiter fails at once with PeerUnreachable, and the server serves other peers."""

    async def main() -> None:
        server = Echo()
        address = await server.transport.listen()
        client_key = SigningKey.generate()
        reader, writer, session = await raw_client(address, client_key, server.identity)
        writer.write(session.send(req(1, "hello")))
        assert await read_answer(reader, session) == protocol.Response(1, {"echo": "hello"})
        conn = server.transport.connection_for(bytes(client_key.verify_key))
        assert conn is not None
        waiting = asyncio.ensure_future(
            asyncio.to_thread(conn.call_threadsafe, "echo", "never answered", 30)
        )
        assert isinstance(await read_answer(reader, session), protocol.Request)
        frame = bytearray(session.send(req(2, "x")))
        frame[-3] ^= 0x20
        t0 = time.monotonic()
        writer.write(bytes(frame))
        with pytest.raises(PeerUnreachable):
            await waiting
        assert time.monotonic() - t0 < 1
        assert await closed_by_peer(reader)
        await settle(lambda: server.transport.connections == [])
        other = Echo()
        conn2 = await other.transport.connect(address, server.identity)
        assert await conn2.request("echo", "still here", 5) == {"echo": "still here"}
        await other.transport.stop()
        await server.transport.stop()

    run(main)


def test_a_send_after_a_read_failed_is_peer_unreachable() -> None:
    """Between a reader's failure and the loop's close, a worker's request or answer on the
    connection fails as PeerUnreachable (what callers handle), not as a closed session."""

    async def main() -> None:
        server, client = Echo(), Echo()
        conn = await client.transport.connect(await server.transport.listen(), server.identity)

        def fail_then_send() -> None:
            with conn._lock:  # the loop cannot close it meanwhile
                conn._fail("a test failure")
                with pytest.raises(PeerUnreachable):
                    conn.request_threadsafe("echo", "after the failure")
                with pytest.raises(PeerUnreachable):
                    conn.call_threadsafe("echo", "after the failure", 1)

        await asyncio.to_thread(fail_then_send)
        await settle(lambda: conn.closed)
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_a_waiter_that_times_out_gives_the_socket_back() -> None:
    """The call times out (TimeoutError, connection open); the reader threads read the
    connection again, so a late answer is dropped and the next call is answered."""

    async def main() -> None:
        hold = threading.Event()

        def run_request(conn: Connection, request: protocol.Request) -> bool:
            if request.body == "slow":
                hold.wait(10)
            conn.respond(request.id, {"echo": request.body})
            return True

        server, client = Echo(run_request=run_request), Echo()
        conn = await client.transport.connect(await server.transport.listen(), server.identity)
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(conn.call_threadsafe, "echo", "slow", 0.3)
        hold.set()
        assert not conn.closed
        assert await conn.request("echo", "next", 5) == {"echo": "next"}  # a reader read it
        assert await asyncio.to_thread(conn.call_threadsafe, "echo", "and", 5) == {"echo": "and"}
        assert conn.idle
        await client.transport.stop()
        await server.transport.stop()

    run(main)


def test_a_peer_that_stops_reading_does_not_stop_the_readers() -> None:
    """A raw peer floods requests with big answers and never reads them: the server keeps
    reading and serving another peer, and refuses what is over its in-flight bound."""

    async def main() -> None:
        server = Echo(max_inbound=8)
        address = await server.transport.listen()
        _reader, writer, session = await raw_client(address, expected=server.identity)
        big = "q" * (900 << 10)
        for i in range(40):
            writer.write(session.send(req(i + 1, {"sleep": 0.5, "pad": big})))
        other = Echo()
        conn = await other.transport.connect(address, server.identity)
        for _ in range(3):
            answers = await asyncio.gather(*(conn.request("echo", i, 10) for i in range(6)))
            assert answers == [{"echo": i} for i in range(6)]
        writer.close()
        await other.transport.stop()
        await server.transport.stop()

    run(main)


def test_a_stopped_pool_ends_its_threads() -> None:
    pool = ReaderPool(3)
    a, b = socket.socketpair()
    seen = threading.Event()

    def reader() -> None:
        a.recv(10)
        seen.set()

    pool.add(a.fileno(), reader)
    b.send(b"x")
    assert seen.wait(5)
    pool.stop()
    end = time.monotonic() + 5
    while pool.threads and time.monotonic() < end:
        time.sleep(0.01)
    assert pool.threads == 0
    with pytest.raises(RuntimeError):
        pool.add(b.fileno(), reader)
    a.close()
    b.close()
