"""The daemon's scheduler: runs the due scheduled zome functions on the worker pool.

It wakes when the soonest schedule is due, and at least once a second (a schedule a call
just made waits at most that long); each wake reads only the due schedules (the store keeps
them in the order they run), however many there are. Scheduled work never crowds out
client calls: at most :data:`MAX_RUNNING` runs at once, one per cell at a time, and a
cell's runs start at least ``CELL_RUN_GAP_US`` apart whatever its schedules say
(core/schedule.py bounds each schedule to one run a second and a cell to 16 schedules). A
run that fails is logged by :mod:`zomehost.conductor.scheduling` and does not stop the
others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from zomehost.conductor.scheduling import Due, RunOutcome, ScheduledRuns
from zomehost.core.clock import now_micros
from zomehost.core.schedule import CELL_RUN_GAP_US

log = logging.getLogger("zomehost.schedule")
MAX_RUNNING = 4  # scheduled runs at once, of the daemon's worker threads
MAX_SLEEP_S = 1.0
MIN_SLEEP_S = 0.05
LOOK = 256  # due schedules read per wake at most (the rest: at the next one)

InWorker = Callable[..., Awaitable[Any]]


class Scheduler:
    def __init__(self, runs: ScheduledRuns, in_worker: InWorker) -> None:
        self.runs = runs
        self.in_worker = in_worker
        self._running: dict[bytes, asyncio.Task[None]] = {}  # cell key -> its run
        self._last_start: dict[bytes, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        """Start no more runs; let the running ones finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                sleep = await self._tick()
            except Exception:  # a damaged schedule table must not end the scheduler
                log.exception("the scheduler failed to read the schedules")
                sleep = MAX_SLEEP_S
            await asyncio.sleep(sleep)

    async def _tick(self) -> float:
        now = now_micros()
        looked: tuple[list[Due], int | None] = await self.in_worker(self.runs.look, now, LOOK)
        due, upcoming = looked
        soonest = now + int(MAX_SLEEP_S * 1_000_000)
        if upcoming is not None:
            soonest = min(soonest, upcoming)
        for d in due:
            key = d.cell_id.key
            at = max(d.item.next_at, self._last_start.get(key, 0) + CELL_RUN_GAP_US)
            if at > now or key in self._running or len(self._running) >= MAX_RUNNING:
                soonest = min(soonest, at)  # (a busy cell: look again soon)
                continue
            self._last_start[key] = now
            self._running[key] = asyncio.get_running_loop().create_task(self._run(key, d))
        return max(MIN_SLEEP_S, (soonest - now) / 1_000_000)

    async def _run(self, key: bytes, due: Due) -> None:
        try:
            outcome: RunOutcome = await self.in_worker(self.runs.run, due)
            if outcome.error is None:
                log.debug("ran %s.%s of %s", due.item.zome, due.item.fn, due.cell_id)
        except Exception:  # not a zome's failure (those are outcomes): the host's own
            log.exception("scheduled run of %s.%s failed", due.item.zome, due.item.fn)
        finally:
            del self._running[key]
