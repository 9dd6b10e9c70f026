"""The daemon's worker pool: results and errors come back, only ``active`` jobs run at
once, a stalled job stops holding its slot, and threads stay capped."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from zomehost.daemon import WorkerPool


def test_results_errors_and_thread_reuse() -> None:
    async def main() -> None:
        pool = WorkerPool(4, 2, 0.5)
        assert await pool.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ZeroDivisionError):
            await pool.run(lambda: 1 / 0)
        names = {await pool.run(lambda: threading.current_thread().name) for _ in range(20)}
        assert len(names) == 1  # sequential jobs reuse one thread
        pool.shutdown()
        with pytest.raises(RuntimeError):
            pool.run(lambda: None)

    asyncio.run(main())


def test_only_active_jobs_run_until_one_stalls() -> None:
    async def main() -> None:
        pool = WorkerPool(8, 2, 5.0)
        release = threading.Event()
        running = 0
        peak = 0
        lock = threading.Lock()

        def job() -> None:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.005)
            with lock:
                running -= 1

        await asyncio.gather(*(pool.run(job) for _ in range(20)))
        assert peak == 2
        pool.shutdown()
        # Two jobs that block: after the stall time the others run beside them.
        pool = WorkerPool(8, 2, 0.05)
        blocked = [pool.run(release.wait, 10) for _ in range(2)]
        t0 = time.monotonic()
        await asyncio.gather(*(pool.run(job) for _ in range(6)))
        assert time.monotonic() - t0 < 5
        release.set()
        assert await asyncio.gather(*blocked) == [True, True]
        pool.shutdown()

    asyncio.run(main())


def test_threads_are_capped_and_shutdown_cancels_waiting_jobs() -> None:
    async def main() -> None:
        pool = WorkerPool(3, 1, 0.01)
        release = threading.Event()
        held = [pool.run(release.wait, 10) for _ in range(3)]
        await asyncio.sleep(0.2)  # all three stalled: every thread is taken
        waiting = pool.run(lambda: "late")
        await asyncio.sleep(0.1)
        assert not waiting.done()
        release.set()
        assert await asyncio.wait_for(waiting, 5) == "late"
        await asyncio.gather(*held)
        release.clear()
        held = [pool.run(release.wait, 10) for _ in range(3)]
        await asyncio.sleep(0.2)
        queued = pool.run(lambda: "never")
        release.set()
        pool.shutdown(wait=True, cancel_futures=True)
        assert queued.cancelled()
        assert not any(t.is_alive() for t in pool._threads)

    asyncio.run(main())
