"""Raw HTTP over real sockets to a running bootstrap service, and hostile answers to its
client: every malformed or oversized field is a 4xx naming the problem (server side) or
``PeerUnreachable`` (client side), and the service keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from zomehost.network.bootstrap import (
    MAX_BODY,
    MAX_HEADERS,
    BootstrapClient,
    BootstrapServer,
)
from zomehost.network.errors import PeerUnreachable

from .test_agent_info import DNA

HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: b\r\n\r\n"


async def raw(url: str, request: bytes, *, eof: bool = True) -> tuple[int, bytes]:
    """Send ``request`` as is; the status code and body of the answer."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    if eof:
        writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def with_server(fn: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        server = BootstrapServer()
        url = await server.start()
        try:
            await fn(url)
            assert await raw(url, HEALTH) == (200, b"ok")  # still serving
        finally:
            await server.stop()

    asyncio.run(main())


DNA_PATH = f"/v1/agent-infos/{DNA}".encode()
BAD_REQUESTS = [
    # (request, status, a word of the reason)
    (b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Length: \xc2\xb2\r\n\r\n", 400, b""),
    (b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Length: " + b"9" * 5000, 4, b""),
    (
        b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Length: 99999999999\r\n\r\n",
        413,
        b"body over",
    ),
    (b"GET " + DNA_PATH + b"?limit=" + b"9" * 5000 + b" HTTP/1.1\r\nHost: b\r\n\r\n", 414, b""),
    (b"GET " + DNA_PATH + b"?limit=" + b"9" * 50 + b" HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"limit"),
    (b"GET " + DNA_PATH + b"?limit=%C2%B2 HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"limit"),
    (b"GET " + DNA_PATH + b"?limit=-1 HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"limit"),
    (b"GET " + DNA_PATH + b"?a&b&c&d&e&f HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"query"),
    (b"GET http://[x/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"origin form"),
    (b"GET //[x/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"origin form"),
    (b"GET /v1/agent-infos/%ff%fe HTTP/1.1\r\nHost: b\r\n\r\n", 400, b"DNA hash"),
    (
        b"GET /v1/health HTTP/1.1\r\nHost: b\r\n"
        + b"".join(b"X-%d: y\r\n" % i for i in range(MAX_HEADERS + 1))
        + b"\r\n",
        431,
        b"header",
    ),
    (b"GET /v1/health HTTP/1.1\r\nHost: b\r\nX: " + b"y" * 20000 + b"\r\n\r\n", 431, b""),
    (b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n", 400, b""),
    (b"GARBAGE\r\n\r\n", 400, b""),
    (b"GET /v1/health HTTP/1.1\r\n\r\n", 400, b""),  # HTTP/1.1 without Host
    (b"\x00\xff" * 100, 400, b""),
    (b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Length: 10\r\n\r\nabc", 400, b""),
    (b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\n\r\n\xc1", 400, b""),
]


@pytest.mark.parametrize(("request_bytes", "status", "word"), BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_and_the_service_keeps_serving(
    request_bytes: bytes, status: int, word: bytes
) -> None:
    async def check(url: str) -> None:
        got, body = await raw(url, request_bytes)
        assert 400 <= got < 500 and str(got).startswith(str(status)), (got, body)
        assert word in body

    with_server(check)


def test_a_body_over_the_limit_is_refused_and_the_refusal_arrives() -> None:
    async def check(url: str) -> None:
        head = b"POST /v1/agent-infos HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n"
        got, body = await raw(url, head % (MAX_BODY + 1) + b"x" * (MAX_BODY + 1))
        assert got == 413 and b"body over" in body

    with_server(check)


def test_a_client_that_sends_nothing_does_not_hold_the_service() -> None:
    async def check(url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        idle = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
        assert await raw(url, HEALTH) == (200, b"ok")
        for _, writer in idle:
            writer.close()

    with_server(check)


BAD_ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\nContent-Length: \xc2\xb2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\nContent-Length: 99999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\nContent-Length: 5\r\n\r\n\x91",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n\x90",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\nContent-Length: 1\r\n\r\n\xc1",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\n\r\n" + b"\x90" * (MAX_BODY + 2),
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 20000 + b"\r\n\r\n",
    b"\x00\xff" * 50,
    b"",
]


@pytest.mark.parametrize("answer", BAD_ANSWERS)
def test_a_bad_answer_is_peer_unreachable_for_the_client(answer: bytes) -> None:
    async def main() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(answer)
            await w.drain()
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(PeerUnreachable):
            await BootstrapClient(f"http://127.0.0.1:{port}").lookup(DNA, timeout=5)
        server.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "url", ["http://[x/", "http://h:99999", "ftp://h:1", "http://h:1/?q=1", "http:///x"]
)
def test_a_bad_bootstrap_url_is_refused_up_front(url: str) -> None:
    with pytest.raises(ValueError, match="bootstrap_url must be"):
        BootstrapClient(url)
