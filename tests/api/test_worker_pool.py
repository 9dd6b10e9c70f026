"""The daemon's worker pool: results and errors come back, threads are reused and capped
(jobs past the cap wait their turn), and shutdown cancels what has not started."""

from __future__ import annotations

import asyncio
import threading
import time

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


def test_only_target_jobs_run_at_once_and_the_line_is_served_without_new_threads() -> None:
    """While jobs keep finishing, at most ``target`` run at once; the rest wait in line and
    the workers that finish take them (no thread per job)."""
    pool = WorkerPool(16, target=2)
    lock = threading.Lock()
    now, most, done = [0], [0], threading.Event()
    count = [0]

    def job() -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        sum(range(20_000))  # a little CPU, no announced wait
        with lock:
            now[0] -= 1
            count[0] += 1
            if count[0] == 200:
                done.set()

    for _ in range(200):
        pool.submit(job)
    assert done.wait(10)
    assert count[0] == 200
    assert most[0] <= 3  # two, or three while the watchman thinks the line stands still
    assert len(pool._threads) <= 3
    pool.shutdown()


def test_an_announced_wait_gives_its_place_to_the_next_job() -> None:
    from zomehost.core import blocking

    pool = WorkerPool(4, target=1)
    release, second_ran = threading.Event(), threading.Event()
    waits: list[bool] = []

    def waiter() -> None:
        with blocking.waiting():
            waits.append(release.wait(5))

    pool.submit(waiter)
    pool.submit(second_ran.set)
    assert second_ran.wait(2)  # ran while the first waited
    for _ in range(200):  # the waiting job is counted out: nothing runs now
        if pool._running == 0:
            break
        time.sleep(0.005)
    assert pool._running == 0
    release.set()
    pool.shutdown()
    assert waits == [True]


def test_a_thread_counts_its_announced_waits_once_however_nested() -> None:
    from zomehost.core import blocking

    before = blocking.waited()
    t0 = time.perf_counter()
    with blocking.waiting():
        time.sleep(0.05)
        with blocking.waiting():  # inside the first: counted there, not twice
            time.sleep(0.05)
    span = time.perf_counter() - t0
    time.sleep(0.05)  # not announced: not counted
    assert 0.1 <= blocking.waited() - before <= span
    other: list[float] = []
    worker = threading.Thread(target=lambda: other.append(blocking.waited()))
    worker.start()
    worker.join()
    assert other == [0.0]  # per thread


def test_a_wait_nobody_announces_is_found_by_the_watchman() -> None:
    """A job blocked without saying so does not hold the line: within milliseconds the
    pool runs the next job on another thread (up to ``max_threads``)."""
    pool = WorkerPool(3, target=1)
    release = threading.Event()
    ran = [threading.Event() for _ in range(3)]
    pool.submit(release.wait, 10)
    pool.submit(release.wait, 10)  # a second blocked job: the watchman adds again
    for e in ran:
        pool.submit(e.set)
    assert all(e.wait(2) for e in ran)  # served by the third thread
    assert len(pool._threads) == 3
    release.set()
    pool.shutdown()


def test_every_job_runs_once_when_submitted_from_many_threads_and_shutdown_runs_the_line() -> None:
    pool = WorkerPool(8, target=2)
    seen: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        with lock:
            seen.append(i)

    def feed(base: int) -> None:
        for i in range(base, base + 500):
            pool.submit(record, i)

    feeders = [threading.Thread(target=feed, args=(k * 500,)) for k in range(4)]
    for t in feeders:
        t.start()
    for t in feeders:
        t.join()
    pool.shutdown(wait=True)  # queued jobs still run
    assert sorted(seen) == list(range(2000))


def test_behind_a_long_running_job_a_new_one_starts_at_once() -> None:
    """When no job has started or finished for a while (the running ones are long or
    stuck) and nobody is in line, a new job gets a worker at once: it never joins a line
    the watchman would only look at a millisecond later."""
    pool = WorkerPool(4, target=1)
    release, ran = threading.Event(), threading.Event()
    pool.submit(release.wait, 10)
    time.sleep(0.05)  # the running job is now "long"
    pool.submit(ran.set)
    assert not pool._line and not pool._watching  # started, not queued
    assert ran.wait(2)
    release.set()
    pool.shutdown()
