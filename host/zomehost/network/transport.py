"""The connection manager: secure sessions over plain asyncio TCP, one per peer, multiplexed.

:class:`Transport` listens for peers and dials them. Each TCP connection runs one
:class:`~zomehost.network.session.SecureSession` (Noise XX bound to the conductors' Ed25519
transport identities); after the handshake a :class:`Connection` carries
:mod:`~zomehost.network.protocol` messages, one per frame. There is one connection per peer
pair, found by the peer's proven identity and reused by every request in either direction;
requests carry ids, so any number run concurrently and are answered in any order.

Fail-closed: anything wrong in the received bytes (a tampered, truncated, reordered,
replayed or oversized frame, a bad handshake, a frame that is not a protocol message) closes
the connection at once, and every request waiting on it fails with :class:`PeerUnreachable`.

Simultaneous open: if two connections to one peer complete (both dialled at once), both
sides keep the one whose *initiator* has the smaller identity and retire the other: it takes
no new requests and closes once idle.

Threads: the event loop runs the handshakes, dialling and the bookkeeping; worker threads
call :meth:`Connection.request_threadsafe`, :meth:`Connection.call_threadsafe` and
:meth:`Connection.respond`, so that a remote call costs no hop to the loop on its way out:
they encrypt and write the frame themselves, under the connection's lock (so frames reach
the wire in nonce order), on a duplicate of the socket while asyncio has nothing buffered,
else through the loop. After the handshake a connection is read by the transport's
:class:`~zomehost.network.readers.ReaderPool` threads, not the loop: the thread the bytes
wake decrypts them and may run an incoming call itself (``run_request``), and a worker
waiting for its own answer reads the connection itself while it waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import math
import select
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import nacl.signing

from zomehost.network import protocol
from zomehost.network.agent_info import format_address, parse_address
from zomehost.network.errors import (
    AgentInfoError,
    HandshakeError,
    PeerUnreachable,
    ProtocolError,
    TransportError,
)
from zomehost.network.noise import TAGLEN
from zomehost.network.protocol import ErrorResponse, OneWay, Request, Response
from zomehost.network.readers import ReaderPool
from zomehost.network.relay import MAX_LINE, accept_line, check_reply, dial_line
from zomehost.network.session import (
    LENGTH_PREFIX_LEN,
    ConnectionClosed,
    Frame,
    HandshakeComplete,
    SecureSession,
)

log = logging.getLogger("zomehost.network.transport")

DEFAULT_MAX_FRAME = 16 * 1024 * 1024
"""Zome payloads and results may be 4 MiB each (docs/abi.md limits), plus the envelope."""
HANDSHAKE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
MAX_INBOUND_PER_CONNECTION = 256
MAX_CONNECTIONS = 1024
RETIRE_GRACE_S = 3.0
READER_THREADS = 33
"""Reader threads at most: one more than the calls they may run at once."""
READ_CHUNK = 256 * 1024
IDLE_TIMEOUT_S = 600.0
REAP_INTERVAL_S = 1.0

RequestHandler = Callable[["Connection", Request], Awaitable[Any]]
RequestTaker = Callable[["Connection", Request], bool]
"""Offered each request first, on the loop: True means it will answer via ``respond``."""
RequestRunner = Callable[["Connection", Request], bool]
"""Offered a request first on the reader thread it woke: True means it ran and answered it
there (via ``respond``); False sends it the loop's way (``take_request``, ``on_request``)."""
MessageHandler = Callable[["Connection", OneWay], Awaitable[None]]
ConnectedHandler = Callable[["Connection"], None]


def short_id(identity: bytes | None) -> str:
    return identity.hex()[:12] if identity else "?"


