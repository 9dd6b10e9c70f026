"""Fair service: how many client zome calls may wait for or run on a worker at once.

The daemon has one pool of worker threads (64). Without a bound, one client — or many
clients at one busy cell — could hold every thread with slow calls and nobody else would be
served. A call takes a slot of its connection (``calls_per_connection``) and then one of its
cell (``calls_per_cell``) before it is handed to a worker; it waits for them on the event
loop, holding no thread, in arrival order. The worker gives both back when the call ends
(:class:`~zomehost.api.slots.Slots`: from any thread). Both bounds are ``admission:`` in
conductor-config.yaml (docs/sandbox.md, "Fair service").
"""

from __future__ import annotations

import threading

from zomehost.api.slots import Slots
from zomehost.core.limits import Admission


class CallAdmission:
    def __init__(self, limits: Admission) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        # cell key -> its slots and how many calls hold or wait for one (forgotten at 0)
        self._cells: dict[bytes, tuple[Slots, list[int]]] = {}

    def connection_slots(self) -> Slots:
        """The slots one client connection has (kept by the connection)."""
        return Slots(self.limits.calls_per_connection)

    def try_enter(self, connection: Slots, cell_key: bytes) -> bool:
        """On the loop: take both slots at once if both are free and nobody waits for them."""
        if not connection.try_take():
            return False
        cell = self._join(cell_key)
        if cell.try_take():
            return True
        self._quit(cell_key)
        connection.give()
        return False

    async def enter(self, connection: Slots, cell_key: bytes) -> None:
        """On the loop: wait for a connection slot, then a cell slot."""
        await connection.take()
        cell = self._join(cell_key)
        try:
            await cell.take()
        except BaseException:
            self._quit(cell_key)
            connection.give()
            raise

    def leave(self, connection: Slots, cell_key: bytes) -> None:
        """From any thread, once per call that entered: give both slots back."""
        self._quit(cell_key).give()
        connection.give()

    def _join(self, cell_key: bytes) -> Slots:
        with self._lock:
            entry = self._cells.get(cell_key)
            if entry is None:
                entry = self._cells[cell_key] = (Slots(self.limits.calls_per_cell), [0])
            entry[1][0] += 1
            return entry[0]

    def _quit(self, cell_key: bytes) -> Slots:
        with self._lock:
            slots, users = self._cells[cell_key]
            users[0] -= 1
            if not users[0]:  # nobody holds or waits: forget the cell
                del self._cells[cell_key]
            return slots

    def waiting_or_running(self, cell_key: bytes) -> int:
        entry = self._cells.get(cell_key)
        return entry[1][0] if entry is not None else 0
