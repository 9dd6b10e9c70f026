"""The bootstrap service and its client: where conductors publish and find agent infos.

HTTP/1.1 parsed by ``h11`` over asyncio, one request per connection (``Connection:
close``), msgpack bodies (``Content-Type: application/msgpack``):

``POST /v1/agent-infos``            body: ``[SignedAgentInfo wire]`` (at most 64)
                                    → 200 ``{"accepted": int}``
``GET  /v1/agent-infos/<dna>``      ``<dna>`` is the DNA hash in text form (``uhC0k…``);
                                    optional ``?limit=N`` (≤ 1000)
                                    → 200 ``[SignedAgentInfo wire]``, newest first
``GET  /v1/health``                 → 200 ``"ok"`` (text/plain)

Errors are ``4xx`` with a one-line ``text/plain`` reason. Every field is bounded: the head
(16 KiB, 32 header fields), the target (512 bytes, origin form, 4 query parameters), the
body (1 MiB, ``Content-Length`` only), ``limit`` (6 ASCII digits). The service verifies every record
it is given (the agent's signature, the validity window) and forgets expired ones; clients
verify everything they get back as well, so the service is trusted for nothing but
availability. It holds records in memory only: a restarted service is refilled by the
conductors' periodic republishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import h11

from zomehost.core.codec import pack, unpack
from zomehost.core.hash import DnaHash
from zomehost.errors import ZomehostError
from zomehost.network.agent_info import SignedAgentInfo, format_address, verify_agent_info
from zomehost.network.directory import Directory
from zomehost.network.errors import AgentInfoError, HttpError, PeerUnreachable
from zomehost.network.relay import RelayServer, until_signalled

log = logging.getLogger("zomehost.network.bootstrap")

MAX_HEAD = 16 * 1024  # request/status line plus headers
MAX_HEADERS = 32
MAX_TARGET = 512  # a DNA hash in text form and ?limit=N fit in far less
MAX_QUERY_FIELDS = 4
MAX_BODY = 1024 * 1024
MAX_PUT = 64
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
IO_TIMEOUT_S = 10.0
LINGER_S = 2.0  # after a refusal: how long unread request bytes are still drained
MSGPACK = "application/msgpack"
_LIMIT = re.compile(r"[0-9]{1,6}")  # ASCII digits only: str.isdigit() accepts "²"


@dataclass(frozen=True)
class Message:
    """One parsed HTTP message: a request's method and target, or a response's status."""

    method: str
    target: str
    status: int
    content_type: str
    body: bytes


def _check_head(event: h11.Request | h11.Response) -> str:
    """Bound the header count and the body size a head announces; its content type."""
    if len(event.headers) > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    content_type = ""
    for name, value in event.headers:
        if name == b"content-length" and int(value) > MAX_BODY:
            raise HttpError(413, f"body over {MAX_BODY} bytes")
        if name == b"transfer-encoding":
            raise HttpError(400, "chunked bodies are not supported: send Content-Length")
        if name == b"content-type":
            content_type = value.decode("latin-1").split(";")[0].strip()
    return content_type


async def read_message(reader: asyncio.StreamReader, conn: h11.Connection) -> Message:
    """Read one HTTP message with ``h11``; every field bounded, every error an HttpError."""
    head: h11.Request | h11.Response | None = None
    content_type = ""
    body = bytearray()
    received = 0
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise HttpError(exc.error_status_hint, f"malformed HTTP: {exc}") from None
        if event is h11.NEED_DATA:
            # Before the head is parsed, never buffer more than MAX_HEAD: h11 bounds only
            # an incomplete head, and a whole oversized one may arrive in one read.
            data = await reader.read(65536 if head else max(1, MAX_HEAD - received))
            received += len(data)
            try:
                conn.receive_data(data)
            except h11.RemoteProtocolError as exc:  # data after the peer's end
                raise HttpError(400, f"malformed HTTP: {exc}") from None
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Request | h11.Response):
            head = event
            content_type = _check_head(event)
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise HttpError(413, f"body over {MAX_BODY} bytes")
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            if isinstance(head, h11.Request):
                method, target = head.method.decode("ascii"), head.target.decode("ascii")
                return Message(method, target, 0, content_type, bytes(body))
            return Message("", "", head.status_code, content_type, bytes(body))
        else:  # ConnectionClosed before the message ended
            raise HttpError(400, "incomplete HTTP message")


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read and drop what the client still sends, up to a bounded amount."""
    left = MAX_HEAD + MAX_BODY
    while left > 0 and (data := await reader.read(min(left, 65536))):
        left -= len(data)


