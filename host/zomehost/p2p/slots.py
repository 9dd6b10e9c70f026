"""A bounded count of the peer requests being served, taken on the loop, freed anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Slots:
    """How many incoming calls and signals are queued or running, bounded; any thread frees.

    The loop takes a free slot without waiting (the common case); when none is free, a call
    waits on the loop until one is released, within its timeout.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []

    def try_acquire(self) -> bool:
        with self._lock:
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    async def acquire(self, timeout: float) -> bool:
        """On the loop: wait for a slot; False if none came within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.try_acquire():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            woken: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._waiters.append(woken)
            try:
                await asyncio.wait_for(woken, remaining)
            except TimeoutError:
                return False
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove(woken)
        return True

    def release(self) -> None:
        """From any thread; wakes every waiter (they race for the slot again)."""
        with self._lock:
            self._used -= 1
            waiters, self._waiters = self._waiters, []
        for woken in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed
                woken.get_loop().call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
