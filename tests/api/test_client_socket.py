"""The Python client's own WebSocket (client/socket.py) against a real ``websockets`` server:
fragmented answers are put back together, the server's pings are answered (its keepalive
does not drop us), its close code and reason reach the caller, pending requests fail with
``ClientClosed`` when the socket goes, a refused upgrade is ``ConnectionRejected`` with the
status and body, and an unreachable port is ``ConnectionRejected`` too."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from zomehost.client.base import ClientClosed, WsClient
from zomehost.client.socket import ConnectionRejected
from zomehost.core.api_wire import decode_envelope, encode_response

Handler = Callable[[ServerConnection], Awaitable[None]]


async def _with_server(handler: Handler, body: Callable[[str], Awaitable[None]], **kw: Any) -> None:
    async with serve(handler, "127.0.0.1", 0, **kw) as server:
        port = server.sockets[0].getsockname()[1]
        await body(f"ws://127.0.0.1:{port}")


async def _answer_in_fragments(ws: ServerConnection) -> None:
    async for frame in ws:
        env = decode_envelope(frame)
        assert env is not None and env.id is not None
        answer = encode_response(env.id, "x", b"v" * 50_000)
        await ws.send([answer[i : i + 1000] for i in range(0, len(answer), 1000)])


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_fragmented_answer_is_put_back_together(loop: str) -> None:
    async def body(url: str) -> None:
        client = WsClient(url)
        await client.open(None, 1 << 20)
        for _ in range(3):
            assert await client.request("x") == b"v" * 50_000
        await client.close()
        assert client.closed is not None

    run = asyncio.run if loop == "asyncio" else uvloop.run  # uvloop: not asyncio.Transport
    run(_with_server(_answer_in_fragments, body))


def test_the_servers_pings_are_answered() -> None:
    async def body(url: str) -> None:
        client = WsClient(url)
        await client.open(None, 1 << 20)
        await asyncio.sleep(0.6)  # a dozen keepalive pings, each must get its pong
        assert client.closed is None
        assert await client.request("x") == b"v" * 50_000
        await client.close()

    asyncio.run(_with_server(_answer_in_fragments, body, ping_interval=0.05, ping_timeout=0.05))


def test_close_code_and_reason_reach_pending_requests() -> None:
    async def close_on_request(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(4001, "go away")

    async def body(url: str) -> None:
        client = WsClient(url)
        await client.open(None, 1 << 20)
        with pytest.raises(ClientClosed) as info:
            await client.request("x")
        assert (info.value.code, info.value.reason) == (4001, "go away")
        with pytest.raises(ClientClosed):  # and later requests fail at once
            await client.request("x")

    asyncio.run(_with_server(close_on_request, body))


def test_a_refused_upgrade_and_an_unreachable_port_are_connection_rejected() -> None:
    async def refuse(_: ServerConnection, request: Request) -> Response:
        return Response(403, "Forbidden", Headers(), b"origin not allowed")

    async def body(url: str) -> None:
        with pytest.raises(ConnectionRejected) as info:
            await WsClient(url).open("https://evil.example", 1 << 20)
        assert "HTTP 403: origin not allowed" in info.value.message

    async def never(_: ServerConnection) -> None:
        raise AssertionError("the upgrade was refused")

    asyncio.run(_with_server(never, body, process_request=refuse))

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRejected):
        asyncio.run(WsClient(f"ws://127.0.0.1:{port}").open(None, 1 << 20))
    with pytest.raises(ConnectionRejected):
        asyncio.run(WsClient("http://not-a-websocket").open(None, 1 << 20))