def decode_answer(answer: Message) -> Any:
    """The msgpack document of a 200 answer; anything else is an HttpError."""
    if answer.status != 200:
        reason = answer.body[:200].decode("utf-8", "replace")
        raise HttpError(answer.status, f"HTTP {answer.status}: {reason}")
    if answer.content_type != MSGPACK:
        raise HttpError(400, "bootstrap did not answer with msgpack")
    try:
        return unpack(answer.body, max_len=MAX_BODY, what="bootstrap answer")
    except ZomehostError as exc:
        raise HttpError(400, exc.message) from None


def _split_target(target: str) -> tuple[str, dict[str, str]]:
    """An origin-form target (``/path?a=b``): the percent-decoded path and the query."""
    if len(target) > MAX_TARGET:
        raise HttpError(414, f"request target over {MAX_TARGET} bytes")
    if not target.startswith("/") or target.startswith("//"):
        raise HttpError(400, "the request target must be a path (origin form)")
    path, _, query = target.partition("?")
    fields: dict[str, str] = {}
    for item in query.split("&") if query else []:
        if len(fields) >= MAX_QUERY_FIELDS:
            raise HttpError(400, f"more than {MAX_QUERY_FIELDS} query parameters")
        name, _, value = item.partition("=")
        fields[unquote(name)] = unquote(value)
    return path, fields


def _parse_limit(fields: dict[str, str]) -> int:
    text = fields.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(text):
        raise HttpError(400, "limit must be a number of at most 6 ASCII digits")
    return min(int(text), MAX_LIMIT)


def _response(status: int, body: bytes, content_type: str) -> bytes:
    """A complete response; the server writes nothing else (``Connection: close``)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: bootstrap\r\n\r\n")
    conn.next_event()  # h11 answers only a request it has seen: this stands in for it
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    return out + (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")


class BootstrapServer:
    """The bootstrap service: an in-memory :class:`Directory` behind the HTTP subset above."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.directory = Directory()
        self._server: asyncio.Server | None = None
        self.url: str | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{format_address(host, port)}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            try:
                request = await asyncio.wait_for(read_message(reader, conn), IO_TIMEOUT_S)
                status, out, ctype = self.route(request.method, request.target, request.body)
            except HttpError as exc:
                status, out, ctype = exc.status, exc.message.encode(), "text/plain"
            except TimeoutError:
                return
            writer.write(_response(status, out, ctype))
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT_S)
            if status >= 400:  # let the client read the refusal before the close resets it
                writer.write_eof()
                await asyncio.wait_for(_discard(reader), LINGER_S)
        except (ConnectionError, OSError, TimeoutError):
            pass
        except Exception:
            log.exception("bootstrap request failed")
        finally:
            writer.close()

    def route(self, method: str, target: str, body: bytes) -> tuple[int, bytes, str]:
        """Answer one request: (status, body, content type); refusals raise HttpError."""
        path, fields = _split_target(target)
        if path == "/v1/health":
            return 200, b"ok", "text/plain"
        if path == "/v1/agent-infos":
            if method != "POST":
                raise HttpError(405, "use POST to publish agent infos")
            return 200, pack({"accepted": self.put(body)}), MSGPACK
        prefix = "/v1/agent-infos/"
        if path.startswith(prefix):
            if method != "GET":
                raise HttpError(405, "use GET to look up agent infos")
            try:
                dna = DnaHash.from_text(unquote(path[len(prefix) :]))
            except ZomehostError as exc:
                raise HttpError(400, f"bad DNA hash: {exc.message}") from None
            records = self.directory.for_dna(DnaHash(dna.raw), limit=_parse_limit(fields))
            return 200, pack([r.to_wire() for r in records]), MSGPACK
        raise HttpError(404, f"no such path {path[:80]}")

    def put(self, body: bytes) -> int:
        try:
            doc = unpack(body, max_len=MAX_BODY, what="agent infos")
        except ZomehostError as exc:
            raise HttpError(400, exc.message) from None
        if not isinstance(doc, list) or len(doc) > MAX_PUT:
            raise HttpError(400, f"the body is a list of at most {MAX_PUT} signed agent infos")
        self.directory.prune()
        return len(self.directory.put_many_wire(doc))


