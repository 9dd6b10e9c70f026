"""A bound on work in progress, taken on the event loop and given back from any thread.

The interfaces hand a zome call to a worker thread, which answers the client itself; it
gives its slots back where it ends, on that thread, so a call costs no hop back to the loop.
A call that found no free slot may wait as a *turn* (a future the loop awaits) or as an
*item* queued in line, which the slot's giver hands to ``dispatch`` (a worker) — no trip
through the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any


class Slots:
    """``limit`` slots. On the loop, :meth:`try_take` takes one at once when one is free and
    nobody waits, :meth:`take` waits its turn; :meth:`take_or_queue` leaves an item in line
    instead; any thread :meth:`give`\\ s one back, which hands it straight to the oldest
    waiter: first come, first served, and one give wakes at most one waiter (and only when
    someone waits)."""

    def __init__(self, limit: int, dispatch: Callable[[Any], None] | None = None) -> None:
        self.limit = limit
        self.dispatch = dispatch  # runs a queued item :meth:`give` hands a slot to
        self.used = 0  # taken, or handed to a waiter that has not woken yet
        self._lock = threading.Lock()
        self._waiters: deque[asyncio.Future[None] | _Queued] = deque()

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

    def take_or_queue(self, item: Any) -> bool:
        """Take a slot at once (True) or leave ``item`` in line (False): a later
        :meth:`give` hands it the slot and ``dispatch`` runs it."""
        with self._lock:
            if self.used < self.limit and not self._waiters:
                self.used += 1
                return True
            self._waiters.append(_Queued(item))
            return False

    def give(self) -> None:
        """From any thread: free a slot, or hand it to the oldest waiter (a queued item goes
        to ``dispatch``)."""
        with self._lock:
            if not self._waiters:
                self.used -= 1
                return
            turn = self._waiters.popleft()
        if isinstance(turn, _Queued):
            assert self.dispatch is not None, "an item was queued on slots without dispatch"
            self.dispatch(turn.item)
            return
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


class _Queued:
    """An item waiting in line (a wrapper: an item is never mistaken for a loop's turn)."""

    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item
