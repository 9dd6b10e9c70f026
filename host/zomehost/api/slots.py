"""A bound on work in progress, taken on the event loop and given back from any thread.

The interfaces hand a zome call to a worker thread, which answers the client itself; it
gives its slots back where it ends, on that thread, so a call costs no hop back to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque


class Slots:
    """``limit`` slots. On the loop, :meth:`try_take` takes one at once when one is free and
    nobody waits, :meth:`take` waits its turn; any thread :meth:`give`\\ s one back, which
    hands it straight to the oldest waiter: first come, first served, and one give wakes at
    most one waiter (and only when someone waits)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0  # taken, or handed to a waiter that has not woken yet
        self._lock = threading.Lock()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        with self._lock:
            if self.used >= self.limit or self._waiters:
                return False
            self.used += 1
            return True

    async def take(self) -> None:
        """On the loop: take a slot, after everyone who waited before."""
        with self._lock:
            if self.used < self.limit and not self._waiters:
                self.used += 1
                return
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            with self._lock:
                if turn in self._waiters:  # not handed a slot yet: leave the line
                    self._waiters.remove(turn)
            # else a give() handed it over; _grant sees the cancelled turn and passes it on
            raise

    def give(self) -> None:
        """From any thread: free a slot, or hand it to the oldest waiter."""
        with self._lock:
            if not self._waiters:
                self.used -= 1
                return
            turn = self._waiters.popleft()
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody is left to serve
            turn.get_loop().call_soon_threadsafe(self._grant, turn)

    def _grant(self, turn: asyncio.Future[None]) -> None:
        if turn.done():  # the waiter was cancelled meanwhile: the next one gets it
            self.give()
        else:
            turn.set_result(None)

    @property
    def idle(self) -> bool:
        return self.used == 0
