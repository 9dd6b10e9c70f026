"""The threads that read established peer connections, so a frame costs no thread hop.

Once its handshake is done, a connection's socket is read by these threads instead of the
event loop: one ``epoll`` set holds every connection's socket, one-shot, and each idle
thread waits in ``epoll_wait``. The kernel wakes exactly one of them when bytes arrive; it
reads and decrypts them under the connection's lock, re-arms the socket (so another thread
reads what follows), and may then run an incoming call itself: the call starts on the
thread the bytes woke, not on a worker the loop has to wake. A thread that starts a call
first makes sure another one is left waiting (the pool grows up to ``max_threads``);
at the limit, the call takes the loop's way instead (a worker pool, with its admission).

A worker thread waiting for the answer to its own request may disarm its connection here
and read it itself (:meth:`~zomehost.network.transport.Connection.call_threadsafe`), so its
answer wakes it directly; it arms the socket again when it is done.

Only the sockets' reading is here; writing stays where it was (any thread, under the
connection's lock), and the event loop keeps the handshake, the writes it queues, and
whatever a frame hands it (one-way messages, requests it serves, answers it awaits).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable

log = logging.getLogger("zomehost.network.readers")

ARMED = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT
DISARMED = select.EPOLLONESHOT
"""Registered but reporting nothing (hang-ups and errors once, which the reader ignores)."""

Reader = Callable[[], None]
"""A connection's read step, run by the thread its socket woke."""


class ReaderPool:
    """Threads waiting on one ``epoll`` set of connection sockets, one-shot each."""

    def __init__(self, max_threads: int, name: str = "zome-net") -> None:
        if max_threads < 2:
            raise ValueError("a reader pool needs two threads: one reads while one runs a call")
        self.max_threads = max_threads
        self.name = name
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        self._epoll.register(self._wake_r, select.EPOLLIN)  # level-triggered: wakes every thread
        self._readers: dict[int, Reader] = {}
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._stopped = False

    @property
    def threads(self) -> int:
        return self._threads

    def add(self, fd: int, reader: Reader) -> None:
        """Watch ``fd``: when it is readable, one thread calls ``reader`` (then re-arm it)."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("the reader pool is stopped")
            self._readers[fd] = reader
            if self._threads == 0:
                self._start_thread()
            self._epoll.register(fd, ARMED)

    def arm(self, fd: int) -> None:
        """Report ``fd`` once more when readable (after a read, or a waiter gave it back)."""
        with contextlib.suppress(OSError, ValueError):  # closed meanwhile
            self._epoll.modify(fd, ARMED)

    def disarm(self, fd: int) -> None:
        """Stop reporting ``fd``: a waiting worker reads it itself until it arms it again."""
        with contextlib.suppress(OSError, ValueError):
            self._epoll.modify(fd, DISARMED)

    def remove(self, fd: int) -> None:
        with self._lock:
            self._readers.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)

    def spare_reader(self) -> bool:
        """Called by a pool thread before it runs a call: is another thread left to read?

        Starts one if none waits; False at ``max_threads`` (the call must go elsewhere).
        """
        with self._lock:
            if self._idle > 0:
                return True
            if self._threads >= self.max_threads or self._stopped:
                return False
            self._start_thread()
            return True

    def stop(self) -> None:
        """Let every thread end (a thread running a call ends when the call does)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            threads = self._threads
        os.write(self._wake_w, b"x")
        if threads == 0:
            self._close()

    def _start_thread(self) -> None:
        self._threads += 1
        self._idle += 1  # counted from now: it is about to wait
        thread = threading.Thread(
            target=self._run, name=f"{self.name}_{self._threads}", daemon=True
        )
        thread.start()

    def _run(self) -> None:
        try:
            while True:
                try:
                    events = self._epoll.poll(-1, 1)
                except OSError:  # the set was closed: the pool is gone
                    return
                with self._lock:
                    if self._stopped:
                        return
                    self._idle -= 1
                    readers = [self._readers.get(fd) for fd, _ in events]
                for reader in readers:
                    if reader is not None:
                        try:
                            reader()
                        except Exception:  # a bug must not cost the pool a thread
                            log.exception("a connection reader failed")
                with self._lock:
                    self._idle += 1
        finally:
            with self._lock:
                self._threads -= 1
                self._idle -= 1
                last = self._stopped and self._threads == 0
            if last:
                self._close()

    def _close(self) -> None:
        self._epoll.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


__all__ = ["ReaderPool"]
