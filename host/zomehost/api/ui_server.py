"""Web UIs served by the conductor: each installed ``.webhapp``'s UI on its own loopback port.

For each app with a UI (docs/web-ui.md), ``zomehost run``:

* serves the UI's files at ``http://127.0.0.1:PORT/`` from memory (the files the bundle named,
  nothing else: a request path is looked up, never joined onto a directory);
* attaches an app interface bound to that app whose allowed origin is exactly that UI's
  origin, so no other page (and no other app's page) may open it;
* injects into ``index.html`` what the Holochain Launcher gives a UI —
  ``window.__HC_LAUNCHER_ENV__ = {APP_INTERFACE_PORT, APP_INTERFACE_TOKEN, INSTALLED_APP_ID}``,
  which ``@holochain/client``'s ``AppWebsocket.connect()`` reads — with a fresh single-use
  app authentication token for that app only, and ``launcher.js``, which defines
  ``window.__HC_ZOME_CALL_SIGNER__``: the page's zome calls are signed by the conductor as the
  app's agent (the Launcher's way), through ``POST /.zomehost/sign-zome-call``, which signs
  only calls to this app's cells, as this app's agent, for requests from this origin that
  carry the page's session secret.

Every request must name the site in ``Host`` (``127.0.0.1:PORT``; ``localhost:PORT`` is
redirected), which defeats DNS rebinding. Pages get a Content-Security-Policy that lets them
load only their own files and connect only to their own app interface. The admin interface
refuses web origins (docs/conductor-api.md), so a page never reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zomehost.api.dashboard import DashboardSite
from zomehost.api.http_server import HttpRequest, HttpResponse
from zomehost.api.web_site import (
    LOOPBACK,
    LoopbackSite,
    asset,
    content_type,
    in_head,
    script_json,
)
from zomehost.core.api_wire import APP_MAX_MESSAGE
from zomehost.core.web_bundle import UI_INDEX, UiFiles
from zomehost.core.zome_call import ZomeCallParams, params_digest
from zomehost.errors import ZomehostError

if TYPE_CHECKING:
    from zomehost.api.registry import Runtime
    from zomehost.api.server import Interfaces
    from zomehost.conductor.home import DashboardConfig

log = logging.getLogger("zomehost.api.ui")

LAUNCHER_PATH = "/.zomehost/launcher.js"
SIGN_PATH = "/.zomehost/sign-zome-call"
TOKEN_EXPIRY_S = 60  # a page load's app token: single use, this long to connect
WATCH_INTERVAL_S = 0.5  # how often installs and uninstalls are noticed
STATE_PREFIX = "ui_server/"
DASHBOARD_STATE = "ui_dashboard/port"  # app ids never hold "/": no clash


@dataclass(slots=True)
class SitePorts:
    """Where an app's UI and its app interface listen (kept so a restart reuses them)."""

    ui: int
    app: int

    @classmethod
    def from_state(cls, doc: object) -> SitePorts:
        """What was kept, or any free ports (0) when nothing usable was."""
        if not isinstance(doc, dict):
            return cls(0, 0)
        ui, app = doc.get("ui"), doc.get("app")
        if isinstance(ui, int) and isinstance(app, int) and 0 < ui < 65536 and 0 < app < 65536:
            return cls(ui, app)
        return cls(0, 0)


