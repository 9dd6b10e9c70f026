"""A thread about to wait says so: the worker pool that runs it may start another job.

The worker pool keeps only a few jobs running at once (more runnable threads in one Python
process only pass the GIL around), so a job that waits — for a disk sync, a peer's answer,
another call's lock — would hold a running place while doing nothing. Code that waits wraps
the wait in :func:`waiting`; on a pool's worker thread the pool counts the job out for the
time, elsewhere it costs two thread-local reads (this one and the loop's, below). A wait
nobody announces is found by the pool's watchman instead, a millisecond later. A call the
event loop runs itself may not wait at all: there a wait stops it
(:mod:`zomehost.core.on_loop`), and a worker runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from zomehost.core import on_loop


class Runner(Protocol):
    """What runs the current thread's job (the worker pool)."""

    def blocked(self) -> None: ...

    def unblocked(self) -> None: ...


class _Local(threading.local):
    runner: Runner | None = None  # defaults: a missing attribute costs an exception
    waits = False
    waited = 0.0  # seconds this thread spent in announced waits, ever


_local = _Local()


def run_by(runner: Runner | None) -> None:
    """Called on a worker thread when it starts: waits on it are reported to ``runner``."""
    _local.runner = runner


@contextmanager
def waiting() -> Iterator[None]:
    """Around a wait of the current thread (a sync, a network answer, a lock)."""
    on_loop.refuse("a wait")
    local = _local
    if local.waits:  # inside a wait already: reported and counted there
        yield
        return
    runner = local.runner
    if runner is not None:
        runner.blocked()
    local.waits = True
    t0 = time.perf_counter()
    try:
        yield
    finally:
        local.waited += time.perf_counter() - t0
        local.waits = False
        if runner is not None:
            runner.unblocked()


def waited() -> float:
    """Seconds the current thread has spent in announced waits: with its CPU time, what a
    piece of work needed, apart from the GIL waits of a busy process."""
    return _local.waited
