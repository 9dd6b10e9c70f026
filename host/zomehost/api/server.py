"""The admin and app WebSocket interfaces of a running conductor.

``start_interfaces(runtime)`` opens the admin interface (``--admin-port`` or the config's
``admin_port``), reattaches the app interfaces saved in conductor state and subscribes to
the conductor's signals; the runtime keeps the returned :class:`Interfaces` as a service.

Isolation and flow control (docs/conductor-api.md, docs/clients.md):

* every interface binds loopback unless configured otherwise, and checks ``Origin`` at the
  HTTP upgrade (missing or not allowed → HTTP 400);
* messages are bounded (64 MiB admin, 16 MiB app; a bigger one closes that connection with
  1009); undecodable frames are dropped;
* each connection serves at most ``MAX_IN_FLIGHT`` requests at once, then stops reading
  (TCP backpressure on that client only);
* signals go through a bounded per-connection queue (``SIGNAL_QUEUE`` frames). A client that
  does not read fills its queue; then the **oldest** queued signal is dropped and counted.
  The conductor never waits for a client: a zome call that emits signals only appends to
  queues, so a slow client cannot stall zome calls or other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from zomehost.api.admin import AdminApi
from zomehost.api.app import AppAccess, AppApi
from zomehost.conductor.conductor import Conductor
from zomehost.core.api_wire import (
    ADMIN_MAX_MESSAGE,
    APP_MAX_MESSAGE,
    ApiError,
    as_bytes,
    decode_envelope,
    decode_request,
    encode_app_signal,
    encode_error,
    encode_response,
    error_kind,
    error_message,
    internal,
)
from zomehost.core.codec import unpack
from zomehost.core.signal import Signal
from zomehost.errors import ZomehostError

log = logging.getLogger("zomehost.api")
T = TypeVar("T")

MAX_IN_FLIGHT = 32  # requests served at once per connection
SIGNAL_QUEUE = 1024  # signal frames queued per app connection before the oldest is dropped
AUTH_TIMEOUT = 10.0  # seconds an app connection has to send `authenticate`
DRAIN_TIMEOUT = 10.0  # seconds shutdown waits for in-flight requests
STATE_PREFIX = "api/app_interface/"
CLOSE_POLICY = 1008


class Runtime(Protocol):
    """What the interfaces need from the process that runs them."""

    conductor: Conductor

    @property
    def admin_port(self) -> int | None: ...

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T: ...

    def publish_endpoint(self, name: str, value: Any) -> None: ...


# -- origins ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AllowedOrigins:
    """``"*"`` or a comma-separated list compared for exact equality."""

    any: bool
    origins: frozenset[str]
    text: str

    @classmethod
    def parse(cls, text: str) -> AllowedOrigins:
        items = [o.strip() for o in text.split(",") if o.strip()]
        if "*" in items:
            return cls(True, frozenset(), "*")
        return cls(False, frozenset(items), ",".join(items))

    def allows(self, origin: str) -> bool:
        return self.any or origin in self.origins


def origin_check(
    allowed: AllowedOrigins,
) -> Callable[[ServerConnection, Request], Response | None]:
    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        if origin is None:
            log.info("refused a connection without an Origin header")
            return conn.respond(400, "Missing `Origin` header")
        if not allowed.allows(origin):
            log.info("refused a connection from origin %r", origin)
            response = conn.respond(400, f"Origin {origin!r} is not allowed")
            response.headers["Access-Control-Allow-Origin"] = allowed.text
            return response
        return None

    return process_request


# -- tokens -------------------------------------------------------------------------------
@dataclass(slots=True)
class IssuedToken:
    app_id: str
    expires_at: int | None  # µs since the epoch
    single_use: bool


class TokenStore:
    """App authentication tokens (in memory: a restart invalidates them, as in Holochain)."""

    def __init__(self) -> None:
        self._tokens: dict[bytes, IssuedToken] = {}

    def issue(self, token: bytes, app_id: str, expires_at: int | None, single_use: bool) -> None:
        self._prune()
        self._tokens[token] = IssuedToken(app_id, expires_at, single_use)

    def revoke(self, token: bytes) -> None:
        self._tokens.pop(token, None)

    def revoke_app(self, app_id: str) -> None:
        for t in [t for t, v in self._tokens.items() if v.app_id == app_id]:
            del self._tokens[t]

    def use(self, token: bytes, interface_app: str | None) -> str | None:
        """The app id the token authenticates for on this interface, or ``None``."""
        issued = self._tokens.get(token)
        if issued is None:
            return None
        if issued.single_use:
            del self._tokens[token]
        if issued.expires_at is not None and issued.expires_at <= time.time_ns() // 1000:
            self._tokens.pop(token, None)
            return None
        if interface_app is not None and issued.app_id != interface_app:
            return None
        return issued.app_id

    def _prune(self) -> None:
        now = time.time_ns() // 1000
        for t in [t for t, v in self._tokens.items() if v.expires_at and v.expires_at <= now]:
            del self._tokens[t]


# -- connections --------------------------------------------------------------------------
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

    def __init__(self, ws: ServerConnection, app_id: str, cell_keys: set[bytes]) -> None:
        super().__init__(ws)
        self.app_id = app_id
        self.cell_keys = cell_keys
        self.app_access: AppAccess | None = None  # AppApi's cached check of the app
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


# -- interfaces ---------------------------------------------------------------------------
@dataclass(slots=True)
class AppInterface:
    port: int
    origins: AllowedOrigins
    installed_app_id: str | None
    bind: str
    server: Server


class Interfaces:
    """The service owning every WebSocket interface."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.tokens = TokenStore()
        self.admin = AdminApi(self)
        self.app = AppApi(self)
        self.admin_server: Server | None = None
        self.admin_port = 0
        self.app_interfaces: dict[int, AppInterface] = {}
        self.admin_conns: set[Connection] = set()
        self.app_conns: set[AppConnection] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.conductor.config
        origins = AllowedOrigins.parse(",".join(cfg.allowed_origins) or "*")
        self.admin_server = await serve(
            self._admin_handler,
            cfg.bind_address,
            self.runtime.admin_port,
            process_request=origin_check(origins),
            max_size=ADMIN_MAX_MESSAGE,
            compression=None,
            logger=logging.getLogger("zomehost.api.ws"),
        )
        self.admin_port = self.admin_server.sockets[0].getsockname()[1]
        self._unsubscribe = self.conductor.add_signal_listener(self._on_signal)
        for name in self.conductor.setting_names(STATE_PREFIX):
            doc = self.conductor.setting(name)
            try:
                await self.attach_app_interface(
                    int(doc["port"]),
                    str(doc["allowed_origins"]),
                    doc.get("installed_app_id"),
                    doc.get("bind"),
                    persist=False,
                )
            except Exception as exc:
                log.error("could not reattach app interface on port %s: %s", doc.get("port"), exc)
        log.info("admin interface on %s:%d", cfg.bind_address, self.admin_port)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        servers = [i.server for i in self.app_interfaces.values()]
        if self.admin_server is not None:
            servers.append(self.admin_server)
        for s in servers:  # stop accepting; open connections finish their requests first
            s.server.close()
        conns = list(self.admin_conns) + list(self.app_conns)
        await asyncio.gather(*(c.drain() for c in conns), return_exceptions=True)
        for s in servers:
            s.close(close_connections=True)
        await asyncio.gather(*(s.wait_closed() for s in servers), return_exceptions=True)
        log.info("interfaces closed")

    # -- admin ---------------------------------------------------------------------------
    async def _admin_handler(self, ws: ServerConnection) -> None:
        conn = Connection(ws)
        self.admin_conns.add(conn)
        log.debug("admin client %s connected", conn.peer)
        try:
            await conn.serve(self.admin.handle)
        except ConnectionClosed as exc:
            log.debug("admin client %s: %s", conn.peer, exc)
        finally:
            self.admin_conns.discard(conn)

    # -- app interfaces ------------------------------------------------------------------
    async def attach_app_interface(
        self,
        port: int,
        origins_text: str,
        app_id: str | None,
        bind: str | None,
        *,
        persist: bool = True,
    ) -> int:
        if port and port in self.app_interfaces:
            raise internal(f"port {port} already has an app interface")
        origins = AllowedOrigins.parse(origins_text)
        host = bind or self.conductor.config.bind_address
        iface: list[AppInterface] = []

        async def handler(ws: ServerConnection) -> None:
            await self._app_handler(ws, iface[0])

        try:
            server = await serve(
                handler,
                host,
                port,
                process_request=origin_check(origins),
                max_size=APP_MAX_MESSAGE,
                compression=None,
                logger=logging.getLogger("zomehost.api.ws"),
            )
        except OSError as exc:
            raise internal(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        real = server.sockets[0].getsockname()[1]
        iface.append(AppInterface(real, origins, app_id, host, server))
        self.app_interfaces[real] = iface[0]
        if persist:
            doc = {
                "port": real,
                "allowed_origins": origins.text,
                "installed_app_id": app_id,
                "bind": bind,
            }
            await self.runtime.in_worker(self.conductor.put_setting, STATE_PREFIX + str(real), doc)
        log.info(
            "app interface on %s:%d (origins %s%s)",
            host,
            real,
            origins.text,
            f", app {app_id}" if app_id else "",
        )
        return int(real)

    async def _app_handler(self, ws: ServerConnection, iface: AppInterface) -> None:
        try:
            first = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT)
        except TimeoutError:
            await ws.close(CLOSE_POLICY, "authenticate within 10 s")
            return
        except ConnectionClosed:
            return
        env = decode_envelope(first)
        if env is None or env.type != "authenticate":
            log.info("app client: first message was not authenticate; closing")
            await ws.close(CLOSE_POLICY, "the first message must be authenticate")
            return
        app_id: str | None = None
        try:
            doc = unpack(env.data or b"")
            if isinstance(doc, dict):
                app_id = self.tokens.use(as_bytes(doc.get("token")), iface.installed_app_id)
        except Exception:
            app_id = None
        if app_id is None:
            log.info("app client: invalid authentication token; closing")
            await ws.close(CLOSE_POLICY, "invalid app authentication token")
            return
        try:
            app = await self.runtime.in_worker(self.conductor.get_app, app_id)
        except ZomehostError:
            await ws.close(CLOSE_POLICY, "the token's app is not installed")
            return
        conn = AppConnection(ws, app_id, {cid.key for cid in app.cell_ids})
        self.app_conns.add(conn)
        sender = asyncio.create_task(conn.write())
        log.debug("app client %s authenticated for %s", conn.peer, app_id)

        async def handle(tag: str, value: Any) -> tuple[str, Any]:
            return await self.app.handle(conn, tag, value)

        try:
            await conn.serve(handle)
        except ConnectionClosed as exc:
            log.debug("app client %s: %s", conn.peer, exc)
        finally:
            self.app_conns.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            conn.close_outbox()

    def app_uninstalled(self, app_id: str) -> None:
        """Revoke the app's tokens. Its open connections stay (as in Holochain): ``app_info``
        answers nil and calls fail. Closing them would hang ``@holochain/client``'s
        ``close()``, which waits for a close event that already happened."""
        self.tokens.revoke_app(app_id)

    # -- signals -------------------------------------------------------------------------
    def _on_signal(self, signal: Signal) -> None:
        """Called by the conductor on a worker thread: hop to the loop, never wait."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._dispatch_signal, signal)

    def _dispatch_signal(self, signal: Signal) -> None:
        key = signal.cell.key
        targets = [c for c in self.app_conns if key in c.cell_keys]
        if not targets:
            return
        try:
            unpack(signal.payload)
        except Exception:
            log.warning("dropped a signal from %s that is not one msgpack value", signal.zome_name)
            return
        frame = encode_app_signal(signal.cell, signal.zome_name, signal.payload)
        for c in targets:
            c.push_signal(frame)


async def start_interfaces(runtime: Runtime) -> Interfaces:
    """Open the admin interface and reattach the saved app interfaces."""
    ifaces = Interfaces(runtime)
    await ifaces.start()
    host = runtime.conductor.config.bind_address
    runtime.publish_endpoint("admin_port", ifaces.admin_port)
    print(f"zomehost: admin interface listening on ws://{host}:{ifaces.admin_port}", flush=True)
    return ifaces


__all__ = ["ApiError", "Interfaces", "Runtime", "start_interfaces"]
