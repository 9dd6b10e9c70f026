"""Fair service: how many client zome calls may wait for or run on a worker at once.

The daemon has one pool of worker threads (64). Without a bound, one client — or many
clients at one busy cell — could hold every thread with slow calls and nobody else would be
served. A call takes a slot of its connection (``calls_per_connection``) and then one of its
cell (``calls_per_cell``) before it is handed to a worker; it waits for them, holding no
thread, in arrival order: for its connection's slot on the event loop, for its cell's slot
in the cell's line, from which the worker that gives a slot back hands it to the worker
pool — where, under load, that same worker takes it next: no loop wake-up, task or thread
hand-off per call (:class:`~zomehost.api.slots.Slots`: from any thread). Both bounds are
``admission:`` in conductor-config.yaml (docs/sandbox.md, "Fair service").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from zomehost.api.slots import Slots
from zomehost.core.limits import Admission


class CallAdmission:
    def __init__(self, limits: Admission) -> None:
        self.limits = limits
        # runs a queued call once it has the cell's slot (set by the interfaces)
        self.dispatch: Callable[[Any], None] | None = None
        self._lock = threading.Lock()
        # cell key -> its slots and how many calls hold or wait for one (forgotten at 0)
        self._cells: dict[bytes, tuple[Slots, list[int]]] = {}

    def connection_slots(self) -> Slots:
        """The slots one client connection has (kept by the connection)."""
        return Slots(self.limits.calls_per_connection)

    def enter_or_queue(self, connection: Slots, cell_key: bytes, call: Any) -> bool | None:
        """On the loop: take both slots (True); or take the connection's and leave ``call``
        in the cell's line (False: a :meth:`leave` hands it the cell's slot and it goes to
        ``dispatch``); or take nothing (None: the connection's slots are busy, :meth:`enter`
        waits)."""
        if not connection.try_take():
            return None
        return self._join(cell_key).take_or_queue(call)

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
        """From any thread, once per call that entered: give both slots back (a call queued
        by :meth:`enter_or_queue` that the cell's slot goes to is handed to ``dispatch``)."""
        self._quit(cell_key).give()
        connection.give()

    def _join(self, cell_key: bytes) -> Slots:
        with self._lock:
            entry = self._cells.get(cell_key)
            if entry is None:
                slots = Slots(self.limits.calls_per_cell, self.dispatch)
                entry = self._cells[cell_key] = (slots, [0])
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