class BootstrapClient:
    """Talks to a bootstrap service at ``http://host:port`` (an optional path prefix kept).

    Every failure (no answer, malformed HTTP, an error status, a bad body) is
    :class:`PeerUnreachable`, which the node treats as "try again later".
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        wrong = ValueError(f"bootstrap_url must be http://host:port, got {url!r:.80}")
        try:
            parts = urlsplit(url)
            port = parts.port or 80
        except ValueError:  # e.g. "http://[x/" or a port out of range
            raise wrong from None
        if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
            raise wrong
        self.url = url
        self.host = parts.hostname
        self.port = port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout

    async def put(self, records: list[SignedAgentInfo], *, timeout: float | None = None) -> int:
        accepted = 0
        for i in range(0, len(records), MAX_PUT):
            batch = [r.to_wire() for r in records[i : i + MAX_PUT]]
            doc = await self._request("POST", "/v1/agent-infos", pack(batch), timeout)
            if isinstance(doc, dict) and isinstance(doc.get("accepted"), int):
                accepted += doc["accepted"]
        return accepted

    async def lookup(
        self,
        dna_hash: DnaHash,
        *,
        limit: int = DEFAULT_LIMIT,
        timeout: float | None = None,
        known: Callable[[Any], SignedAgentInfo | None] | None = None,
    ) -> list[SignedAgentInfo]:
        """Verified records for a DNA; anything unsigned, mis-signed or expired is dropped.

        ``known`` (e.g. :meth:`Directory.known`) gives records verified before, as they are.
        """
        doc = await self._request("GET", f"/v1/agent-infos/{dna_hash}?limit={limit}", b"", timeout)
        if not isinstance(doc, list):
            raise PeerUnreachable("bootstrap answered a lookup with something other than a list")
        out: list[SignedAgentInfo] = []
        for wire in doc[:MAX_LIMIT]:
            record = known(wire) if known is not None else None
            if record is not None:
                out.append(record)
                continue
            try:
                out.append(verify_agent_info(wire))
            except AgentInfoError as exc:
                log.info("bootstrap gave a bad agent info, ignored: %s", exc.message)
        return out

    async def _request(self, method: str, path: str, body: bytes, timeout: float | None) -> Any:
        try:
            return await asyncio.wait_for(
                self._exchange(method, path, body), self.timeout if timeout is None else timeout
            )
        except TimeoutError:
            raise PeerUnreachable(f"bootstrap {self.url} did not answer in time") from None
        except OSError as exc:
            raise PeerUnreachable(f"bootstrap {self.url}: {exc.strerror or exc}") from None
        except HttpError as exc:
            raise PeerUnreachable(f"bootstrap {self.url}: {exc.message}") from None

    async def _exchange(self, method: str, path: str, body: bytes) -> Any:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        headers = [
            ("Host", format_address(self.host, self.port)),
            ("Content-Type", MSGPACK),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        try:
            request = conn.send(
                h11.Request(method=method, target=self.prefix + path, headers=headers)
            )
        except h11.LocalProtocolError as exc:
            raise HttpError(400, f"cannot send the request: {exc}") from None
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write((request or b"") + (conn.send(h11.Data(data=body)) or b""))
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            answer = await read_message(reader, conn)
        finally:
            writer.close()
        return decode_answer(answer)


async def serve(host: str, port: int, *, relay_port: int | None = None, ready: Any = None) -> None:
    """Run a bootstrap service (and a relay on ``relay_port``) until SIGINT/SIGTERM
    (``zomehost bootstrap``)."""
    server = BootstrapServer(host, port)
    url = await server.start()
    relay = RelayServer(host, relay_port) if relay_port is not None else None
    print(f"zomehost: bootstrap service listening on {url}", flush=True)
    if relay is not None:
        print(f"zomehost: relay listening on {await relay.start()}", flush=True)
    if ready is not None:
        ready(url)
    try:
        await until_signalled()
    finally:
        await server.stop()
        if relay is not None:
            await relay.stop()
        print("zomehost: bootstrap service stopped", flush=True)


__all__ = ["BootstrapClient", "BootstrapServer", "serve"]
