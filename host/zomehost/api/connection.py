"""One client socket of an interface: concurrent requests, bounded, and an app socket's
ordered writer of responses and signals."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from zomehost.core.api_wire import (
    decode_envelope,
    decode_request,
    encode_error,
    encode_response,
    error_kind,
    error_message,
)
from zomehost.errors import ZomehostError

log = logging.getLogger("zomehost.api")

MAX_IN_FLIGHT = 32  # requests served at once per connection
SIGNAL_QUEUE = 1024  # signal frames queued per app connection before the oldest is dropped
DRAIN_TIMEOUT = 10.0  # seconds shutdown waits for in-flight requests


@dataclass(frozen=True, slots=True)
class AppAccess:
    """What a call checks about its connection's app, as of ``Conductor.apps_version``."""

    version: int
    cell_keys: frozenset[bytes]
    installed: bool
    enabled: bool


class Connection:
    """One client socket: concurrent requests, bounded in flight."""

    kind = "admin"

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.peer = f"{ws.remote_address[0]}:{ws.remote_address[1]}" if ws.remote_address else "?"
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(self, handle: Callable[[str, Any], Awaitable[tuple[str, Any]]]) -> None:
        async for frame in self.ws:
            env = decode_envelope(frame)
            if env is None:
                log.debug("%s %s: dropped an undecodable frame", self.kind, self.peer)
                continue
            if env.type != "request" or env.id is None:
                continue  # signals and late authenticates from a client are ignored
            await self.in_flight.acquire()
            task = asyncio.create_task(self._answer(env.id, env.data, handle))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _answer(
        self,
        rid: int,
        data: bytes | None,
        handle: Callable[[str, Any], Awaitable[tuple[str, Any]]],
    ) -> None:
        tag = "?"
        try:
            try:
                tag, value = decode_request(data)
                rtag, rvalue = await handle(tag, value)
                frame = encode_response(rid, rtag, rvalue)
            except Exception as exc:
                if not isinstance(exc, ZomehostError):
                    log.exception("%s request %s failed unexpectedly", self.kind, tag)
                kind = error_kind(exc)
                log.info("%s %s: %s -> %s: %s", self.kind, self.peer, tag, kind, error_message(exc))
                frame = encode_error(rid, kind, error_message(exc))
            with contextlib.suppress(ConnectionClosed):
                await self.deliver(frame)
        finally:
            self.in_flight.release()

    async def deliver(self, frame: bytes) -> None:
        await self.ws.send(frame)

    async def drain(self) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=DRAIN_TIMEOUT)


class AppConnection(Connection):
    """An authenticated app socket with one ordered writer.

    Responses and signals leave in the order they were produced, so a call's signals reach
    the client before the call's response: a response with nothing queued ahead of it is
    written at once (``ws.send`` writes a whole message before it waits for the buffer to
    drain), otherwise it queues behind the writer task. Signals wait in a bounded queue
    (drop-oldest); a response holds its request's in-flight slot until it is written, so a
    client that does not read stops being read from.
    """

    kind = "app"

    def __init__(
        self,
        ws: ServerConnection,
        app_id: str,
        cell_keys: set[bytes],
        call_slots: asyncio.Semaphore,
    ) -> None:
        super().__init__(ws)
        self.app_id = app_id
        self.cell_keys = cell_keys
        self.app_access: AppAccess | None = None  # AppApi's cached check of the app
        self.call_slots = call_slots  # zome calls it may have waiting or running (admission)
        self.signals: deque[tuple[int, bytes]] = deque()
        self.responses: deque[tuple[int, bytes, asyncio.Future[None]]] = deque()
        self.dropped = 0
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._closed = False

    def push_signal(self, frame: bytes) -> None:
        """Queue a signal frame; never blocks. Full queue: drop the oldest and count it."""
        if self._closed:
            return
        if len(self.signals) >= SIGNAL_QUEUE:
            self.signals.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "app client %s (%s) is not reading its signals: %d dropped so far",
                    self.peer,
                    self.app_id,
                    self.dropped,
                )
        self.signals.append((next(self._seq), frame))
        self._wake.set()

    async def deliver(self, frame: bytes) -> None:
        if self._closed:
            return
        if not self.responses and not self.signals:
            await self.ws.send(frame)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.responses.append((next(self._seq), frame, fut))
        self._wake.set()
        await fut

    async def write(self) -> None:
        """The writer task: oldest frame first, across responses and signals."""
        try:
            while True:
                while self.signals or self.responses:
                    if self.responses and (
                        not self.signals or self.responses[0][0] < self.signals[0][0]
                    ):
                        _, frame, fut = self.responses.popleft()
                        try:
                            await self.ws.send(frame)
                        finally:
                            if not fut.done():
                                fut.set_result(None)
                    else:
                        await self.ws.send(self.signals.popleft()[1])
                self._wake.clear()
                await self._wake.wait()
        finally:
            self.close_outbox()

    def close_outbox(self) -> None:
        self._closed = True
        self.signals.clear()
        while self.responses:
            _, _, fut = self.responses.popleft()
            if not fut.done():
                fut.set_result(None)
