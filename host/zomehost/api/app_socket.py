"""The server side of one app WebSocket, whose messages any thread may write.

A worker thread that ran a client's zome call writes the answer itself — framed here, sent
on the connection's own duplicate of the socket — instead of handing it back to the event
loop (a thread wake-up, a task step and a loop iteration per call). Every write, websockets'
own included (handshake, pongs, pings, close), goes through one lock, so frames reach the
wire whole and in the order they were written: a worker sends only while asyncio has
nothing buffered; what the socket does not take at once is left for the loop to write
before anything else (the remote path's transport does the same, network/transport.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import threading
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State


class Sent(enum.Enum):
    """What :meth:`AppSocket.send_now` did with a message."""

    WHOLE = "whole"  # on the wire
    PART = "part"  # the socket took part of it; the loop writes the rest (``finish``)
    NOTHING = "nothing"  # nothing written: the loop must write it, in turn
    DROPPED = "dropped"  # the connection is closing or broken: nobody will read it


def binary_frame(message: bytes) -> bytes:
    """One unfragmented, unmasked binary frame (compression is never negotiated)."""
    return Frame(Opcode.BINARY, message).serialize(mask=False)


class AppSocket(ServerConnection):
    """A ``ServerConnection`` (what ``serve(create_connection=...)`` builds per client) that
    also writes whole binary messages from the loop (:meth:`send_locked`) or from a worker
    thread (:meth:`send_now`), under :attr:`write_lock`, and may hand a message that
    arrives to :attr:`take_message` in the read callback instead of queueing it for
    ``recv`` (no task wake-up per request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_lock = threading.RLock()
        """Held to write to the socket and to decide what is written next."""
        self._sock: socket.socket | None = None
        self._rest: list[bytes] = []  # what a worker's send left over, for the loop
        self.take_message: Callable[[bytes], bool] | None = None
        """Takes a whole binary message as it arrives (True), or leaves it to ``recv``."""

    def process_event(self, event: Event) -> None:
        take = self.take_message
        if (
            take is not None
            and isinstance(event, Frame)
            and event.opcode is Opcode.BINARY
            and event.fin
            and not len(self.recv_messages.frames)  # nothing left to recv before it
            and take(bytes(event.data))
        ):
            return
        super().process_event(event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        raw = transport.get_extra_info("socket")
        with contextlib.suppress(AttributeError, OSError):  # no duplicate: the loop writes all
            self._sock = raw.dup() if raw is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        with self.write_lock:  # no worker writes on a descriptor the system may reuse
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._rest.clear()
        super().connection_lost(exc)

    def send_data(self) -> None:
        """websockets' own writes, in turn with everyone else's."""
        with self.write_lock:
            self._write_rest()
            super().send_data()

    def _write_rest(self) -> None:
        for wire in self._rest:
            self.transport.write(wire)
        self._rest.clear()

    @property
    def open(self) -> bool:
        return self.protocol.state is State.OPEN and not self.transport.is_closing()

    def send_locked(self, wire: bytes) -> bool:
        """On the loop, holding :attr:`write_lock`: write a framed message after whatever
        was written before it; False if the connection is no longer open."""
        if not self.open:
            return False
        self._write_rest()
        self.transport.write(wire)
        return True

    def send_now(self, wire: bytes) -> Sent:
        """On a worker, holding :attr:`write_lock`: send a framed message if nothing is
        waiting to be written before it."""
        if not self.open:
            return Sent.DROPPED
        if self._sock is None or self._rest or self.transport.get_write_buffer_size():
            return Sent.NOTHING
        try:
            sent = self._sock.send(wire)
        except BlockingIOError:
            return Sent.NOTHING
        except OSError:  # reset or closed by the peer: the loop sees it and closes
            return Sent.DROPPED
        if sent == len(wire):
            return Sent.WHOLE
        if not sent:
            return Sent.NOTHING
        self._rest.append(wire[sent:])
        return Sent.PART

    async def drained(self) -> None:
        """Wait while asyncio's write buffer is over its limit; returns at once, without
        an error, once the connection is lost (whoever reads it sees it closed)."""
        with contextlib.suppress(Exception):  # the error connection_lost() was given
            await self.drain()

    def finish(self) -> None:
        """On the loop: write what a worker's :meth:`send_now` left over."""
        with self.write_lock:
            if self.open:
                self._write_rest()
            else:
                self._rest.clear()
