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
        dispatched: list[object] = []
        admission = CallAdmission(Admission(calls_per_cell=2, calls_per_connection=3))
        admission.dispatch = dispatched.append
        a, b = admission.connection_slots(), admission.connection_slots()
        cell = b"cell"
        assert admission.enter_or_queue(a, cell, "a1") and admission.enter_or_queue(a, cell, "a2")
        waiting = asyncio.create_task(admission.enter(b, cell))  # a turn, on the loop
        await asyncio.sleep(0.01)
        assert admission.waiting_or_running(cell) == 3
        _from_thread(lambda: admission.leave(a, cell))
        await asyncio.wait_for(waiting, 1)
        assert dispatched == []  # a turn was next: the loop got the slot
        for conn in (a, b):
            _from_thread(lambda c=conn: admission.leave(c, cell))  # type: ignore[misc]
        assert admission.waiting_or_running(cell) == 0
        assert a.idle and b.idle

    asyncio.run(main())


def test_a_full_cell_queues_calls_for_the_worker_that_frees_a_slot() -> None:
    """Behind a full cell a call waits in the cell's line, holding its connection's slot;
    the thread that gives the cell's slot back hands the oldest call to ``dispatch`` (turns
    and calls in one line, arrival order), and a connection with no free slot is told to
    wait."""

    async def main() -> None:
        dispatched: list[tuple[object, str]] = []
        admission = CallAdmission(Admission(calls_per_cell=1, calls_per_connection=1))
        admission.dispatch = lambda call: dispatched.append((call, threading.current_thread().name))
        a, b, c, d = (admission.connection_slots() for _ in range(4))
        cell = b"cell"
        assert admission.enter_or_queue(a, cell, "a") is True
        assert admission.enter_or_queue(b, cell, "b") is False  # queued
        assert not b.try_take()  # b's connection slot is held by its queued call
        turn = asyncio.create_task(admission.enter(c, cell))  # then a turn on the loop
        await asyncio.sleep(0.01)
        assert admission.enter_or_queue(d, cell, "d") is False
        assert admission.enter_or_queue(d, cell, "d2") is None  # d's connection is busy
        assert admission.waiting_or_running(cell) == 4

        def leave(conn: Slots) -> None:
            t = threading.Thread(target=admission.leave, args=(conn, cell), name="worker")
            t.start()
            t.join()

        leave(a)
        assert dispatched == [("b", "worker")] and not turn.done()  # the oldest waiter
        leave(b)
        await asyncio.wait_for(turn, 1)
        assert len(dispatched) == 1  # then the turn, woken on its loop
        leave(c)
        assert dispatched[-1] == ("d", "worker")
        leave(d)
        assert admission.waiting_or_running(cell) == 0
        assert all(s.idle for s in (a, b, c, d))

    asyncio.run(main())


def test_a_queued_call_behind_a_cancelled_turn_goes_to_dispatch() -> None:
    """A slot handed to a turn cancelled before it woke is passed on, on the loop; a
    queued call next in line then goes to ``dispatch`` (a worker), never lost."""

    async def main() -> None:
        dispatched: list[object] = []
        admission = CallAdmission(Admission(calls_per_cell=1, calls_per_connection=1))
        admission.dispatch = dispatched.append
        a, b, c = (admission.connection_slots() for _ in range(3))
        cell = b"cell"
        assert admission.enter_or_queue(a, cell, "a") is True
        turn = asyncio.create_task(admission.enter(b, cell))
        await asyncio.sleep(0.01)
        assert admission.enter_or_queue(c, cell, "c") is False
        _from_thread(lambda: admission.leave(a, cell))
        turn.cancel()  # the slot is on its way to the turn
        await asyncio.sleep(0.05)
        assert dispatched == ["c"]
        assert b.idle  # the cancelled waiter gave its connection slot back
        admission.leave(c, cell)
        assert admission.waiting_or_running(cell) == 0 and c.idle

    asyncio.run(main())
