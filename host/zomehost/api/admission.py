"""Fair service: how many client zome calls may wait for or run on a worker at once.

The daemon has one pool of worker threads (64). Without a bound, one client — or many
clients at one busy cell — could hold every thread with slow calls and nobody else would be
served. A call takes a slot of its connection (``calls_per_connection``) and then one of its
cell (``calls_per_cell``) before it is handed to a worker; it waits for them on the event
loop, holding no thread, in arrival order. Both bounds are ``admission:`` in
conductor-config.yaml (docs/sandbox.md, "Fair service").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from zomehost.core.limits import Admission


class CallAdmission:
    def __init__(self, limits: Admission) -> None:
        self.limits = limits
        self._cells: dict[bytes, tuple[asyncio.Semaphore, list[int]]] = {}

    def connection_slots(self) -> asyncio.Semaphore:
        """The slots one client connection has (kept by the connection)."""
        return asyncio.Semaphore(self.limits.calls_per_connection)

    @asynccontextmanager
    async def slot(self, connection: asyncio.Semaphore, cell_key: bytes) -> AsyncIterator[None]:
        """On the loop: wait for a connection slot, then a cell slot; both freed after."""
        async with connection:
            entry = self._cells.get(cell_key)
            if entry is None:
                entry = self._cells[cell_key] = (asyncio.Semaphore(self.limits.calls_per_cell), [0])
            sem, users = entry
            users[0] += 1
            try:
                async with sem:
                    yield
            finally:
                users[0] -= 1
                if not users[0]:  # nobody holds or waits: forget the cell
                    del self._cells[cell_key]

    def waiting_or_running(self, cell_key: bytes) -> int:
        entry = self._cells.get(cell_key)
        return entry[1][0] if entry is not None else 0
