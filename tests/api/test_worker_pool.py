"""The daemon's worker pool: results and errors come back, threads are reused and capped
(jobs past the cap wait their turn), and shutdown cancels what has not started."""

from __future__ import annotations

import asyncio
import threading

import pytest

from zomehost.runtime.workers import WorkerPool


def test_results_errors_and_thread_reuse() -> None:
    async def main() -> None:
        pool = WorkerPool(4)
        assert await pool.run(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ZeroDivisionError):
            await pool.run(lambda: 1 / 0)
        names = {await pool.run(lambda: threading.current_thread().name) for _ in range(20)}
        assert len(names) == 1  # sequential jobs reuse one thread
        pool.shutdown()
        with pytest.raises(RuntimeError):
            pool.run(lambda: None)

    asyncio.run(main())


def test_threads_are_capped_and_shutdown_cancels_queued_jobs() -> None:
    async def main() -> None:
        pool = WorkerPool(3)
        release = threading.Event()
        held = [pool.run(release.wait, 10) for _ in range(3)]
        waiting = pool.run(lambda: "late")
        await asyncio.sleep(0.1)
        assert not waiting.done()  # every thread is taken: it waits for one
        assert len(pool._threads) == 3
        release.set()
        assert await asyncio.wait_for(waiting, 5) == "late"
        assert await asyncio.gather(*held) == [True, True, True]
        release.clear()
        held = [pool.run(release.wait, 10) for _ in range(3)]
        await asyncio.sleep(0.1)
        queued = pool.run(lambda: "never")
        release.set()
        pool.shutdown(wait=True, cancel_futures=True)
        assert queued.cancelled()
        assert not any(t.is_alive() for t in pool._threads)

    asyncio.run(main())


def test_submitted_jobs_answer_for_themselves_and_an_error_does_not_kill_the_worker() -> None:
    async def main() -> None:
        pool = WorkerPool(1)
        done = threading.Event()
        pool.submit(lambda: 1 / 0)  # logged; the thread goes on
        pool.submit(done.set)
        assert await asyncio.to_thread(done.wait, 5)
        assert len(pool._threads) == 1 and pool._threads[0].is_alive()
        pool.shutdown()
        with pytest.raises(RuntimeError):
            pool.submit(done.set)

    asyncio.run(main())


def test_the_daemon_runs_on_uvloop_when_installed_else_on_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    import uvloop

    from zomehost.runtime import daemon

    monkeypatch.delenv(daemon.EVENT_LOOP_ENV, raising=False)
    assert daemon.event_loop_factory() is uvloop.new_event_loop
    monkeypatch.setenv(daemon.EVENT_LOOP_ENV, "asyncio")
    assert daemon.event_loop_factory() is None
    monkeypatch.delenv(daemon.EVENT_LOOP_ENV)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # not installed: import fails
    assert daemon.event_loop_factory() is None
