"""Relays: how a conductor nobody can dial (behind NAT) is reached anyway.

A relay is a TCP service that splices two sockets together. A conductor behind NAT keeps a
*control connection* to one or more relays, registered under its transport identity, and
lists those relays in the agent infos it signs. A caller that cannot dial the conductor
asks a relay to ``DIAL`` that identity; the relay tells the conductor (``INCOMING``), the
conductor opens a new connection to the relay for it (``ACCEPT``), and from then on the
relay copies bytes between the two sockets. The caller and the conductor run the usual Noise
XX handshake over those bytes, bound to the transport identity in the agent info: the
relay forwards ciphertext it can neither read nor forge (a changed byte closes the session).

Wire (before any bytes are spliced): ASCII lines ending in ``\\n``, at most 4 KiB::

    target, control:   → REGISTER
                       ← CHALLENGE <nonce: 64 hex>
                       → PROOF <agent info text> <signature: 128 hex>
                       ← OK direct | OK relayed | ERR <reason>
                       then ← INCOMING <token: 32 hex> per caller; → PING, ← PONG
    caller:            → DIAL <transport id: 64 hex>
                       ← OK (the target accepted; spliced from here) | ERR <reason>
    target, per call:  → ACCEPT <token>
                       ← OK (spliced from here) | ERR <reason>

``PROOF`` carries any valid signed agent info whose transport identity is the one that
registers, and an Ed25519 signature by that transport key over
``b"zomehost-relay/1\\x00" ‖ nonce``: a valid signed agent info (and the key it names) is all
a relay requires. ``OK direct`` says the relay could open a TCP connection to the agent
info's address, which names the very IP the registration came from; ``OK relayed`` says it
could not (or the address is another, e.g. private behind NAT): that is how a conductor
with ``reachable: auto`` learns whether it needs relays. The relay only ever probes the IP
a registration comes from. Every resource is bounded (:class:`RelayLimits`): registered conductors,
circuits per conductor and in all, calls waiting to be accepted, open sockets, and bytes per
second per registered conductor (all its circuits, both directions, one token bucket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.signing

from zomehost.core.config_keys import bounds
from zomehost.network.agent_info import SignedAgentInfo, format_address, parse_address
from zomehost.network.errors import AgentInfoError, PeerUnreachable

log = logging.getLogger("zomehost.network.relay")

LABEL = b"zomehost-relay/1\x00"
MAX_LINE = 4096
HEADER_TIMEOUT_S = 10.0
ACCEPT_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 2.0
PING_S = 10.0
CONTROL_IDLE_S = 3 * PING_S
"""A control connection that says nothing for this long is closed."""
CHUNK = 65536

Tap = Callable[[str, bytes], None]
"""Sees every spliced chunk (direction "to_target" | "to_caller"): for tests and audits."""


MAX_LIMIT = 2**40  # any relay bound above this is a typo


@dataclass
class RelayLimits:
    max_clients: int = field(default=1000, metadata=bounds(1, MAX_LIMIT))
    max_circuits_per_client: int = field(default=64, metadata=bounds(1, MAX_LIMIT))
    max_circuits: int = field(default=4096, metadata=bounds(1, MAX_LIMIT))
    max_pending_per_client: int = field(default=16, metadata=bounds(1, MAX_LIMIT))
    max_sockets: int = field(default=8192, metadata=bounds(1, MAX_LIMIT))
    bytes_per_s: int = field(default=1024 * 1024, metadata=bounds(1, MAX_LIMIT))
    """Per registered conductor, over all its circuits and both directions."""


class RateLimit:
    """A token bucket with debt: a burst of one second, then ``rate`` bytes per second."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._tokens = float(rate)
        self._at = time.monotonic()

    async def take(self, n: int) -> None:
        now = time.monotonic()
        self._tokens = min(float(self.rate), self._tokens + (now - self._at) * self.rate) - n
        self._at = now
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)


# -- the lines ------------------------------------------------------------------------------
def dial_line(identity: bytes) -> bytes:
    return b"DIAL " + identity.hex().encode() + b"\n"


def accept_line(token: bytes) -> bytes:
    return b"ACCEPT " + token.hex().encode() + b"\n"


