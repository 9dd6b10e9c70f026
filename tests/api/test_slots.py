"""Slots and call admission given back from worker threads: first come, first served; a
waiter cancelled while its slot was on the way passes it on; nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import threading

from zomehost.api.admission import CallAdmission
from zomehost.api.slots import Slots
from zomehost.core.limits import Admission


def _from_thread(fn: object) -> None:
    t = threading.Thread(target=fn)  # type: ignore[arg-type]
    t.start()
    t.join()


def test_slots_are_handed_to_waiters_in_arrival_order_from_any_thread() -> None:
    async def main() -> None:
        slots = Slots(1)
        assert slots.try_take() and not slots.try_take()
        order: list[int] = []

        async def waiter(i: int) -> None:
            await slots.take()
            order.append(i)

        tasks = [asyncio.create_task(waiter(i)) for i in range(3)]
        await asyncio.sleep(0.01)
        assert not slots.try_take()  # someone waits: no overtaking
        for expected in range(3):
            _from_thread(slots.give)
            await asyncio.sleep(0.01)
            assert order == list(range(expected + 1))
        await asyncio.gather(*tasks)
        assert slots.used == 1
        slots.give()
        assert slots.idle and slots.try_take()

    asyncio.run(main())


def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    async def main() -> None:
        slots = Slots(1)
        await slots.take()
        first = asyncio.create_task(slots.take())
        second = asyncio.create_task(slots.take())
        await asyncio.sleep(0.01)
        _from_thread(slots.give)  # handed to `first`, which is cancelled before it wakes
        first.cancel()
        await asyncio.wait_for(second, 1)
        assert first.cancelled() and slots.used == 1
        third = asyncio.create_task(slots.take())
        await asyncio.sleep(0.01)
        third.cancel()  # cancelled while still in line: leaves it
        await asyncio.sleep(0.01)
        slots.give()
        assert slots.idle

    asyncio.run(main())


def test_admission_given_back_by_workers_frees_connection_and_cell() -> None:
    async def main() -> None:
        admission = CallAdmission(Admission(calls_per_cell=2, calls_per_connection=3))
        a, b = admission.connection_slots(), admission.connection_slots()
        cell = b"cell"
        assert admission.try_enter(a, cell) and admission.try_enter(a, cell)
        assert not admission.try_enter(b, cell)  # the cell is full
        assert b.idle  # and b's connection slot was given back
        waiting = asyncio.create_task(admission.enter(b, cell))
        await asyncio.sleep(0.01)
        assert admission.waiting_or_running(cell) == 3
        _from_thread(lambda: admission.leave(a, cell))
        await asyncio.wait_for(waiting, 1)
        for conn in (a, b):
            _from_thread(lambda c=conn: admission.leave(c, cell))  # type: ignore[misc]
        assert admission.waiting_or_running(cell) == 0
        assert a.idle and b.idle

    asyncio.run(main())
