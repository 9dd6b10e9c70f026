"""One client socket of an interface: concurrent requests, bounded, and an app socket's
ordered writer of responses and signals, which worker threads write to as well."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from zomehost.api.app_socket import AppSocket, Sent, binary_frame
from zomehost.api.slots import Slots
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
        self.in_flight = Slots(MAX_IN_FLIGHT)  # given back by whoever writes the answer
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(
        self,
        handle: Callable[[str, Any], Awaitable[tuple[str, Any]]],
        take: Callable[[int, bytes | None], bool] | None = None,
    ) -> None:
        """Read requests until the socket closes. ``take(id, data)``, on the loop, may take a
        request off the general path (then it answers it and gives its in-flight slot back
        itself); every other request gets a task that awaits ``handle``. On an app socket a
        request with a free in-flight slot is served in the read callback
        (``AppSocket.take_message``); the others wait here, in order, for a slot."""
        ws = self.ws
        if isinstance(ws, AppSocket):
            ws.take_message = lambda frame: self._serve_now(frame, handle, take)
        async for frame in ws:
            rid, data = self._request(frame)
            if rid is None:
                continue
            await self.in_flight.take()
            self._dispatch(rid, data, handle, take)

    def _serve_now(
        self,
        frame: bytes,
        handle: Callable[[str, Any], Awaitable[tuple[str, Any]]],
        take: Callable[[int, bytes | None], bool] | None,
    ) -> bool:
        """In the read callback: serve a request at once if it gets an in-flight slot."""
        rid, data = self._request(frame)
        if rid is None:
            return True  # nothing to serve
        if not self.in_flight.try_take():
            return False  # serve() waits for a slot, and the socket stops being read
        self._dispatch(rid, data, handle, take)
        return True

    def _request(self, frame: bytes | str) -> tuple[int | None, bytes | None]:
        """A request's id and data; no id for anything else (dropped or ignored)."""
        env = decode_envelope(frame)
        if env is None:
            log.debug("%s %s: dropped an undecodable frame", self.kind, self.peer)
            return None, None
        if env.type != "request" or env.id is None:
            return None, None  # signals and late authenticates from a client are ignored
        return env.id, env.data

    def _dispatch(
        self,
        rid: int,
        data: bytes | None,
        handle: Callable[[str, Any], Awaitable[tuple[str, Any]]],
        take: Callable[[int, bytes | None], bool] | None,
    ) -> None:
        if take is None or not take(rid, data):
            self.spawn(self._answer(rid, data, handle))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """A task of this connection (shutdown waits for it)."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def error_frame(self, rid: int, tag: str, exc: Exception) -> bytes:
        """The answer to a request that failed: its typed kind, logged."""
        if not isinstance(exc, ZomehostError):
            log.error("%s request %s failed unexpectedly", self.kind, tag, exc_info=exc)
        kind = error_kind(exc)
        log.info("%s %s: %s -> %s: %s", self.kind, self.peer, tag, kind, error_message(exc))
        return encode_error(rid, kind, error_message(exc))

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
                frame = self.error_frame(rid, tag, exc)
            with contextlib.suppress(ConnectionClosed):
                await self.deliver(frame)
        finally:
            self.in_flight.give()

    async def deliver(self, frame: bytes) -> None:
        await self.ws.send(frame)

    async def drain(self) -> None:
        """Shutdown: wait (a bounded time) for the requests being served to be answered."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=DRAIN_TIMEOUT)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while not self.in_flight.idle and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # answers written by worker threads


class AppConnection(Connection):
    """An authenticated app socket with one ordered writer.

    Responses and signals leave in the order they were produced, so a call's signals reach
    the client before the call's response. A response with nothing queued ahead of it is
    written at once — by the worker that ran the call (:meth:`answer_from_worker`) when no
    signal is on its way either (``signals_pending``), else on the loop; otherwise it queues
    behind the writer task. Signals wait in a bounded queue (drop-oldest); a response holds
    its request's in-flight slot until the socket took it and asyncio's buffer is below its
    limit, so a client that does not read stops being read from.
    """

    kind = "app"
    ws: AppSocket

    def __init__(
        self,
        ws: AppSocket,
        app_id: str,
        cell_keys: set[bytes],
        call_slots: Slots,
        signals_pending: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(ws)
        self.app_id = app_id
        self.cell_keys = cell_keys
        self.app_access: AppAccess | None = None  # AppApi's cached check of the app
        self.call_slots = call_slots  # zome calls it may have waiting or running (admission)
        self.signals_pending = signals_pending  # signals emitted, not yet queued to connections
        self.signals: deque[tuple[int, bytes]] = deque()
        self.responses: deque[tuple[int, bytes, asyncio.Future[None]]] = deque()
        self.dropped = 0
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
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

    def answer_from_worker(self, frame: bytes) -> None:
        """On the thread that served a request (a worker, or the loop for a call it ran
        itself): write its answer at once when nothing is queued or on its way before it,
        else hand it to the loop; then (or once the loop wrote it) give the request's
        in-flight slot back."""
        wire = binary_frame(frame)
        with self.ws.write_lock:
            if self._closed:
                sent = Sent.DROPPED
            elif self.signals or self.responses or self.signals_pending():
                sent = Sent.NOTHING
            else:
                sent = self.ws.send_now(wire)
        if sent is Sent.WHOLE or sent is Sent.DROPPED:
            self.in_flight.give()
            return
        try:
            self._loop.call_soon_threadsafe(self._finish, None if sent is Sent.PART else frame)
        except RuntimeError:  # the loop is gone
            self.in_flight.give()

    def _finish(self, frame: bytes | None) -> None:
        self.spawn(self._finish_answer(frame))

    async def _finish_answer(self, frame: bytes | None) -> None:
        """On the loop: write a worker's answer (or the rest of it), then free its slot."""
        try:
            if frame is None:
                self.ws.finish()
                await self.ws.drained()
            else:
                await self.deliver(frame)
        finally:
            self.in_flight.give()

    async def deliver(self, frame: bytes) -> None:
        if self._closed:
            return
        wire = binary_frame(frame)
        with self.ws.write_lock:
            now = not self.responses and not self.signals
            if now:
                self.ws.send_locked(wire)
        if now:
            await self.ws.drained()
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        self.responses.append((next(self._seq), wire, fut))
        self._wake.set()
        await fut

    async def write(self) -> None:
        """The writer task: oldest frame first, across responses and signals."""
        try:
            while True:
                while True:
                    done: asyncio.Future[None] | None = None
                    with self.ws.write_lock:
                        if self.responses and (
                            not self.signals or self.responses[0][0] < self.signals[0][0]
                        ):
                            _, wire, done = self.responses.popleft()
                        elif self.signals:
                            wire = binary_frame(self.signals.popleft()[1])
                        else:
                            break
                        self.ws.send_locked(wire)
                    try:
                        await self.ws.drained()
                    finally:
                        if done is not None and not done.done():
                            done.set_result(None)
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