def check_reply(line: bytes) -> bytes:
    """A relay's answer: ``OK [word]`` gives the word (or b""), else :class:`PeerUnreachable`."""
    verb, _, word = line.strip().partition(b" ")
    if verb == b"OK":
        return word
    verb, _, reason = line.strip().partition(b" ")
    text = reason.decode("ascii", "replace")[:200] if verb == b"ERR" else "no answer"
    raise PeerUnreachable(f"the relay refused: {text}")


def _hex(text: bytes, size: int) -> bytes | None:
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return raw if len(raw) == size else None


# -- the service ----------------------------------------------------------------------------
@dataclass
class _Client:
    """A conductor registered with this relay (its control connection)."""

    identity: bytes
    writer: asyncio.StreamWriter
    bucket: RateLimit
    circuits: int = 0
    forwarded: int = 0
    pending: dict[bytes, asyncio.Future[tuple[asyncio.StreamWriter, asyncio.StreamReader]]] = field(
        default_factory=dict
    )


class RelayServer:
    """The relay service (``zomehost relay``, ``zomehost bootstrap --relay-port``, or a
    conductor's ``network.relay_server``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RelayLimits | None = None,
        *,
        tap: Tap | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.limits = limits or RelayLimits()
        self.tap = tap
        self.clients: dict[bytes, _Client] = {}
        self.circuits = 0
        self._sockets = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.address: str | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=CHUNK)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = format_address(host, port)
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._sockets >= self.limits.max_sockets:
            writer.transport.abort()
            return
        self._sockets += 1
        self._writers.add(writer)
        try:
            line = await asyncio.wait_for(_read_line(reader), HEADER_TIMEOUT_S)
            verb, _, arg = line.partition(b" ")
            if verb == b"REGISTER" and not arg:
                await self._register(reader, writer)
            elif verb == b"DIAL":
                await self._dial(arg, reader, writer)
            elif verb == b"ACCEPT":
                await self._accept(arg, reader, writer)
            else:
                _refuse(writer, "unknown request")
        except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        except PeerUnreachable as exc:  # a line over the limit
            _refuse(writer, str(exc))
        except Exception:
            log.exception("relay connection failed")
        finally:
            self._sockets -= 1
            self._writers.discard(writer)
            writer.transport.abort()

    async def _register(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonce = os.urandom(32)
        writer.write(b"CHALLENGE " + nonce.hex().encode() + b"\n")
        line = await asyncio.wait_for(_read_line(reader), HEADER_TIMEOUT_S)
        verb, _, rest = line.partition(b" ")
        text, _, signature_hex = rest.rpartition(b" ")
        signature = _hex(signature_hex, 64)
        if verb != b"PROOF" or signature is None:
            return _refuse(writer, "expected PROOF <agent info> <signature>")
        try:
            record = SignedAgentInfo.from_text(text.decode("ascii"))
        except (AgentInfoError, UnicodeDecodeError) as exc:
            return _refuse(writer, f"no valid agent info: {exc}")
        identity = record.info.transport_id
        try:
            nacl.signing.VerifyKey(identity).verify(LABEL + nonce, signature)
        except (nacl.exceptions.BadSignatureError, ValueError):
            return _refuse(writer, "the proof is not signed by the agent info's transport key")
        old = self.clients.get(identity)
        if old is None and len(self.clients) >= self.limits.max_clients:
            return _refuse(writer, "this relay is full")
        if old is not None:  # the same conductor again (e.g. after a restart): the new one wins
            old.writer.transport.abort()
        direct = await _probe(record.info.address, writer.get_extra_info("peername"))
        client = _Client(identity, writer, RateLimit(self.limits.bytes_per_s))
        self.clients[identity] = client
        writer.write(b"OK direct\n" if direct else b"OK relayed\n")
        log.info("relay: %s registered", identity.hex()[:12])
        try:
            while True:
                line = await asyncio.wait_for(_read_line(reader), CONTROL_IDLE_S)
                if line == b"PING":
                    writer.write(b"PONG\n")
        finally:
            if self.clients.get(identity) is client:
                del self.clients[identity]
            for fut in client.pending.values():
                if not fut.done():
                    fut.cancel()

    async def _dial(
        self, arg: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = _hex(arg, 32)
        client = self.clients.get(target) if target is not None else None
        if client is None:
            return _refuse(writer, "no such conductor is registered here")
        limits = self.limits
        if (
            client.circuits >= limits.max_circuits_per_client
            or self.circuits >= limits.max_circuits
            or len(client.pending) >= limits.max_pending_per_client
        ):
            return _refuse(writer, "busy: too many circuits")
        token = os.urandom(16)
        accepted: asyncio.Future[tuple[asyncio.StreamWriter, asyncio.StreamReader]] = (
            asyncio.get_running_loop().create_future()
        )
        client.pending[token] = accepted
        client.writer.write(b"INCOMING " + token.hex().encode() + b"\n")
        try:
            t_writer, t_reader = await asyncio.wait_for(accepted, ACCEPT_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            return _refuse(writer, "the conductor did not accept")
        finally:
            client.pending.pop(token, None)
        t_writer.write(b"OK\n")
        writer.write(b"OK\n")
        client.circuits += 1
        self.circuits += 1
        try:
            await self._splice(client, reader, writer, t_reader, t_writer)
        finally:
            client.circuits -= 1
            self.circuits -= 1
            t_writer.transport.abort()

    async def _accept(
        self, arg: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        token = _hex(arg, 16)
        for client in self.clients.values():
            fut = client.pending.get(token) if token is not None else None
            if fut is not None and not fut.done():
                fut.set_result((writer, reader))
                # The dialling side splices this socket; keep it open until it is closed.
                await writer.wait_closed()
                return
        _refuse(writer, "no such incoming call")

    def forward(self, direction: str, data: bytes) -> bytes:
        """What goes on for a spliced chunk: the same bytes (shown to ``tap`` if set)."""
        if self.tap is not None:
            self.tap(direction, data)
        return data

    async def _splice(
        self,
        client: _Client,
        c_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        t_reader: asyncio.StreamReader,
        t_writer: asyncio.StreamWriter,
    ) -> None:
        """Copy bytes both ways, within the client's rate; either end closing ends both."""

        async def pipe(
            direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            while data := await reader.read(CHUNK):
                await client.bucket.take(len(data))
                client.forwarded += len(data)
                writer.write(self.forward(direction, data))
                await writer.drain()

        pipes = [
            asyncio.ensure_future(pipe("to_target", c_reader, t_writer)),
            asyncio.ensure_future(pipe("to_caller", t_reader, c_writer)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            for task in pipes:
                with contextlib.suppress(BaseException):
                    await task


async def _probe(address: str, peer: Any) -> bool:
    """Can this relay dial ``address``? Only tried when it names the registrant's own IP."""
    host, port = parse_address(address)
    if not isinstance(peer, tuple) or peer[0] != host:
        return False
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT_S)
    except (OSError, TimeoutError):
        return False
    writer.transport.abort()
    return True


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """One line without its end; over ``MAX_LINE`` is refused, end of stream is an error."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise PeerUnreachable(f"a line over {MAX_LINE} bytes") from None
    if len(line) > MAX_LINE:
        raise PeerUnreachable(f"a line over {MAX_LINE} bytes")
    return line[:-1].rstrip(b"\r")


def _refuse(writer: asyncio.StreamWriter, reason: str) -> None:
    with contextlib.suppress(Exception):
        writer.write(b"ERR " + reason.encode("ascii", "replace")[:200] + b"\n")


# -- the conductor's side: registrations with relays ----------------------------------------
Incoming = Callable[[str, bytes], Awaitable[None]]
"""(relay address, token): open a connection to the relay and ``ACCEPT`` the call."""


class RelayLink:
    """One registration: the control connection to one relay."""

    def __init__(
        self,
        address: str,
        key: nacl.signing.SigningKey,
        record: SignedAgentInfo,
        on_incoming: Incoming,
    ) -> None:
        self.address = address
        self.key = key
        self.record = record
        self.on_incoming = on_incoming
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.direct = False
        """What the relay said at registration: it could dial our address itself."""

    async def register(self, timeout: float) -> None:
        """Connect and prove our identity; :class:`PeerUnreachable` when the relay refuses."""
        host, port = parse_address(self.address)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=CHUNK), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise PeerUnreachable(f"relay {self.address}: {exc}") from None
        self._reader, self._writer = reader, writer
        try:
            writer.write(b"REGISTER\n")
            line = await asyncio.wait_for(_read_line(reader), timeout)
            verb, _, nonce_hex = line.partition(b" ")
            nonce = _hex(nonce_hex, 32)
            if verb != b"CHALLENGE" or nonce is None:
                check_reply(line)
                raise PeerUnreachable("the relay sent no challenge")
            signature = self.key.sign(LABEL + nonce).signature
            writer.write(
                b"PROOF " + self.record.to_text().encode() + b" " + signature.hex().encode() + b"\n"
            )
            word = check_reply(await asyncio.wait_for(_read_line(reader), timeout))
            self.direct = word == b"direct"
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self.close()
            raise PeerUnreachable(f"relay {self.address}: registration failed: {exc}") from None
        except PeerUnreachable:
            self.close()
            raise

    async def serve(self) -> None:
        """Answer ``INCOMING`` and keep the link alive until the relay goes away."""
        assert self._reader is not None and self._writer is not None
        reader, writer = self._reader, self._writer
        pinger = asyncio.ensure_future(self._ping(writer))
        try:
            while True:
                line = await _read_line(reader)
                verb, _, arg = line.partition(b" ")
                token = _hex(arg, 16) if verb == b"INCOMING" else None
                if token is not None:
                    task = asyncio.ensure_future(self.on_incoming(self.address, token))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (OSError, asyncio.IncompleteReadError, PeerUnreachable):
            pass
        finally:
            pinger.cancel()
            self.close()

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(PING_S)
            writer.write(b"PING\n")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()


class RelayPool:
    """Keeps up to ``count`` registrations among the configured relays, replacing any that
    die (round-robin over the list); ``on_change`` is told when the live set changes, so the
    agent infos that list them are signed again at once."""

    def __init__(
        self,
        addresses: list[str],
        count: int,
        key: nacl.signing.SigningKey,
        *,
        record: Callable[[], SignedAgentInfo | None],
        on_incoming: Incoming,
        on_change: Callable[[], None],
        timeout: float = 5.0,
    ) -> None:
        self.candidates = list(addresses)
        self.count = count
        self.key = key
        self.record = record
        self.on_incoming = on_incoming
        self.on_change = on_change
        self.timeout = timeout
        self.live: dict[str, RelayLink] = {}
        self._next = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def addresses(self) -> tuple[str, ...]:
        """The relays we are registered with, in the configured order."""
        return tuple(a for a in self.candidates if a in self.live)

    @property
    def dialable(self) -> bool:
        """Some relay we are registered with could dial our address itself."""
        return any(link.direct for link in self.live.values())

    async def maintain(self) -> None:
        """Register with more relays while fewer than ``count`` are live (one try each)."""
        record = self.record()
        if record is None:
            return  # nothing runs here that anyone could call
        tried = 0
        while len(self.live) < self.count and tried < len(self.candidates):
            address = self.candidates[self._next % len(self.candidates)]
            self._next += 1
            tried += 1
            if address in self.live:
                continue
            link = RelayLink(address, self.key, record, self.on_incoming)
            try:
                await link.register(self.timeout)
            except PeerUnreachable as exc:
                log.info("relay %s: %s", address, exc)
                continue
            log.info("registered with relay %s", address)
            self.live[address] = link
            task = asyncio.ensure_future(self._serve(link))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.on_change()

    async def _serve(self, link: RelayLink) -> None:
        try:
            await link.serve()
        finally:
            if self.live.get(link.address) is link:
                del self.live[link.address]
                log.info("relay %s lost", link.address)
                self.on_change()

    def stop(self) -> None:
        for link in list(self.live.values()):
            link.close()
        for task in list(self._tasks):
            task.cancel()


async def until_signalled() -> None:
    """Wait for SIGINT or SIGTERM (the services' command-line runs)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(host: str, port: int, limits: RelayLimits | None = None) -> None:
    """Run a relay service until SIGINT/SIGTERM (``zomehost relay``)."""
    server = RelayServer(host, port, limits)
    print(f"zomehost: relay listening on {await server.start()}", flush=True)
    try:
        await until_signalled()
    finally:
        await server.stop()
        print("zomehost: relay stopped", flush=True)


__all__ = [
    "RateLimit",
    "RelayLimits",
    "RelayLink",
    "RelayPool",
    "RelayServer",
    "accept_line",
    "check_reply",
    "dial_line",
    "serve",
    "until_signalled",
]