class AppSite(LoopbackSite):
    """One app's UI, its own app interface, and the signer its page uses."""

    def __init__(self, server: UiServer, app_id: str, ui: UiFiles) -> None:
        super().__init__(f"ui {app_id}", APP_MAX_MESSAGE)
        self.server = server
        self.app_id = app_id
        self.ui = ui
        self.app_port = 0

    def csp(self) -> str:
        ws = f"ws://localhost:{self.app_port} ws://{LOOPBACK}:{self.app_port}"
        return (
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            f"connect-src 'self' {ws}; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'; object-src 'none'"
        )

    async def route(self, request: HttpRequest, path: str) -> HttpResponse:
        if path == SIGN_PATH[1:]:
            if request.method != "POST":
                return HttpResponse.text(405, "POST only")
            return await self.sign(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse.text(405, "GET or HEAD only")
        if path == LAUNCHER_PATH[1:]:
            return HttpResponse(200, asset("launcher.js"), content_type("launcher.js"))
        if path == "" or path.endswith("/"):
            path += UI_INDEX
        if path == UI_INDEX:
            return await self.index()
        content = self.ui.get(path)
        if content is None:
            return HttpResponse.text(404, "not found")
        return HttpResponse(200, content, content_type(path))

    async def index(self) -> HttpResponse:
        """The page, with a fresh single-use token for this app only."""
        token = os.urandom(64)
        expires_at = (time.time_ns() // 1000) + TOKEN_EXPIRY_S * 1_000_000
        self.server.ifaces.tokens.issue(token, self.app_id, expires_at, single_use=True)
        app = await self.server.runtime.in_worker(self.server.conductor.get_app, self.app_id)
        env = script_json(
            {
                "APP_INTERFACE_PORT": self.app_port,
                "INSTALLED_APP_ID": self.app_id,
                "APP_INTERFACE_TOKEN": list(token),
            }
        )
        zomehost = script_json(
            {"session": self.session, "signPath": SIGN_PATH, "agent": str(app.agent)}
        )
        boot = (
            f"window.__HC_LAUNCHER_ENV__={env};"
            "window.__HC_LAUNCHER_ENV__.APP_INTERFACE_TOKEN="
            "new Uint8Array(window.__HC_LAUNCHER_ENV__.APP_INTERFACE_TOKEN);"
            f"window.__ZOMEHOST__={zomehost};"
        )
        html = self.ui.get(UI_INDEX) or b""
        launcher = f'<script src="{LAUNCHER_PATH}"></script>'.encode()
        return self.page(in_head(html, launcher), boot, self.csp())

    async def sign(self, request: HttpRequest) -> HttpResponse:
        """Sign a zome call as the app's agent: only for this app's cells."""
        if not self.has_session(request) or request.header("origin") != self.origin:
            return HttpResponse.text(403, "only this UI's own page may sign calls")
        try:
            params = ZomeCallParams.decode(request.body)
        except ZomehostError as exc:
            return HttpResponse.text(400, exc.message)
        conductor = self.server.conductor
        try:
            app = await self.server.runtime.in_worker(conductor.get_app, self.app_id)
        except ZomehostError as exc:
            return HttpResponse.text(404, exc.message)
        if params.provenance != app.agent or params.cell_id not in app.cell_ids:
            log.info("ui %s: refused to sign a call to %s", self.app_id, params.cell_id)
            return HttpResponse.text(
                403, f"this page signs only calls to app {self.app_id!r}'s cells, as its agent"
            )
        signature = await self.server.runtime.in_worker(
            conductor.sign, app.agent, params_digest(request.body)
        )
        return HttpResponse(200, signature, "application/octet-stream")


class UiServer:
    """The daemon service serving every installed app's UI (and the dashboard)."""

    def __init__(self, runtime: Runtime, ifaces: Interfaces) -> None:
        self.runtime = runtime
        self.ifaces = ifaces
        self.conductor = runtime.conductor
        self.sites: dict[str, AppSite] = {}
        self.dashboard: DashboardSite | None = None
        self._seen_version = -1
        self._watcher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        policy = self.conductor.config.dashboard
        if policy.enabled:
            await self._open_dashboard(policy)
        await self.refresh()
        self._watcher = asyncio.create_task(self._watch())

    async def _open_dashboard(self, policy: DashboardConfig) -> None:
        store = self.conductor.store
        saved = await self.runtime.in_worker(store.get_state, DASHBOARD_STATE)
        site = DashboardSite(self.runtime, policy, self.urls)
        await site.listen(saved if isinstance(saved, int) and 0 < saved < 65536 else 0)
        site.watch()
        self.dashboard = site
        await self.runtime.in_worker(store.put_state, DASHBOARD_STATE, site.port)
        self.runtime.publish_endpoint("dashboard", site.url)
        log.info("serving the dashboard at %s", site.url)

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for app_id in list(self.sites):
            await self._close(app_id)
        if self.dashboard is not None:
            await self.dashboard.close()

    def urls(self) -> dict[str, str]:
        return {app_id: site.url for app_id, site in sorted(self.sites.items())}

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if self.conductor.apps_version != self._seen_version:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("could not refresh the served UIs")

    async def refresh(self) -> None:
        """Serve the UI of every installed app that has one; stop serving uninstalled ones."""
        async with self._lock:
            self._seen_version = self.conductor.apps_version
            served = set(self.sites)
            with_ui, new = await self.runtime.in_worker(self._installed_uis, served)
            for app_id in served - with_ui:
                await self._close(app_id, forget=True)
            for app_id, ui in new.items():
                try:
                    await self._open(app_id, ui)
                except (OSError, ZomehostError) as exc:
                    log.error("cannot serve the UI of %s: %s", app_id, exc)
            self.runtime.publish_endpoint("ui", self.urls())

    def _installed_uis(self, served: set[str]) -> tuple[set[str], dict[str, UiFiles]]:
        """The apps that have a UI, and the UIs of those not served yet (unpacked)."""
        installed = {app.app_id for app in self.conductor.list_apps()}
        with_ui = self.conductor.apps_with_ui() & installed
        new: dict[str, UiFiles] = {}
        for app_id in sorted(with_ui - served):
            try:
                ui = self.conductor.app_ui(app_id)
            except ZomehostError as exc:
                log.error("the stored UI of %s is unusable: %s", app_id, exc)
                continue
            if ui is not None:
                new[app_id] = ui
        return with_ui, new

    async def _open(self, app_id: str, ui: UiFiles) -> None:
        saved = await self.runtime.in_worker(self.conductor.store.get_state, STATE_PREFIX + app_id)
        ports = SitePorts.from_state(saved)
        site = AppSite(self, app_id, ui)
        await site.listen(ports.ui)
        try:
            try:
                site.app_port = await self.ifaces.attach_app_interface(
                    ports.app, site.origin, app_id, None, persist=False
                )
            except ZomehostError:
                if not ports.app:
                    raise
                site.app_port = await self.ifaces.attach_app_interface(
                    0, site.origin, app_id, None, persist=False
                )
        except BaseException:
            await site.http.close()
            raise
        self.sites[app_id] = site
        doc = {"ui": site.port, "app": site.app_port}
        await self.runtime.in_worker(self.conductor.store.put_state, STATE_PREFIX + app_id, doc)
        log.info("serving the UI of %s at %s (app interface %d)", app_id, site.url, site.app_port)

    async def _close(self, app_id: str, *, forget: bool = False) -> None:
        """Stop serving; ``forget`` (the app is gone) also drops the ports kept for it."""
        site = self.sites.pop(app_id)
        await self.ifaces.detach_app_interface(site.app_port)
        await site.http.close()
        if forget:
            with contextlib.suppress(ZomehostError):
                await self.runtime.in_worker(
                    self.conductor.store.delete_state, STATE_PREFIX + app_id
                )


async def start_ui_server(runtime: Runtime, ifaces: Interfaces) -> UiServer:
    """Serve the installed apps' UIs (called by the daemon after the interfaces start)."""
    server = UiServer(runtime, ifaces)
    await server.start()
    if server.dashboard is not None:
        print(f"zomehost: dashboard at {server.dashboard.url}", flush=True)
    for app_id, url in server.urls().items():
        print(f"zomehost: UI of {app_id} at {url}", flush=True)
    return server
