"""A small HTTP/1.1 server for the web UIs: ``h11`` parses, asyncio only moves bytes.

Bounded like the WebSocket interfaces: a request's head is at most ``MAX_HEAD`` bytes and its
body at most the site's ``max_body``; a request has ``REQUEST_TIMEOUT`` seconds to arrive
(slow clients cannot hold a connection open), a site serves at most ``MAX_CONNECTIONS`` at
once, and anything ``h11`` cannot parse gets ``400`` and the connection is closed. A
handler's exception becomes ``500`` for that request only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import h11

log = logging.getLogger("zomehost.api.http")

MAX_HEAD = 16 * 1024
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str  # as sent: path and query
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode() + b"\n")


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

# Every response: no sniffing, no framing by other sites, no referrer leaking the token.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class HttpSite:
    """One listening socket and its handler."""

    def __init__(self, handler: Handler, *, max_body: int, name: str) -> None:
        self.handler = handler
        self.max_body = max_body
        self.name = name
        self.server: asyncio.Server | None = None
        self.port = 0
        self._conns: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._accept, host, port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._conns) >= MAX_CONNECTIONS:
            log.warning("%s: %d connections open, refusing one", self.name, len(self._conns))
            writer.close()
            return
        self._conns.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        while True:
            try:
                request = await asyncio.wait_for(self._read(conn, reader), REQUEST_TIMEOUT)
            except TimeoutError:
                await self._refuse(conn, writer, 408, "request timed out")
                return
            except h11.RemoteProtocolError as exc:
                await self._refuse(conn, writer, exc.error_status_hint, "bad request")
                return
            except _TooLarge as exc:
                await self._refuse(conn, writer, exc.status, "request too large")
                return
            if request is None:
                return
            try:
                response = await self.handler(request)
            except Exception:
                log.exception("%s: %s %s failed", self.name, request.method, request.target)
                response = HttpResponse.text(500, "internal error")
            if request.method == "HEAD":
                response = HttpResponse(
                    response.status, b"", response.content_type, response.headers
                )
            await self._send(conn, writer, response, head_only=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader) -> HttpRequest | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(READ_CHUNK)
                conn.receive_data(data)  # b"" means the peer closed
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                # h11 bounds only an *incomplete* head; one read may bring a whole big one.
                size = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
                if size > MAX_HEAD:
                    raise _TooLarge(431)
                head = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and int(length) > self.max_body:
                    raise _TooLarge(413)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_body:
                    raise _TooLarge(413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers: dict[str, str] = {}
                for name, value in head.headers:
                    headers[name.decode("latin-1").lower()] = value.decode("latin-1")
                return HttpRequest(
                    head.method.decode("ascii", "replace"),
                    head.target.decode("latin-1"),
                    headers,
                    bytes(body),
                )

    async def _send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        response: HttpResponse,
        *,
        head_only: bool = False,
    ) -> None:
        headers = {**SECURITY_HEADERS, **response.headers, "Content-Type": response.content_type}
        headers["Content-Length"] = str(len(response.body))
        try:
            out = conn.send(
                h11.Response(
                    status_code=response.status,
                    reason=HTTPStatus(response.status).phrase.encode(),
                    headers=[(k.encode(), v.encode()) for k, v in headers.items()],
                )
            )
            if response.body and not head_only:
                out += conn.send(h11.Data(data=response.body))
            out += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            return
        writer.write(out)
        await writer.drain()

    async def _refuse(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, text: str
    ) -> None:
        """Answer a request that could not be read, if the connection still allows it."""
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            response = HttpResponse.text(status, text)
            with contextlib.suppress(ConnectionError):
                await self._send(conn, writer, response)


class _TooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status  # 413: the body, 431: the head
