"""Scheduled zome functions: which are due, and one run of one (docs/abi.md, "Scheduled
functions").

A run is a zome call in all but its caller: the cell's author capability, the cell's limits
(deadline, fuel, memory, writes), ``init`` first, one commit. What the function returns —
its next schedule — is written in the same transaction as its records, so a run either
happened and moved its schedule on, or left no trace. A failed run (an error, a trap, a
limit, a malformed schedule) is logged with its error kind; a persisted schedule goes on at
its next time, anything else is dropped (Holochain's rule). The daemon's scheduler
(runtime/scheduler.py) decides when to run what, on its worker pool.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from zomehost.chain import schedules
from zomehost.chain.source_chain import Workspace
from zomehost.conductor.conductor import Conductor
from zomehost.core.capability import Authorization
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.hash import CellId
from zomehost.core.schedule import MIN_INTERVAL_US, Schedule, ScheduledFn, ScheduleWrite
from zomehost.errors import (
    AppNotEnabled,
    ChainLocked,
    HeadMoved,
    ZomeFunctionNotFound,
    ZomehostError,
)

log = logging.getLogger("zomehost.schedule")
# another writer got there first, or the app was disabled meanwhile: keep the schedule as it was
_RETRY = (HeadMoved, ChainLocked, AppNotEnabled)


@dataclass(frozen=True, slots=True)
class Due:
    cell_id: CellId
    item: ScheduledFn


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run did: its next schedule (``None``: no more runs), or why it failed."""

    next: ScheduledFn | None
    error: ZomehostError | None = None


class ScheduledRuns:
    """The scheduled functions of a conductor's running cells."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor
        dropped = schedules.drop_ephemeral(conductor.store)  # they end with the last run
        if dropped:
            log.info("dropped %d ephemeral schedule(s) of the last run", dropped)

    def scheduled(self, cell_id: CellId) -> list[ScheduledFn]:
        return schedules.of_cell(self.conductor.store, cell_id.key)

    def look(self, now: int, limit: int) -> tuple[list[Due], int | None]:
        """Up to ``limit`` schedules of the running cells (enabled apps) due by ``now``,
        soonest first, and when the next one is due (``None``: none is scheduled)."""
        running = {cid.key: cid for cid in self.conductor.running_cells()}
        found, soonest = schedules.due(self.conductor.store, now, limit, running.__contains__)
        return [Due(running[key], item) for key, item in found], soonest

    def run(self, due: Due) -> RunOutcome:
        """Run one due function now and move its schedule on (or drop it)."""
        c = self.conductor
        item = due.item
        started = now_micros()
        try:
            cell = c.cell(due.cell_id)
            _, zm = cell.zome(item.zome)
            if item.fn not in zm.schedulable:  # the zome's code was updated since
                raise ZomeFunctionNotFound(
                    f"{item.zome}.{item.fn} is no longer a schedulable function of this cell"
                )
            deadline = time.monotonic() + cell.limits.timeout_ms / 1000
            c._ensure_init(cell, deadline)
            moved: list[ScheduledFn | None] = []

            def schedule_next(value: Any, ws: Workspace) -> None:
                after = _moved_on(item, Schedule.from_wire(value), started)
                ws.schedule(ScheduleWrite(item.zome, item.fn, after))
                moved.append(after)

            given = None if item.schedule is None else item.schedule.to_wire()
            author = Authorization(cell.id.agent)
            c._run_new(cell, item.zome, item.fn, pack(given), author, deadline, 0, schedule_next)
        except ZomehostError as exc:
            return self._failed(due, started, exc)
        return RunOutcome(moved[0])

    def _failed(self, due: Due, started: int, exc: ZomehostError) -> RunOutcome:
        item = due.item
        log.warning(
            "scheduled function %s.%s of cell %s failed: %s: %s",
            item.zome,
            item.fn,
            due.cell_id,
            exc.kind,
            exc.message,
        )
        if isinstance(exc, _RETRY):
            after: ScheduledFn | None = ScheduledFn(
                item.zome, item.fn, item.schedule, started + MIN_INTERVAL_US
            )
        elif item.schedule is not None and item.schedule.persisted:
            after = _moved_on(item, item.schedule, started)
        else:
            after = None
        store = self.conductor.store
        try:
            with store.write() as txn:
                write = ScheduleWrite(item.zome, item.fn, after)
                schedules.apply(txn, store, due.cell_id.key, [write])
        except ZomehostError as again:  # the store refuses writes: the next start retries
            log.error("could not move the schedule of %s.%s on: %s", item.zome, item.fn, again)
        return RunOutcome(after, exc)


def _moved_on(item: ScheduledFn, returned: Schedule | None, started: int) -> ScheduledFn | None:
    if returned is None:
        return None
    return ScheduledFn(item.zome, item.fn, returned, returned.next_run(now_micros(), started))
