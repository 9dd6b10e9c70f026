"""A TCP relay for tests: sits between two peers, records every byte, may tamper with them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

Mutator = Callable[[str, bytes, int], bytes]
"""(direction "up" | "down", chunk, offset of the chunk in that direction) -> bytes to forward"""


class Relay:
    """Listens on loopback and forwards each connection to ``target``; records both ways."""

    def __init__(self, target_host: str, target_port: int, mutate: Mutator | None = None) -> None:
        self.target = (target_host, target_port)
        self.mutate = mutate
        self.up = bytearray()  # client -> target, over all connections
        self.down = bytearray()  # target -> client
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.transport.abort()

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            t_reader, t_writer = await asyncio.open_connection(*self.target)
        except OSError:
            c_writer.transport.abort()
            return
        self._writers += [c_writer, t_writer]
        await asyncio.gather(
            self._pipe("up", c_reader, t_writer, self.up),
            self._pipe("down", t_reader, c_writer, self.down),
        )

    async def _pipe(
        self,
        direction: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: bytearray,
    ) -> None:
        offset = 0
        try:
            while chunk := await reader.read(65536):
                record += chunk
                out = self.mutate(direction, chunk, offset) if self.mutate else chunk
                offset += len(chunk)
                writer.write(out)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.write_eof()


class RelayThread:
    """A :class:`Relay` on its own event loop in a thread, for tests whose peers are other
    processes (the test's own code may block meanwhile). ``target`` can change at any time."""

    def __init__(self, mutate: Mutator | None = None) -> None:
        import threading

        self.relay = Relay("127.0.0.1", 1, mutate)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.address = asyncio.run_coroutine_threadsafe(self.relay.start(), self.loop).result(5)

    def set_target(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.relay.target = (host, int(port))

    def recorded(self) -> bytes:
        async def grab() -> bytes:
            return bytes(self.relay.up) + bytes(self.relay.down)

        return asyncio.run_coroutine_threadsafe(grab(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.relay.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
