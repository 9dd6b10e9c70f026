"""The bootstrap service and its client: where conductors publish and find agent infos.

A deliberately small HTTP/1.1 subset over asyncio (no extra dependency), one request per
connection (``Connection: close``), msgpack bodies (``Content-Type: application/msgpack``):

``POST /v1/agent-infos``            body: ``[SignedAgentInfo wire]`` (at most 64)
                                    → 200 ``{"accepted": int}``
``GET  /v1/agent-infos/<dna>``      ``<dna>`` is the DNA hash in text form (``uhC0k…``);
                                    optional ``?limit=N`` (≤ 1000)
                                    → 200 ``[SignedAgentInfo wire]``, newest first
``GET  /v1/health``                 → 200 ``"ok"`` (text/plain)

Errors are ``4xx`` with a one-line ``text/plain`` reason. The service verifies every record
it is given (the agent's signature, the validity window) and forgets expired ones; clients
verify everything they get back as well, so the service is trusted for nothing but
availability. It holds records in memory only: a restarted service is refilled by the
conductors' periodic republishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from zomehost.core.codec import pack, unpack
from zomehost.core.hash import DnaHash
from zomehost.errors import ZomehostError
from zomehost.network.agent_info import SignedAgentInfo, format_address, verify_agent_info
from zomehost.network.directory import Directory
from zomehost.network.errors import AgentInfoError, PeerUnreachable

log = logging.getLogger("zomehost.network.bootstrap")

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
MAX_PUT = 64
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
IO_TIMEOUT_S = 10.0
MSGPACK = "application/msgpack"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _response(status: int, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def _read_message(
    reader: asyncio.StreamReader, *, request: bool
) -> tuple[str, dict[str, str], bytes]:
    """Read one HTTP message: (start line, lower-cased headers, body)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(400, "request head too large") from None
    except asyncio.IncompleteReadError:
        raise HttpError(400, "incomplete request") from None
    lines = head.decode("latin-1").split("\r\n")
    start = lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise HttpError(400, "chunked bodies are not supported: send Content-Length")
    length_text = headers.get("content-length", "0" if request else "")
    if length_text == "" and not request:
        return start, headers, await reader.read(MAX_BODY + 1)
    if not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY:
        raise HttpError(413, f"body over {MAX_BODY} bytes")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise HttpError(400, "incomplete body") from None
    return start, headers, body


class BootstrapServer:
    """The bootstrap service: an in-memory :class:`Directory` behind the HTTP subset above."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.directory = Directory()
        self._server: asyncio.Server | None = None
        self.url: str | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_HEAD
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{format_address(host, port)}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                start, _, body = await asyncio.wait_for(
                    _read_message(reader, request=True), IO_TIMEOUT_S
                )
                status, out, ctype = self.route(start, body)
            except HttpError as exc:
                status, out, ctype = exc.status, exc.reason.encode(), "text/plain"
            except TimeoutError:
                return
            writer.write(_response(status, out, ctype))
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT_S)
        except (ConnectionError, OSError, TimeoutError):
            pass
        except Exception:
            log.exception("bootstrap request failed")
        finally:
            writer.close()

    def route(self, start: str, body: bytes) -> tuple[int, bytes, str]:
        parts = start.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "malformed request line")
        method, target = parts[0], urlsplit(parts[1])
        path = target.path
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
            query = parse_qs(target.query)
            limit = DEFAULT_LIMIT
            if "limit" in query:
                text = query["limit"][0]
                if not text.isdigit():
                    raise HttpError(400, "limit must be a number")
                limit = min(int(text), MAX_LIMIT)
            records = self.directory.for_dna(DnaHash(dna.raw), limit=limit)
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
    """Talks to a bootstrap service at ``http://host:port`` (an optional path prefix kept)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"bootstrap_url must be http://host:port, got {url!r:.80}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
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
        except (OSError, HttpError) as exc:
            raise PeerUnreachable(f"bootstrap {self.url}: {exc}") from None

    async def _exchange(self, method: str, path: str, body: bytes) -> Any:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)
        try:
            head = (
                f"{method} {self.prefix}{path} HTTP/1.1\r\n"
                f"Host: {format_address(self.host, self.port)}\r\n"
                f"Content-Type: {MSGPACK}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            start, headers, data = await _read_message(reader, request=False)
        finally:
            writer.close()
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(400, "malformed response from bootstrap")
        status = int(parts[1])
        if status != 200:
            reason = data[:200].decode("utf-8", "replace")
            raise HttpError(status, f"HTTP {status}: {reason}")
        if headers.get("content-type", "").split(";")[0].strip() != MSGPACK:
            raise HttpError(400, "bootstrap did not answer with msgpack")
        try:
            return unpack(data, max_len=MAX_BODY, what="bootstrap answer")
        except ZomehostError as exc:
            raise HttpError(400, exc.message) from None


async def serve(host: str, port: int, *, ready: Any = None) -> None:
    """Run a bootstrap service until SIGINT/SIGTERM (``zomehost bootstrap``)."""
    import signal

    server = BootstrapServer(host, port)
    url = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"zomehost: bootstrap service listening on {url}", flush=True)
    if ready is not None:
        ready(url)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("zomehost: bootstrap service stopped", flush=True)


__all__ = ["BootstrapClient", "BootstrapServer", "serve"]
