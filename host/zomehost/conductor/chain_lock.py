"""The lock on one cell's chain: shared by commits, exclusive for a bridge call tree.

Commits need no lock to be correct: each checks the head inside its own write transaction
(a strict write whose head moved fails, a relaxed one is rebased). What the lock gives is
the bridge-call guarantee (docs/capabilities.md): while a bridge call runs, no other call
commits to either chain. So commits hold it *shared* — many at once, which lets concurrent
commits to one chain land in the same group transaction and share one sync
(``Store.write_group``) — and a bridge call holds it *exclusively*, waiting for the commits
in flight to finish (synced) and keeping new ones out until it returns. A waiting bridge
call goes before commits that arrive after it, so a stream of commits cannot starve it.

The thread holding it exclusively may take it again, shared or exclusive (the bridge
call's own callee commits, a call tree that comes back to the same cell), as with the
re-entrant lock this replaces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from zomehost.core import blocking


class ChainLock:
    """Shared/exclusive, re-entrant for the exclusive holder, exclusive waiters first."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None  # the thread holding it exclusively
        self._depth = 0  # its acquisitions (of either kind) not yet released
        self._shared = 0  # commits holding it
        self._waiting = 0  # threads waiting to hold it exclusively

    def acquire(self, timeout: float | None, *, shared: bool = False) -> bool:
        """Take the lock within ``timeout`` seconds (None: however long); False if it
        stayed taken."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if shared:
                if not self._wait(self._shareable, timeout):
                    return False
                self._shared += 1
                return True
            self._waiting += 1
            try:
                ok = self._wait(self._free, timeout)
            finally:
                self._waiting -= 1
            if ok:
                self._owner, self._depth = me, 1
            elif not self._waiting:
                self._cond.notify_all()  # commits held back only by this waiter go on
            return ok

    def release(self) -> None:
        with self._cond:
            if self._owner == threading.get_ident():
                self._depth -= 1
                if self._depth:
                    return
                self._owner = None
            else:
                if self._shared <= 0:
                    raise RuntimeError("release of a chain lock this thread does not hold")
                self._shared -= 1
                if self._shared:
                    return
            self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Under the condition: wait until ``ready`` (a wait the worker pool is told of)."""
        if ready():
            return True
        with blocking.waiting():
            return self._cond.wait_for(ready, timeout)

    def _shareable(self) -> bool:
        return self._owner is None and not self._waiting

    def _free(self) -> bool:
        return self._owner is None and not self._shared
