"""The conductor dashboard: a web page of what this conductor runs, on its own loopback port.

Apps and their cells, each cell's source chain (newest first, with ``verify``), the grants
and claims on it, and a live feed of calls from outside and signals. Read-only unless the
config allows more (``dashboard: {allow: [apps]}`` lets it enable and disable apps).

It follows the rules of the app UIs (docs/web-ui.md): ``Host`` must name the site, a
request that carries an ``Origin`` must come from the dashboard's own, and every ``/api/``
request must carry the session secret injected into the page (a custom header: another
origin cannot send it without a CORS preflight, which is never granted). The dashboard reads
the store directly (on worker threads): it needs no admin interface, which web pages cannot
open anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from zomehost.api.http_server import HttpRequest, HttpResponse
from zomehost.api.web_site import LoopbackSite, asset, content_type, script_json
from zomehost.chain.source_chain import SourceChain
from zomehost.conductor.app import AppStatus
from zomehost.core.action import Record
from zomehost.core.codec import unpack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.json_form import to_jsonable
from zomehost.core.query import ChainQueryFilter
from zomehost.errors import InvalidInput, ZomehostError

if TYPE_CHECKING:
    from zomehost.api.registry import Runtime
    from zomehost.conductor.home import DashboardConfig
    from zomehost.core.signal import Signal
    from zomehost.core.zome_call import ZomeCall

FEED_SIZE = 500  # events kept for the live view
POLL_S = 20.0  # how long /api/events waits for something new
DRAIN_S = 0.2  # how often the loop picks up what worker threads reported
PAGE = 50  # records per chain page
PAYLOAD_PREVIEW = 2000  # characters of a signal payload shown


class Feed:
    """The last events (calls and signals), numbered; long-polled by the page.

    Worker threads only append a raw tuple to ``inbox`` (thread-safe, no formatting, no
    wake-up of the loop: a call pays well under a microsecond for the dashboard); the loop
    drains it every ``DRAIN_S``, numbering each, and an event is formatted only when a page
    asks for it: a busy conductor with nobody watching formats nothing (at 2 000 calls/s
    formatting every call cost its event loop ~7 % of its time)."""

    def __init__(self) -> None:
        self.inbox: deque[tuple[Any, ...]] = deque(maxlen=FEED_SIZE)
        self.events: deque[tuple[int, tuple[Any, ...]]] = deque(maxlen=FEED_SIZE)
        self._seq = itertools.count(1)
        self._changed = asyncio.Event()

    def drain(self) -> None:
        if not self.inbox:
            return
        while self.inbox:
            self.events.append((next(self._seq), self.inbox.popleft()))
        self._changed.set()
        self._changed = asyncio.Event()

    async def after(self, seq: int, wait: float) -> list[dict[str, Any]]:
        if not self.events or self.events[-1][0] <= seq:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
        return [_event(n, raw) for n, raw in self.events if n > seq]


def _event(seq: int, raw: tuple[Any, ...]) -> dict[str, Any]:
    at, kind, *rest = raw
    event = _call_event(*rest) if kind == "call" else _signal_event(*rest)
    return {"seq": seq, "at": at, **event}


def _call_event(call: ZomeCall, outcome: str) -> dict[str, Any]:
    return {"kind": "call", "cell": _cell_text(call.cell_id), "zome": call.zome_name,
            "fn": call.fn_name, "provenance": str(call.provenance), "outcome": outcome}  # fmt: skip


def _signal_event(signal: Signal) -> dict[str, Any]:
    return {"kind": "signal", "cell": _cell_text(signal.cell), "zome": signal.zome_name,
            "payload": _preview(signal.payload)}  # fmt: skip


def _cell_text(cell: CellId) -> dict[str, str]:
    return {"dna": str(cell.dna_hash), "agent": str(cell.agent)}


def _record_view(r: Record) -> dict[str, Any]:
    a = r.action
    content: Any = None
    if r.entry is not None:
        try:
            content = to_jsonable(unpack(r.entry.content))
        except ZomehostError:
            content = to_jsonable(r.entry.content)
    return {
        "seq": a.action_seq,
        "type": a.type.value,
        "hash": str(r.action_hash),
        "timestamp": a.timestamp,
        "entry_type": a.entry_type,
        "content": content,
        "deletes": str(a.deletes_address) if a.deletes_address else None,
        "updates": str(a.original_action_address) if a.original_action_address else None,
    }


def _preview(payload: bytes) -> Any:
    try:
        text = json.dumps(to_jsonable(unpack(payload)), ensure_ascii=False)
    except (ZomehostError, TypeError, ValueError):
        return f"<{len(payload)} bytes>"
    return text if len(text) <= PAYLOAD_PREVIEW else text[:PAYLOAD_PREVIEW] + "…"


class DashboardSite(LoopbackSite):
    def __init__(
        self, runtime: Runtime, policy: DashboardConfig, ui_urls: Callable[[], dict[str, str]]
    ) -> None:
        super().__init__("dashboard", 64 * 1024)
        self.runtime = runtime
        self.policy = policy
        self.conductor = runtime.conductor
        self.ui_urls = ui_urls  # app id -> where its UI is served
        self.feed = Feed()
        self._unsubscribe: list[Any] = []
        self._drainer: asyncio.Task[None] | None = None

    def watch(self) -> None:
        """Feed calls and signals (reported on worker threads) to the loop's feed."""
        inbox = self.feed.inbox

        def on_call(call: ZomeCall, outcome: str) -> None:
            inbox.append((time.time(), "call", call, outcome))

        def on_signal(signal: Signal) -> None:
            inbox.append((time.time(), "signal", signal))

        self._unsubscribe = [
            self.conductor.add_call_listener(on_call),
            self.conductor.add_signal_listener(on_signal),
        ]
        self._drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            self.feed.drain()
            await asyncio.sleep(DRAIN_S)

    async def close(self) -> None:
        for undo in self._unsubscribe:
            undo()
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        await self.http.close()

    def csp(self) -> str:
        return (
            "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
            "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'; object-src 'none'"
        )

    async def route(self, request: HttpRequest, path: str) -> HttpResponse:
        if path.startswith("api/"):
            if not self.has_session(request):
                return HttpResponse.text(403, "the dashboard's API answers its own page only")
            try:
                return await self.api(request, path[4:], parse_qs(urlsplit(request.target).query))
            except (InvalidInput, ZomehostError) as exc:
                return HttpResponse.text(400, exc.message)
            except ValueError:
                return HttpResponse.text(400, "bad query")
        if request.method not in ("GET", "HEAD"):
            return HttpResponse.text(405, "GET or HEAD only")
        if path in ("", "index.html"):
            boot = f"window.__ZOMEHOST__={script_json({'session': self.session})};"
            return self.page(asset("dashboard.html"), boot, self.csp())
        if path in ("dashboard.js", "dashboard.css"):
            return HttpResponse(200, asset(path), content_type(path))
        return HttpResponse.text(404, "not found")

    async def api(
        self, request: HttpRequest, name: str, query: dict[str, list[str]]
    ) -> HttpResponse:
        run = self.runtime.in_worker
        if name == "overview" and request.method == "GET":
            return _json(await run(self._overview, self.ui_urls()))  # urls read on the loop
        if name == "chain" and request.method == "GET":
            before = int(query.get("before", ["0"])[0] or 0)
            return _json(await run(self._chain, _cell(query), before))
        if name == "verify" and request.method == "POST":
            return _json(await run(self._verify, _cell(query)))
        if name == "caps" and request.method == "GET":
            return _json(await run(self._caps, _cell(query)))
        if name == "events" and request.method == "GET":
            after = int(query.get("after", ["0"])[0] or 0)
            wait = min(max(float(query.get("wait", [POLL_S])[0]), 0.0), POLL_S)
            return _json(await self.feed.after(after, wait))
        if name == "app" and request.method == "POST":
            if "apps" not in self.policy.allow:
                return HttpResponse.text(403, "this dashboard is read-only (dashboard.allow)")
            app_id = query.get("id", [""])[0]
            action = query.get("action", [""])[0]
            if action not in ("enable", "disable"):
                raise InvalidInput("action is enable or disable")
            status = AppStatus.ENABLED if action == "enable" else AppStatus.DISABLED
            await run(self.conductor.set_app_status, app_id, status)
            return _json({"app_id": app_id, "status": status.value})
        return HttpResponse.text(404, "no such API request")

    def _overview(self, ui_urls: dict[str, str]) -> dict[str, Any]:
        apps = []
        for app in self.conductor.list_apps():
            cells = []
            for role, dna in app.roles.items():
                head = SourceChain(self.conductor.store, CellId(dna, app.agent)).head()
                cells.append(
                    {
                        "role": role,
                        **_cell_text(CellId(dna, app.agent)),
                        "length": 0 if head is None else head.seq + 1,
                    }
                )
            ui = ui_urls.get(app.app_id)
            apps.append(
                {
                    "app_id": app.app_id,
                    "status": app.status.value,
                    "agent": str(app.agent),
                    "ui": ui,
                    "cells": cells,
                }
            )
        return {"apps": apps, "allow": sorted(self.policy.allow)}

    def _chain(self, cell: CellId, before: int) -> dict[str, Any]:
        chain = SourceChain(self.conductor.store, cell)
        head = chain.head()
        end = (head.seq + 1 if head else 0) if before <= 0 else before
        flt = ChainQueryFilter(
            sequence_range=(max(0, end - PAGE), end), include_entries=True, descending=True
        )
        return {
            "length": head.seq + 1 if head else 0,
            "records": [_record_view(r) for r in chain.records(flt)],
        }

    def _verify(self, cell: CellId) -> dict[str, Any]:
        try:
            n = SourceChain(self.conductor.store, cell).verify()
        except ZomehostError as exc:
            return {"ok": False, "error": f"{exc.kind}: {exc.message}"}
        return {"ok": True, "records": n}

    def _caps(self, cell: CellId) -> dict[str, Any]:
        chain = SourceChain(self.conductor.store, cell)
        return {
            "grants": [
                {
                    "hash": str(g.action_hash),
                    "revoked": g.revoked,
                    **to_jsonable(g.grant.to_wire()),
                }
                for g in chain.grants(include_revoked=True)
            ],
            "claims": [{"hash": str(h), **to_jsonable(c.to_wire())} for h, c in chain.claims()],
        }


def _cell(query: dict[str, list[str]]) -> CellId:
    try:
        dna = DnaHash.from_text(query["dna"][0])
        agent = AgentPubKey.from_text(query["agent"][0])
    except (KeyError, IndexError):
        raise InvalidInput("name the cell: ?dna=uhC0k…&agent=uhCAk…") from None
    return CellId(dna, agent)


def _json(value: Any) -> HttpResponse:
    return HttpResponse(200, json.dumps(value).encode(), "application/json")
