"""AppSocket over a real socket: messages are taken in the read callback only when nothing
is left to ``recv`` before them (order kept), and a worker thread's message goes out whole,
in turn with the loop's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from zomehost.api.app_socket import AppSocket, Sent, binary_frame


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.005)


def _served(
    handler: Callable[[AppSocket], Awaitable[None]],
    client: Callable[[int], Awaitable[None]],
) -> None:
    async def main() -> None:
        async def handle(ws: ServerConnection) -> None:
            assert isinstance(ws, AppSocket)
            await handler(ws)

        async with serve(handle, "127.0.0.1", 0, create_connection=AppSocket) as server:
            port = server.sockets[0].getsockname()[1]
            await asyncio.wait_for(client(port), 30)

    asyncio.run(main())


def test_messages_are_taken_as_they_arrive_but_never_ahead_of_queued_ones() -> None:
    taken: list[bytes] = []
    received: list[bytes] = []
    gate: list[asyncio.Event] = []  # made on the test's loop

    def take(message: bytes) -> bool:
        if message == b"m3":
            return False  # like a request without a free in-flight slot
        taken.append(message)
        return True

    async def handler(ws: AppSocket) -> None:
        received.append(bytes(await ws.recv()))  # m1: read before take_message is set
        ws.take_message = take
        await gate[0].wait()  # m3 and m4 arrive and wait in the queue meanwhile
        received.append(bytes(await ws.recv()))
        received.append(bytes(await ws.recv()))
        await ws.wait_closed()

    async def client(port: int) -> None:
        gate.append(asyncio.Event())
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send(b"m1")
            await _until(lambda: received == [b"m1"])
            await ws.send(b"m2")
            await _until(lambda: taken == [b"m2"])
            await ws.send(b"m3")  # refused: left to recv
            await ws.send(b"m4")  # take would accept it, but m3 is queued before it
            await asyncio.sleep(0.05)
            assert taken == [b"m2"]
            gate[0].set()
            await _until(lambda: len(received) == 3)
            assert received == [b"m1", b"m3", b"m4"]
            await ws.send(b"m5")  # the queue is empty again
            await _until(lambda: taken == [b"m2", b"m5"])

    _served(handler, client)


def test_a_worker_threads_messages_arrive_whole_among_the_loops() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: the socket takes it in parts
    outcomes: list[Sent] = []

    async def handler(ws: AppSocket) -> None:
        def worker() -> None:
            for i in range(4):
                with ws.write_lock:
                    sent = ws.send_now(binary_frame(bytes([i]) + big))
                outcomes.append(sent)
                if sent is Sent.PART:
                    ws.loop.call_soon_threadsafe(ws.finish)
                elif sent is Sent.NOTHING:  # buffered before it: the loop writes it in turn
                    ws.loop.call_soon_threadsafe(_loop_send, ws, bytes([i]) + big)

        thread = threading.Thread(target=worker)
        thread.start()
        for i in range(4):
            await ws.send(f"loop {i}")  # websockets' own writes, through the same lock
        await asyncio.to_thread(thread.join)
        await ws.wait_closed()

    async def client(port: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}", max_size=None) as ws:
            texts, blobs = [], []
            for _ in range(8):
                message = await ws.recv()
                (texts if isinstance(message, str) else blobs).append(message)
            assert texts == [f"loop {i}" for i in range(4)]
            assert sorted(blobs) == [bytes([i]) + big for i in range(4)]

    _served(handler, client)
    assert Sent.DROPPED not in outcomes


def _loop_send(ws: AppSocket, message: bytes) -> None:
    with ws.write_lock:
        ws.send_locked(binary_frame(message))
