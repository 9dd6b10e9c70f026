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
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from zomehost.api.admin import AdminApi
from zomehost.api.admission import CallAdmission
from zomehost.api.app import AppApi
from zomehost.api.app_socket import AppSocket
from zomehost.api.connection import AppConnection, Connection
from zomehost.api.origins import AllowedOrigins, origin_check
from zomehost.api.registry import AppInterface, Runtime
from zomehost.api.tokens import TokenStore
from zomehost.core.api_wire import (
    ADMIN_MAX_MESSAGE,
    APP_MAX_MESSAGE,
    ApiError,
    as_bytes,
    decode_envelope,
    encode_app_signal,
    internal,
)
from zomehost.core.codec import unpack
from zomehost.core.signal import Signal
from zomehost.errors import ZomehostError

log = logging.getLogger("zomehost.api")
T = TypeVar("T")

AUTH_TIMEOUT = 10.0  # seconds an app connection has to send `authenticate`
STATE_PREFIX = "api/app_interface/"
CLOSE_POLICY = 1008


# -- interfaces ---------------------------------------------------------------------------
class Interfaces:
    """The service owning every WebSocket interface."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.tokens = TokenStore()
        self.admin = AdminApi(runtime, self)
        self.admission = CallAdmission(self.conductor.config.admission)
        self.app = AppApi(runtime, self.admission)
        self.admission.dispatch = self.app.submit_call
        self.admin_server: Server | None = None
        self.admin_port = 0
        self.app_interfaces: dict[int, AppInterface] = {}
        self.admin_conns: set[Connection] = set()
        self.app_conns: set[AppConnection] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_apps: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals_lock = threading.Lock()
        self._signals_in_transit = 0  # emitted on a worker, not yet queued to connections

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.conductor.config
        origins = AllowedOrigins.parse(",".join(cfg.allowed_origins) or "*", web_wildcard=False)
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
        self._unsubscribe_apps = self.conductor.add_apps_listener(self._on_apps_changed)
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
        if self._unsubscribe_apps is not None:
            self._unsubscribe_apps()
            self._unsubscribe_apps = None
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
            assert isinstance(ws, AppSocket)
            await self._app_handler(ws, iface[0])

        try:
            server = await serve(
                handler,
                host,
                port,
                process_request=origin_check(origins),
                max_size=APP_MAX_MESSAGE,
                compression=None,
                create_connection=AppSocket,
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

    async def detach_app_interface(self, port: int) -> None:
        """Stop an interface this process attached without saving it (a served UI's)."""
        iface = self.app_interfaces.pop(port, None)
        if iface is not None:
            iface.server.close(close_connections=True)
            await iface.server.wait_closed()

    async def _app_handler(self, ws: AppSocket, iface: AppInterface) -> None:
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
        conn = AppConnection(
            ws,
            app_id,
            {cid.key for cid in app.cell_ids},
            self.admission.connection_slots(),
            self._signals_pending,
        )
        self.app_conns.add(conn)
        sender = asyncio.create_task(conn.write())
        log.debug("app client %s authenticated for %s", conn.peer, app_id)

        async def handle(tag: str, value: Any) -> tuple[str, Any]:
            return await self.app.handle(conn, tag, value)

        def take(rid: int, data: bytes | None) -> bool:
            return self.app.take_call(conn, rid, data)

        try:
            await conn.serve(handle, take)
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
        """Called by the conductor on a worker thread: hop to the loop, never wait. Until the
        loop has queued it, workers leave their answers to the loop (signals go first)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._signals_lock:
            self._signals_in_transit += 1
        try:
            loop.call_soon_threadsafe(self._dispatch_signal, signal)
        except RuntimeError:  # the loop closed meanwhile
            self._signal_queued()

    def _signals_pending(self) -> bool:
        return self._signals_in_transit > 0

    def _signal_queued(self) -> None:
        with self._signals_lock:
            self._signals_in_transit -= 1

    def _on_apps_changed(self) -> None:
        """An app changed (e.g. a clone cell was created): its connections' signals follow,
        read again on the loop before any signal emitted after the change."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._refresh_cell_keys)

    def _refresh_cell_keys(self) -> None:
        apps: dict[str, set[bytes]] = {}
        for conn in self.app_conns:
            if conn.app_id not in apps:
                try:
                    app = self.conductor.get_app(conn.app_id)
                except ZomehostError:  # uninstalled: no more signals
                    apps[conn.app_id] = set()
                else:
                    apps[conn.app_id] = {cid.key for cid in app.cell_ids}
            conn.cell_keys = apps[conn.app_id]

    def _dispatch_signal(self, signal: Signal) -> None:
        try:
            self._queue_signal(signal)
        finally:
            self._signal_queued()

    def _queue_signal(self, signal: Signal) -> None:
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
    # which wasm boundary runs the zome calls: a fallback is said once in the log, and
    # this lets clients, scripts and the bench see it too
    runtime.publish_endpoint("wasm_boundary", runtime.conductor.ribosome.boundary.kind)
    runtime.publish_endpoint("admin_port", ifaces.admin_port)
    print(f"zomehost: admin interface listening on ws://{host}:{ifaces.admin_port}", flush=True)
    return ifaces


__all__ = ["ApiError", "Interfaces", "Runtime", "start_interfaces"]