class _Socket(asyncio.Protocol):
    """asyncio's side of one peer socket: bytes go straight to ``sink`` as they arrive.

    A protocol rather than streams: a frame is decrypted and dispatched in the loop's read
    callback, with no reader task to wake. The sink (:meth:`attach`) is the handshake's, then
    the connection's; ``b""`` means end of stream; bytes that arrive before there is one are
    kept for it. Writes pause while the socket's buffer is full.
    """

    def __init__(self, on_made: Callable[[_Socket], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self._early: list[bytes] = []
        self.sink: Callable[[bytes], None] = self._keep
        self.on_lost: Callable[[Exception | None], None] = lambda exc: None
        self._on_made = on_made
        self._paused = False
        self._drained: list[asyncio.Future[None]] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's do not subclass asyncio.Transport, so no isinstance)
        self.transport = cast(asyncio.Transport, transport)
        if self._on_made is not None:
            self._on_made(self)

    def _keep(self, data: bytes) -> None:
        self._early.append(data)

    def detach(self) -> None:
        """Keep received bytes until the next :meth:`attach`."""
        self.sink = self._keep

    def attach(self, sink: Callable[[bytes], None]) -> None:
        """Send received bytes to ``sink`` from now on, starting with any kept so far."""
        self.sink = sink
        early, self._early = self._early, []
        for data in early:
            sink(data)

    def data_received(self, data: bytes) -> None:
        self.sink(data)

    def eof_received(self) -> bool:
        self.sink(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake_drained()
        self.on_lost(exc)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drained()

    def _wake_drained(self) -> None:
        for fut in self._drained:
            if not fut.done():
                fut.set_result(None)
        self._drained.clear()

    async def drain(self) -> None:
        """Wait while the socket's write buffer is over its high-water mark."""
        if self._paused and not self.closed.done():
            fut = asyncio.get_running_loop().create_future()
            self._drained.append(fut)
            await fut

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def read_line(self, limit: int) -> bytes:
        """One ``\n``-ended line before the handshake (a relay's answer); what follows it
        is kept for the next :meth:`attach`."""
        buf = bytearray()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def sink(data: bytes) -> None:
            if not data:
                if not done.done():
                    done.set_exception(ConnectionError("closed before the relay answered"))
                return
            buf.extend(data)
            if (b"\n" in buf or len(buf) > limit) and not done.done():
                done.set_result(None)

        def lost(exc: Exception | None) -> None:
            if not done.done():
                done.set_exception(ConnectionError("lost before the relay answered"))

        self.on_lost = lost
        self.attach(sink)
        await done
        line, sep, rest = bytes(buf).partition(b"\n")
        if not sep or len(line) > limit:
            raise ProtocolError(f"the relay's answer is over {limit} bytes")
        self.detach()
        if rest:
            self._early.append(rest)
        return line


@dataclass(slots=True)
class Traffic:
    """What one connection carried since it opened: its frames after the handshake, each
    counted as its bytes on the wire (length prefix, ciphertext, tag). The conductor API's
    ``dump_network_stats`` shows them per connection."""

    opened_at: float
    """Wall-clock seconds when the handshake completed."""
    sent_frames: int = 0
    sent_bytes: int = 0
    received_frames: int = 0
    received_bytes: int = 0


class Connection:
    """One open, authenticated connection to a peer conductor."""

    def __init__(
        self,
        manager: Transport,
        sock: _Socket,
        session: SecureSession,
        remote_address: str,
    ) -> None:
        assert session.remote_identity is not None
        self.manager = manager
        self.session = session
        self.remote_identity: bytes = session.remote_identity
        self.remote_address = remote_address
        self.initiator = session.initiator
        assert sock.transport is not None
        self._socket = sock
        self._transport: asyncio.Transport = sock.transport
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any] | concurrent.futures.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inbound = 0
        self._drain_lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._lock = threading.RLock()
        """Held to encrypt and write a frame, to read the session, and to close."""
        raw = self._transport.get_extra_info("socket")
        self._sock: socket.socket | None = raw.dup() if raw is not None else None
        """Our own descriptor of the socket, for worker threads (closed with the connection)."""
        self._backlog: list[bytes] = []
        """Frames a worker could not write at once, waiting for the loop to write them."""
        self._readers: ReaderPool | None = None
        """Reading the socket, once :meth:`start` handed it over; else the loop reads."""
        self._waiter_reads = False
        """A worker waiting for its answer is reading the socket (the pool must not)."""
        self._read_failed = False
        self.closed = False
        self.close_reason: str | None = None
        self.retired = False
        self.last_active = time.monotonic()
        self.traffic = Traffic(time.time())
        """Counted under ``_lock`` when sending (any thread), on the loop when receiving."""

    def __repr__(self) -> str:
        role = "out" if self.initiator else "in"
        return f"<Connection {role} {short_id(self.remote_identity)} {self.remote_address}>"

    @property
    def initiator_identity(self) -> bytes:
        return self.manager.identity if self.initiator else self.remote_identity

    @property
    def usable(self) -> bool:
        return not self.closed and not self.retired

    @property
    def idle(self) -> bool:
        return not self._pending and self._inbound == 0

    def start(self) -> None:
        """Take the socket's bytes from now on; frames already buffered are read at once."""
        self._socket.on_lost = self._on_lost
        self._loop.call_soon(self._take_socket)

    def _take_socket(self) -> None:
        """Read what the session holds, then whatever arrived since the handshake; from then
        on the reader threads read the socket (the loop stops reading it)."""
        self._on_data(None)
        self._socket.attach(self._on_data)
        if self._socket.closed.done():  # lost between the handshake and now
            self._on_lost(None)
            return
        if self._sock is not None and not self.closed:
            readers = self.manager.readers()
            self._transport.pause_reading()
            with self._lock:
                if self.closed:
                    return
                self._readers = readers  # before the first event can reach _on_readable
                try:
                    readers.add(self._sock.fileno(), self._on_readable)
                except RuntimeError:  # the transport is stopping
                    self._readers = None
                    self.close("transport stopped")

    # -- sending --------------------------------------------------------------------------
    def _write(self, message: protocol.Message) -> None:
        """Encrypt and write one message, from the loop or a worker thread."""
        plaintext = protocol.encode(message)
        with self._lock:
            if self.closed or self._read_failed:  # failed: the loop is closing it
                raise PeerUnreachable(f"connection to {short_id(self.remote_identity)} is closed")
            try:
                wire = self.session.send(plaintext)
            except TransportError as exc:
                # Over the frame limit: the session stays usable; anything else closed it.
                if not self.session.closed:
                    raise
                self._close_soon(f"send failed: {exc}")
                raise PeerUnreachable(
                    f"connection to {short_id(self.remote_identity)} failed: {exc}"
                ) from exc
            if threading.get_ident() == self._loop_thread:
                self._flush_backlog()
                self._transport.write(wire)
            else:
                self._write_from_worker(wire)
            self.traffic.sent_frames += 1
            self.traffic.sent_bytes += len(wire)
        self.last_active = time.monotonic()

    def _write_from_worker(self, wire: bytes) -> None:
        """Send at once if nothing is queued before this frame, else queue it for the loop."""
        idle = not self._backlog and self._transport.get_write_buffer_size() == 0
        if idle and self._sock is not None:
            try:
                sent = self._sock.send(wire)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._close_soon(f"write failed: {exc}")
                raise PeerUnreachable(f"write to {short_id(self.remote_identity)} failed") from exc
            if sent == len(wire):
                return
            wire = wire[sent:]
        if not self._backlog:
            try:
                self._loop.call_soon_threadsafe(self._flush_backlog)
            except RuntimeError:  # the loop is gone
                raise PeerUnreachable("the transport is stopped") from None
        self._backlog.append(wire)

    def _flush_backlog(self) -> None:
        with self._lock:
            if not self.closed:
                for wire in self._backlog:
                    self._transport.write(wire)
            self._backlog.clear()

    def _close_soon(self, reason: str) -> None:
        """Close from any thread: on the loop at once, from a worker via the loop."""
        if threading.get_ident() == self._loop_thread:
            self.close(reason)
        else:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.close, reason)

    async def _drain(self) -> None:
        if self.closed:
            return
        async with self._drain_lock:
            await self._socket.drain()

    async def request(self, op: str, body: Any, timeout: float) -> Any:
        """Send a request and wait for its answer; the connection stays open on a timeout."""
        if self.closed:
            raise PeerUnreachable(
                f"connection to {short_id(self.remote_identity)} closed: {self.close_reason}"
            )
        rid = next(self._ids)
        fut: asyncio.Future[Any] = self._loop.create_future()
        with self._lock:
            self._pending[rid] = fut
        try:
            self._write(Request(rid, op, body))
            await self._drain()
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.forget(rid)

    def request_threadsafe(self, op: str, body: Any) -> tuple[int, concurrent.futures.Future[Any]]:
        """From a worker thread: send a request now; the future gets its answer.

        The caller waits on the future with its own timeout, then :meth:`forget`s the id.
        """
        rid = next(self._ids)
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self.closed:
                raise PeerUnreachable(
                    f"connection to {short_id(self.remote_identity)} closed: {self.close_reason}"
                )
            self._pending[rid] = fut
            try:
                self._write(Request(rid, op, body))
            except BaseException:
                del self._pending[rid]
                raise
        return rid, fut

    def call_threadsafe(self, op: str, body: Any, timeout: float) -> Any:
        """From a worker thread: send a request and wait for its answer, reading the socket
        itself while no other thread does (its answer then wakes it directly).

        Raises :class:`TimeoutError` after ``timeout`` seconds (the connection stays open)
        and :class:`PeerUnreachable` when it closes meanwhile.
        """
        deadline = time.monotonic() + timeout
        fd = self._take_reading()  # before sending: a quick answer must not wake a reader
        try:
            rid, fut = self.request_threadsafe(op, body)
            try:
                if fd is not None:
                    self._read_until(fd, fut, deadline)
                return fut.result(max(0.0, deadline - time.monotonic()))
            finally:
                self.forget(rid)
        finally:
            if fd is not None:
                self._give_back_reading()

    def _take_reading(self) -> int | None:
        """The socket's descriptor, now ours to read, or None if another thread reads it."""
        with self._lock:
            if self._readers is None or self._waiter_reads or self.closed or self._sock is None:
                return None
            self._waiter_reads = True
            fd = self._sock.fileno()
            self._readers.disarm(fd)
            return fd

    def _give_back_reading(self) -> None:
        with self._lock:
            self._waiter_reads = False
            if self._readers is not None and self._sock is not None and not self.closed:
                self._readers.arm(self._sock.fileno())

    def _read_until(self, fd: int, fut: concurrent.futures.Future[Any], deadline: float) -> None:
        """Read and route frames until ``fut`` (ours) is settled, the deadline passes, or
        the connection fails; requests and messages that arrive go the loop's way."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not fut.done():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not poller.poll(math.ceil(left * 1000)):
                continue
            with self._lock:
                if self.closed or self._read_failed:
                    return
                requests = self._pull()
            for request in requests:
                self._on_loop(self._take_or_serve, request)

    def forget(self, rid: int) -> None:
        """Stop waiting for the answer of a :meth:`request_threadsafe` (a late one is dropped)."""
        with self._lock:
            self._pending.pop(rid, None)

    def respond(self, rid: int, body: Any) -> None:
        """Answer a request (once), from the loop or a worker thread."""
        try:
            self._write(Response(rid, body))
        except TransportError as exc:  # e.g. an answer over the frame limit
            self.respond_error(rid, f"answer not sent: {exc}")
        else:
            self._answered()

    def respond_error(self, rid: int, reason: str) -> None:
        """Answer a request (once) with a protocol-level error, from any thread."""
        with contextlib.suppress(TransportError):
            self._write(ErrorResponse(rid, reason))
        self._answered()

    def _answered(self) -> None:
        with self._lock:
            self._inbound -= 1
        self.last_active = time.monotonic()

    async def send_message(self, op: str, body: Any) -> None:
        self._write(OneWay(op, body))
        await self._drain()

    # -- receiving ------------------------------------------------------------------------
    def _on_data(self, data: bytes | None) -> None:
        """In the loop's read callback (before the reader threads take over, or for a
        connection without a socket of its own): feed the session (``None``: nothing new),
        then route every complete frame; anything wrong closes the connection."""
        if self.closed:
            return
        with self._lock:
            if data is not None:
                with contextlib.suppress(TransportError):  # raised again by _pull
                    self.session.receive_data(data)
            requests = self._pull(received=False)
        for request in requests:
            self._take_or_serve(request)

    def _on_readable(self) -> None:
        """On the reader thread the socket woke: read, route, re-arm; then run the first
        request here if the transport's runner takes it."""
        with self._lock:
            readers = self._readers
            if self._waiter_reads or self.closed or self._read_failed or readers is None:
                return  # a waiter reads it (and re-arms it), or it is going away
            requests = self._pull()
            if not self._read_failed and self._sock is not None:
                readers.arm(self._sock.fileno())
        if not requests:
            return
        first, rest = requests[0], requests[1:]
        for request in rest:
            self._on_loop(self._take_or_serve, request)
        run = self.manager.run_request
        if run is not None and readers.spare_reader() and run(self, first):
            return
        self._on_loop(self._take_or_serve, first)

    def _pull(self, *, received: bool = True) -> list[Request]:
        """Under the lock: read what the socket has (unless ``received`` is False: the loop
        fed the session), decrypt and route every complete frame in order; return the
        requests for the caller to dispatch. A failure marks the connection failed and has
        the loop close it."""
        requests: list[Request] = []
        try:
            if received:
                self._receive()
            while True:
                event = self.session.next_event()
                if event is None:
                    break
                if isinstance(event, Frame):
                    request = self._on_frame(event.payload)
                    if request is not None:
                        requests.append(request)
                elif isinstance(event, ConnectionClosed):
                    self._fail("peer closed the connection")
                    break
                else:  # pragma: no cover - once only
                    raise HandshakeError("second handshake on one connection")
        except TransportError as exc:
            log.warning("closing %r: %s", self, exc)
            self._fail(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not leave a half-working connection behind
            log.exception("closing %r after an internal error", self)
            self._fail(f"internal error: {exc}")
        return requests

    def _receive(self) -> None:
        """Feed the session what the socket holds now (it does not block)."""
        assert self._sock is not None
        for _ in range(16):  # at most 4 MiB in one go; the rest wakes a reader again
            try:
                data = self._sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise PeerUnreachable(f"read failed: {exc}") from None
            self.session.receive_data(data)  # b"": the end of the stream
            if len(data) < READ_CHUNK:
                return

    def _fail(self, reason: str) -> None:
        """Under the lock, off or on the loop: read no more, and close on the loop."""
        self._read_failed = True
        self.session.close()
        self._close_soon(reason)

    def _on_lost(self, exc: Exception | None) -> None:
        self.close(f"read failed: {exc}" if exc is not None else "peer closed the connection")

    def _on_frame(self, payload: bytes) -> Request | None:
        """Count, decode and route one frame, under the lock: answers settle their
        waiters, messages go to the loop; a request is counted in and returned."""
        self.last_active = time.monotonic()
        self.traffic.received_frames += 1
        self.traffic.received_bytes += LENGTH_PREFIX_LEN + len(payload) + TAGLEN
        message = protocol.decode(payload)  # ProtocolError closes the connection
        if isinstance(message, Response | ErrorResponse):
            fut = self._pending.get(message.id)
            if fut is None or fut.done():
                return None  # an answer after the caller gave up: dropped
            if isinstance(fut, asyncio.Future):
                self._on_loop(_settle, fut, message)
            else:
                _settle(fut, message)
        elif isinstance(message, Request):
            if self._inbound >= self.manager.max_inbound:
                self._write(ErrorResponse(message.id, "busy: too many requests in flight"))
                return None
            self._inbound += 1
            return message
        else:
            self._on_loop(self._deliver_soon, message)
        return None

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the loop: now if this is the loop's thread, else next."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is gone: so is the connection
                self._loop.call_soon_threadsafe(fn, *args)

    def _take_or_serve(self, request: Request) -> None:
        """On the loop: offer a counted-in request to ``take_request``, else serve it."""
        take = self.manager.take_request
        if take is None or not take(self, request):
            self._spawn(self._serve(request))

    def _deliver_soon(self, message: OneWay) -> None:
        self._spawn(self._deliver(message))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, request: Request) -> None:
        try:
            body = await self.manager.on_request(self, request)
        except ProtocolError as exc:
            self.respond_error(request.id, str(exc))
        except Exception as exc:
            log.exception("request %s from %r failed", request.op, self)
            self.respond_error(request.id, f"internal error: {type(exc).__name__}")
        else:
            self.respond(request.id, body)
        await self._drain()

    async def _deliver(self, message: OneWay) -> None:
        try:
            await self.manager.on_message(self, message)
        except Exception:
            log.exception("message %s from %r failed", message.op, self)

    # -- closing --------------------------------------------------------------------------
    def close(self, reason: str) -> None:
        """Close at once: drop the keys, abort the socket, fail every waiting request."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.close_reason = reason
            self.session.close()
            self._socket.sink = lambda data: None
            with contextlib.suppress(Exception):
                self._transport.abort()
            if self._sock is not None:
                if self._readers is not None:
                    self._readers.remove(self._sock.fileno())
                if self._waiter_reads:  # wakes the worker polling it
                    with contextlib.suppress(OSError):
                        self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()
            pending = list(self._pending.values())
            self._pending.clear()
            self._backlog.clear()
        log.info("connection %r closed: %s", self, reason)
        error = PeerUnreachable(
            f"connection to peer {short_id(self.remote_identity)} lost: {reason}"
        )
        for fut in pending:
            if not fut.done():
                fut.set_exception(error)
        self.manager._forget(self)

    async def wait_closed(self) -> None:
        await self._socket.closed


class Transport:
    """Listens, dials, and keeps at most one usable connection per peer identity."""

    def __init__(
        self,
        identity: nacl.signing.SigningKey,
        *,
        on_request: RequestHandler,
        on_message: MessageHandler,
        on_connected: ConnectedHandler | None = None,
        take_request: RequestTaker | None = None,
        run_request: RequestRunner | None = None,
        reader_threads: int = READER_THREADS,
        prologue: bytes = b"",
        max_frame_size: int = DEFAULT_MAX_FRAME,
        handshake_timeout: float = HANDSHAKE_TIMEOUT_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        max_inbound: int = MAX_INBOUND_PER_CONNECTION,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT_S,
        retire_grace: float = RETIRE_GRACE_S,
    ) -> None:
        self._key = identity
        self.identity = bytes(identity.verify_key)
        self.on_request = on_request
        self.on_message = on_message
        self.on_connected = on_connected
        self.take_request = take_request
        self.run_request = run_request
        self.reader_threads = reader_threads
        self._readers: ReaderPool | None = None
        self.prologue = prologue
        self.max_frame_size = max_frame_size
        self.handshake_timeout = handshake_timeout
        self.connect_timeout = connect_timeout
        self.max_inbound = max_inbound
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.retire_grace = retire_grace
        self._by_identity: dict[bytes, Connection] = {}
        self._all: set[Connection] = set()
        self._dialing: dict[tuple[str, bytes | None], asyncio.Future[Connection]] = {}
        self._handshaking: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._reaper: asyncio.Task[None] | None = None
        self.address: str | None = None
        self._stopped = False

    # -- lifecycle ------------------------------------------------------------------------
    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Socket(self._accept), host, port
        )
        sock_host, sock_port = self._server.sockets[0].getsockname()[:2]
        self.address = format_address(sock_host, sock_port)
        self._start_reaper()
        return self.address

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())

    async def stop(self) -> None:
        self._stopped = True
        if self._server is not None:
            self._server.close()
        if self._reaper is not None:
            self._reaper.cancel()
        for task in list(self._handshaking):
            task.cancel()
        conns = list(self._all)
        for conn in conns:
            conn.close("transport stopped")
        for conn in conns:
            await conn.wait_closed()
        if self._readers is not None:
            self._readers.stop()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def readers(self) -> ReaderPool:
        """The threads that read this transport's connections (started with the first)."""
        if self._readers is None:
            self._readers = ReaderPool(self.reader_threads)
        return self._readers

    @property
    def connections(self) -> list[Connection]:
        return [c for c in self._all if not c.closed]

    def connection_for(self, identity: bytes) -> Connection | None:
        conn = self._by_identity.get(identity)
        return conn if conn is not None and conn.usable else None

    # -- dialling -------------------------------------------------------------------------
    async def connect(self, address: str, expected_identity: bytes | None = None) -> Connection:
        """The open connection to this peer, or a new one; concurrent dials share one attempt."""
        if self._stopped:
            raise PeerUnreachable("the transport is stopped")
        if expected_identity is not None:
            if expected_identity == self.identity:
                raise PeerUnreachable("refusing to connect to this conductor itself")
            existing = self.connection_for(expected_identity)
            if existing is not None:
                return existing
        key = (address, expected_identity)
        pending = self._dialing.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._dial(address, expected_identity))
            self._dialing[key] = pending
            pending.add_done_callback(lambda t: self._dial_done(key, t))
        return await asyncio.shield(pending)

    def _dial_done(self, key: tuple[str, bytes | None], task: asyncio.Future[Connection]) -> None:
        self._dialing.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so a dial nobody awaits any more is not logged

    async def connect_via_relay(self, relay: str, expected_identity: bytes) -> Connection:
        """A connection to ``expected_identity`` through the relay service at ``relay``: the
        same Noise session end to end, the relay only copies its bytes."""
        if self._stopped:
            raise PeerUnreachable("the transport is stopped")
        if expected_identity == self.identity:
            raise PeerUnreachable("refusing to connect to this conductor itself")
        existing = self.connection_for(expected_identity)
        if existing is not None:
            return existing
        key = (f"relay {relay}", expected_identity)
        pending = self._dialing.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(
                self._dial(relay, expected_identity, preamble=dial_line(expected_identity))
            )
            self._dialing[key] = pending
            pending.add_done_callback(lambda t: self._dial_done(key, t))
        return await asyncio.shield(pending)

    async def accept_via_relay(self, relay: str, token: bytes) -> Connection:
        """Answer a call a relay announced (``INCOMING token``): connect to the relay,
        ``ACCEPT`` it, then run the handshake as the responder."""
        if self._stopped or len(self._all) + len(self._handshaking) >= self.max_connections:
            raise PeerUnreachable("not accepting connections")
        return await self._dial(relay, None, preamble=accept_line(token))

    async def _dial(
        self, address: str, expected_identity: bytes | None, *, preamble: bytes | None = None
    ) -> Connection:
        """Connect to ``address`` and run the handshake; with a ``preamble`` the address is a
        relay's: the line is sent and its ``OK`` awaited first. A relay ``ACCEPT`` (no
        expected identity) makes us the responder, everything else the initiator."""
        try:
            host, port = parse_address(address)
        except AgentInfoError as exc:
            raise PeerUnreachable(exc.message) from None
        via = f"relay {address}" if preamble is not None else address
        try:
            _, sock = await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(_Socket, host, port),
                self.connect_timeout,
            )
        except TimeoutError:
            raise PeerUnreachable(f"connecting to {address} timed out") from None
        except OSError as exc:
            raise PeerUnreachable(f"cannot connect to {address}: {exc.strerror or exc}") from None
        if preamble is not None:
            try:
                assert sock.transport is not None
                sock.transport.write(preamble)
                check_reply(await asyncio.wait_for(sock.read_line(MAX_LINE), self.connect_timeout))
            except (TimeoutError, ConnectionError, TransportError) as exc:
                sock.abort()
                if isinstance(exc, PeerUnreachable):
                    raise
                raise PeerUnreachable(f"relay {address}: {exc or 'timed out'}") from None
        session = SecureSession(
            self._key,
            initiator=not (preamble is not None and expected_identity is None),
            expected_remote_identity=expected_identity,
            prologue=self.prologue,
            max_frame_size=self.max_frame_size,
        )
        conn = await self._handshake(sock, session, via)
        if conn is None:
            raise PeerUnreachable(f"handshake with {via} failed")
        return conn

    # -- accepting ------------------------------------------------------------------------
    def _accept(self, sock: _Socket) -> None:
        if self._stopped or len(self._all) + len(self._handshaking) >= self.max_connections:
            sock.abort()
            return
        assert sock.transport is not None
        peer = sock.transport.get_extra_info("peername")
        address = format_address(peer[0], peer[1]) if peer else "?"
        session = SecureSession(
            self._key, initiator=False, prologue=self.prologue, max_frame_size=self.max_frame_size
        )
        task = asyncio.get_running_loop().create_task(self._handshake(sock, session, address))
        self._handshaking.add(task)  # counted (and cancellable) from the start
        task.add_done_callback(_handshake_done)

    async def _handshake(
        self, sock: _Socket, session: SecureSession, address: str
    ) -> Connection | None:
        task = asyncio.current_task()
        assert task is not None
        self._handshaking.add(task)
        try:
            await asyncio.wait_for(self._run_handshake(sock, session), self.handshake_timeout)
        except (TransportError, TimeoutError, ConnectionError, OSError) as exc:
            sock.abort()
            reason = (
                "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            )
            log.info("handshake with %s failed: %s", address, reason)
            raise PeerUnreachable(f"handshake with {address} failed: {reason}") from None
        except Exception:  # a bug must not leave the socket open or its slot taken
            sock.abort()
            log.exception("handshake with %s failed on an internal error", address)
            raise PeerUnreachable(f"handshake with {address} failed") from None
        except asyncio.CancelledError:
            sock.abort()
            raise
        finally:
            self._handshaking.discard(task)
        conn = Connection(self, sock, session, address)
        self._start_reaper()
        self._register(conn)
        conn.start()
        if self.on_connected is not None:
            try:
                self.on_connected(conn)
            except Exception:
                log.exception("on_connected failed for %r", conn)
        return conn

    async def _run_handshake(self, sock: _Socket, session: SecureSession) -> None:
        """Drive the session until it is open; bytes arrive through ``sock.sink``."""
        assert sock.transport is not None
        transport = sock.transport
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[None] = loop.create_future()
        lost: list[BaseException] = []

        def wake() -> None:
            if not arrived.done():
                arrived.set_result(None)

        def sink(data: bytes) -> None:
            with contextlib.suppress(TransportError):  # next_event raises it again below
                session.receive_data(data)
            wake()

        def on_lost(exc: Exception | None) -> None:
            lost.append(exc or ConnectionError("connection lost during the handshake"))
            wake()

        sock.on_lost = on_lost
        sock.attach(sink)
        while True:
            event = session.next_event()
            out = session.data_to_send()  # the first message, a reply, or the last one
            if out:
                transport.write(out)
            if event is not None:
                if not isinstance(event, HandshakeComplete):
                    raise HandshakeError("unexpected event during the handshake")
                sock.detach()  # what arrives next is the connection's
                return
            if lost:
                raise lost[0]
            await arrived
            arrived = loop.create_future()

    # -- bookkeeping ----------------------------------------------------------------------
    def _register(self, conn: Connection) -> None:
        self._all.add(conn)
        existing = self._by_identity.get(conn.remote_identity)
        if existing is None or not existing.usable:
            self._by_identity[conn.remote_identity] = conn
            return
        if existing.initiator_identity == conn.initiator_identity:
            keep, drop = conn, existing  # the same side dialled again: the old one is stale
        elif conn.initiator_identity < existing.initiator_identity:
            keep, drop = conn, existing
        else:
            keep, drop = existing, conn
        log.info(
            "two connections to %s: keeping %r, retiring %r",
            short_id(conn.remote_identity),
            keep,
            drop,
        )
        drop.retired = True
        drop.last_active = time.monotonic()
        self._by_identity[conn.remote_identity] = keep

    def _forget(self, conn: Connection) -> None:
        self._all.discard(conn)
        if self._by_identity.get(conn.remote_identity) is conn:
            del self._by_identity[conn.remote_identity]
            # A retired twin that is still open becomes the connection again.
            for other in self._all:
                if other.remote_identity == conn.remote_identity and not other.closed:
                    other.retired = False
                    self._by_identity[conn.remote_identity] = other
                    break

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            now = time.monotonic()
            for conn in list(self._all):
                quiet = now - conn.last_active
                if conn.idle and (
                    (conn.retired and quiet > self.retire_grace) or quiet > self.idle_timeout
                ):
                    conn.close("idle" if not conn.retired else "retired duplicate, idle")


def _settle(fut: asyncio.Future[Any] | concurrent.futures.Future[Any], message: Any) -> None:
    """Give a waiter its answer (an asyncio future on its loop, any other anywhere)."""
    if fut.done():
        return
    if isinstance(message, Response):
        fut.set_result(message.body)
    else:
        fut.set_exception(PeerUnreachable(f"peer refused the request: {message.reason}"))


def _handshake_done(task: asyncio.Task[Connection | None]) -> None:
    if not task.cancelled():
        task.exception()  # a failed handshake is logged where it fails


__all__ = ["Connection", "Transport", "short_id"]
