"""Per-connection traffic counters (``Connection.traffic``): frames and wire bytes each way,
what the conductor API's ``dump_network_stats`` shows per connection.

Known traffic goes over real loopback TCP, from the loop and from worker threads; the
counters move by at least its size, and what one side counts as sent the other counts as
received, byte for byte.
"""

from __future__ import annotations

import asyncio
import os
import time

from zomehost.network import protocol
from zomehost.network.noise import TAGLEN
from zomehost.network.session import LENGTH_PREFIX_LEN

from .test_transport import Echo, run, settle

BODY = 10_000
REQUESTS = 12
MESSAGES = 5


def test_both_ends_count_every_frame_and_its_bytes_on_the_wire() -> None:
    async def main() -> None:
        opened = time.time()
        server, client = Echo(), Echo()
        address = await server.transport.listen()
        conn = await client.transport.connect(address, server.identity)
        await settle(lambda: len(server.transport.connections) == 1)
        back = server.transport.connections[0]
        assert (conn.traffic.sent_frames, conn.traffic.received_frames) == (0, 0)  # handshake

        blobs = [os.urandom(BODY) for _ in range(REQUESTS)]
        answers = await asyncio.gather(*(conn.request("echo", b, 5) for b in blobs[:6]))
        loop = asyncio.get_running_loop()

        def from_a_worker(blob: bytes) -> object:
            rid, fut = conn.request_threadsafe("echo", blob)
            try:
                return fut.result(5)
            finally:
                conn.forget(rid)

        answers += await asyncio.gather(
            *(loop.run_in_executor(None, from_a_worker, b) for b in blobs[6:])
        )
        assert [a["echo"] for a in answers] == blobs  # type: ignore[index]
        for _ in range(MESSAGES):
            await conn.send_message("note", os.urandom(BODY))
        await settle(lambda: len(server.messages) == MESSAGES)

        sent, received = conn.traffic, back.traffic
        assert sent.sent_frames == REQUESTS + MESSAGES == received.received_frames
        assert sent.sent_bytes >= (REQUESTS + MESSAGES) * (BODY + LENGTH_PREFIX_LEN + TAGLEN)
        assert received.received_bytes == sent.sent_bytes
        # the answers, the other way
        assert received.sent_frames == REQUESTS == sent.received_frames
        assert sent.received_bytes == received.sent_bytes >= REQUESTS * BODY
        # exactly the frames' wire size: one more request moves the counters by its frame
        before = sent.sent_bytes
        next_id = REQUESTS + 1  # ids count from 1 over both kinds of request
        frame = len(protocol.encode(protocol.Request(next_id, "echo", b"x" * 100)))
        await conn.request("echo", b"x" * 100, 5)
        assert sent.sent_bytes - before == LENGTH_PREFIX_LEN + frame + TAGLEN
        assert opened <= conn.traffic.opened_at <= time.time()
        await client.transport.stop()
        await server.transport.stop()

    run(main)
