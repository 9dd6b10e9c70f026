"""A zome call the event loop runs itself, and what sends it to a worker instead.

On two CPUs, handing a short read call from the event loop to a worker thread and its
answer onward cost more than the call (thread wake-ups and GIL hand-overs: ~3.5 context
switches per call). So the app interface runs a client's call of a function known to be
fast and read-only on the loop itself (api/app.py). Such a run is an *attempt*: it may not
block the loop for long nor do anything it could not take back. While it runs:

* anything that would wait (:func:`zomehost.core.blocking.waiting`), write to the chain,
  reach another cell, agent or client (signals), schedule or log stops it before acting
  (:func:`refuse`: the ribosome checks every host function against :data:`LOOP_SAFE`), and
  so does a host function's input of more than :data:`MAX_BYTES` (a call that big is not
  tried on the loop at all);
* its guest runs under a deadline of at most :data:`BUDGET_S` (the ribosome shortens it),
  and running past it stops it too (so a function can hold the loop for 5 to 10 ms once);
  long host work checks the same budget as it goes (:func:`check_time`: a query's reads).

A stopped attempt raises :class:`Moved`; the interface runs the call again from the start on
a worker, and the function's next calls start on workers, ever more of them after each move
(api/app.py; when it stopped for its time, only if it also used half its budget of CPU: on
a busy machine the loop's thread may wait for the GIL meanwhile). The first run left nothing
behind: its writes were only in its workspace, and it did nothing else. Its signature,
expiry and nonce were checked once, before it ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from zomehost.errors import ZomehostError

# How long an attempt's guest may run on the loop. The engine stops a guest at epoch ticks
# (ribosome/engine.py, EPOCH_TICK_S: 5 ms), and this is two of them: it runs 5 to 10 ms
# at most before it stops (one tick could come at once).
BUDGET_S = 0.006

# The most bytes an attempt takes in: a call's signed bytes (checked before it is tried on
# the loop) and a host function's input. Hashing, verifying, copying or sealing more would
# hold the loop for milliseconds whatever the function does (4 MB: ~5 ms to verify).
MAX_BYTES = 64 * 1024

# Host functions an attempt may call: they read this cell's chain or compute, and change
# nothing anyone else sees. Every other one (writes, signals, calls, schedules, clone
# cells, traces) moves the call to a worker.
LOOP_SAFE = frozenset(
    {
        "agent_info",
        "dna_info",
        "zome_info",
        "call_info",
        "get",
        "query",
        "random_bytes",
        "sys_time",
        "sign",
        "verify_signature",
        "generate_cap_secret",
        "capability_grants",
        "capability_claims",
        "hash_entry",
        "hash_action",
        "hash_blake2b",
        "box_encrypt",
        "box_decrypt",
        "secretbox_encrypt",
        "secretbox_decrypt",
    }
)


class Moved(ZomehostError):
    """An attempt on the loop stopped before doing what only a worker may do. Never
    answered to a client: the interface runs the call again on a worker."""

    kind = "MovedToWorker"


class Attempt:
    """One call's run on the loop: why it stopped, if it did, and whether for its time
    (which may be the loop's fault: waits for the GIL count) rather than what it does."""

    __slots__ = ("late", "until", "why")

    def __init__(self) -> None:
        self.why: str | None = None
        self.late = False
        self.until = float("inf")  # when its guest's budget ends (set as the guest starts)

    @property
    def moved(self) -> bool:
        return self.why is not None


class _Local(threading.local):
    attempt: Attempt | None = None  # a default: a missing attribute costs an exception


_local = _Local()


@contextmanager
def attempt() -> Iterator[Attempt]:
    """Run a call on this thread as an attempt (not nested)."""
    a = Attempt()
    _local.attempt = a
    try:
        yield a
    finally:
        _local.attempt = None


def current() -> Attempt | None:
    """The attempt running on this thread, if any (one thread-local read)."""
    return _local.attempt


def check_time(what: str) -> None:
    """In long host work (a query reading many records): during an attempt whose guest's
    budget is spent, stop it — a host function is not interrupted by the engine."""
    a = current()
    if a is not None and time.monotonic() > a.until:
        refuse(f"{what} running past {BUDGET_S} s", late=True)


def refuse(what: str, *, late: bool = False) -> None:
    """Before ``what`` (a wait, an effect), or once the guest ran past its budget
    (``late``): during an attempt, stop it (:class:`Moved`)."""
    a = current()
    if a is not None:
        if a.why is None:
            a.why, a.late = what, late
        raise Moved(f"{what} is not done on the event loop: the call moves to a worker")
