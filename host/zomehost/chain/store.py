"""The conductor's one LMDB environment and its tables.

Tables (all keys bytes; ``cell`` is the 78-byte CellId key, ``seq`` 8-byte big-endian):
  records   cell+seq        -> msgpack {action: canonical bytes, signature, hash,
                                        entry: canonical bytes or nil}
  by_hash   action hash     -> cell+seq    (the records below the head's ``indexed``;
            e+cell+entry+seq -> b""         newer ones are found from the records)
  by_type   cell+kind+name+seq -> b""      (every record, in its commit: kind ``a`` + action
                                           type, kind ``e`` + entry type; chain/index.py)
  heads     cell            -> seq + action hash + indexed (8 bytes: records in by_hash)
  grants    cell+action     -> msgpack {grant, revoked}   (live-grant index)
  state     name            -> conductor state (apps, interfaces, …)
  schedules cell+zome+0+fn  -> msgpack ScheduledFn   (chain/schedules.py)
  schedule_due next_at+that key -> b""              (the same, in the order they run)

Every commit is one write transaction, synced by default. Write transactions never stay
open while guest code runs: the workspace collects writes and hands them over at the end.

Group commit: calls that commit at the same time share one transaction and one sync
(:meth:`Store.write_group`). Each call's writes run in their own nested transaction, so a
call whose writes fail (its head moved) leaves no trace and does not fail the others; each
caller returns only once the shared transaction is durable. A group's leader waits a
little (at most half a recent commit's time, :data:`MAX_LINGER`) for the callers it can
expect: the calls that have written and not committed yet (they announce themselves,
:meth:`Store.expect_commit`), and as many as the last group had, since callers that each
wait for their commit before writing again (clients making calls in a row) come back
together. Without it such callers alternate between two half-full groups, each paying a
whole sync.

The map grows before it fills: a commit that finds less than a quarter of the map free
doubles it first (up to ``max_map_size``), at a moment when no transaction is open in this
process, as LMDB requires. A full map or a full disk is a :class:`StoreFull` or
:class:`DiskFull` for that commit only: nothing is written, reads go on.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from zomehost.chain import index
from zomehost.core import blocking, on_loop
from zomehost.core.action import decode_action
from zomehost.core.codec import pack, unpack
from zomehost.errors import ChainError, DiskFull, IntegrityError, StoreFull, ZomehostError

T = TypeVar("T")
log = logging.getLogger(__name__)
_SEQ = struct.Struct(">Q")
DEFAULT_MAP_SIZE = 1024**3  # sparse: only what is written takes disk; grown as needed
MIN_MAP_SIZE = 64 * 1024
_TABLES = ("records", "by_hash", "heads", "grants", "state", "by_type", "schedules", "schedule_due")
# The chain layout above. Format 1 (before entries moved into records and the hash index
# was deferred) kept entries in a table of their own; its stores are refused, not misread.
# Format 2 had no by_type table and kept one seq per entry hash: it is migrated on open.
FORMAT = 3
FORMAT_KEY = b"store/format"
# Grow when less than this share of the map is free (a commit is far smaller than that).
_GROW_WHEN_FREE_BELOW = 0.25
_DISK_ERRNOS = (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG)
# The longest a group's leader waits for announced commits (seconds), and the share of a
# recent commit's duration it may wait: the latency a lingering commit can add is bounded.
MAX_LINGER = 0.002
_LINGER_SHARE = 0.5


def seq_key(cell_key: bytes, seq: int) -> bytes:
    return cell_key + _SEQ.pack(seq)


class Store:
    """One LMDB environment; thread-safe for readers, one writer at a time."""

    def __init__(
        self,
        path: Path,
        *,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_map_size = max_map_size
        # readers open now (set_mapsize must not run under an open transaction); while the
        # map grows, new readers wait (a thread already reading goes on: no self-deadlock)
        self._readers = 0
        self._growing = False
        self._readers_idle = threading.Condition(threading.Lock())
        self._local = threading.local()
        try:
            self.env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(_TABLES) + 2,
                max_readers=512,
                sync=sync,
                metasync=sync,
                lock=True,
                writemap=False,
            )
        except lmdb.Error as exc:
            raise ChainError(f"cannot open the store at {path}: {exc}") from None
        self._write_lock = threading.Lock()
        self._group_lock = threading.Condition(threading.Lock())
        self._group: list[_GroupJob] = []
        self._leading = False  # a thread is committing a group (or about to)
        # the callers that wrote and have not committed yet (weak: a call that failed
        # before its commit drops out with its workspace)
        self._expected: weakref.WeakSet[object] = weakref.WeakSet()
        self._commit_s = 0.0  # a recent group commit's duration (moving average)
        # changes to the grants table (chain/source_chain.py caches the decoded grants)
        self.grants_version = 0
        self._grants_version_lock = threading.Lock()
        self._last_group = 0  # jobs in the last group committed
        self._awaited: int | None = None  # while a leader lingers: the jobs it waits for
        try:
            self.db = {name: self.env.open_db(name.encode()) for name in _TABLES}
            self._check_format(progress)
        except BaseException:
            self.env.close()
            raise

    def _check_format(self, progress: Callable[[str], None] | None) -> None:
        """Stamp a new store with :data:`FORMAT`; migrate a format 2 store (resuming an
        interrupted migration); refuse any other format."""
        with self.write() as txn:
            raw = txn.get(FORMAT_KEY, db=self.db["state"])
            if raw is not None:
                found = unpack(bytes(raw), what="store format")
            elif txn.stat(self.db["heads"])["entries"]:
                found = 1  # chains written before the format was stamped
            else:
                found = FORMAT
                txn.put(FORMAT_KEY, pack(FORMAT), db=self.db["state"])
        if found == 2:
            _migrate_from_2(self, progress or log.warning)
        elif found != FORMAT:
            raise ChainError(
                f"the store at {self.path} has chain format {found}; this zomehost reads "
                f"format {FORMAT} (and migrates format 2)"
            )

    def close(self) -> None:
        self.env.close()

    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        depth = self._read_depth()
        with self._readers_idle:
            while self._growing and not depth:  # waits only while the map is resized
                on_loop.refuse("a wait for the store's map to grow")
                self._readers_idle.wait()
            self._readers += 1
        self._local.depth = depth + 1
        try:
            txn = self.env.begin(buffers=False)
            try:
                yield txn
            finally:
                txn.abort()
        finally:
            self._local.depth = depth
            with self._readers_idle:
                self._readers -= 1
                if not self._readers:
                    self._readers_idle.notify_all()

    def _read_depth(self) -> int:
        """How many read transactions this thread has open."""
        return getattr(self._local, "depth", 0)

    @contextmanager
    def write(self) -> Iterator[lmdb.Transaction]:
        """A write transaction: committed (and synced) on success, aborted on any error."""
        with self._write_lock:
            self._grow_if_needed()
            txn = self.env.begin(write=True)
            try:
                try:
                    yield txn
                except BaseException:
                    txn.abort()
                    raise
                txn.commit()
            except lmdb.Error as exc:
                raise self._storage_error(exc) from None

    # -- the map -----------------------------------------------------------------------
    @property
    def map_size(self) -> int:
        return int(self.env.info()["map_size"])

    def _grow_if_needed(self) -> None:
        """Double the map while less than a quarter of it is free (the caller holds the
        write lock, so no write transaction is open). New readers wait while open ones
        finish; if they do not finish soon (or this thread reads), the next commit retries."""
        info = self.env.info()
        size = int(info["map_size"])
        used = (int(info["last_pgno"]) + 1) * self.env.stat()["psize"]
        if size - used >= size * _GROW_WHEN_FREE_BELOW:
            return
        target = size
        while target - used < target * _GROW_WHEN_FREE_BELOW:
            target *= 2
        if self.max_map_size is not None:
            target = min(target, self.max_map_size)
        if target <= size:
            return
        if self._read_depth():
            return
        with self._readers_idle:
            self._growing = True
            try:
                if not self._readers_idle.wait_for(lambda: self._readers == 0, timeout=2.0):
                    return
                self.env.set_mapsize(target)
            finally:
                self._growing = False
                self._readers_idle.notify_all()
        log.info("store map grown from %s to %s", _size(size), _size(target))

    def _storage_error(self, exc: lmdb.Error) -> ChainError:
        """The typed error for a failed write: full map, full or failing disk, other."""
        if isinstance(exc, lmdb.MapFullError):
            return StoreFull(
                f"the store is full: it reached {_size(self.map_size)} (max_map_size in the "
                "conductor config); nothing of this commit was written"
            )
        code = getattr(exc, "errno", None) or _errno_of(exc)
        if code in _DISK_ERRNOS:
            return DiskFull(
                f"the disk under the store refused the write ({errno.errorcode[code]}: "
                f"{'full' if code != errno.EIO else 'full or failing'}); "
                "nothing of this commit was written"
            )
        return ChainError(f"the store refused the commit: {exc}")

    def grants_changed(self) -> None:
        """A transaction is changing the grants table (called as it writes, and again
        once it is committed or aborted): cached grants read before are stale."""
        with self._grants_version_lock:
            self.grants_version += 1

    def expect_commit(self, caller: object) -> None:
        """``caller`` will commit through :meth:`write_group` soon (it has written): a
        group's leader may wait a moment for it. It counts until its job is committed or
        it is garbage."""
        with self._group_lock:
            self._expected.add(caller)

    def write_group(self, job: Callable[[lmdb.Transaction], T], caller: object = None) -> T:
        """Run ``job`` in a write transaction shared with concurrent callers; return its
        result once the transaction is committed (synced). If ``job`` raises, its writes are
        discarded and the exception is raised here; the other callers are unaffected.

        Leader/follower: the first caller commits everything queued so far (its own job
        included) in one transaction, then hands the lead to the next waiting caller, so
        no caller commits more than one group beyond its own. ``caller`` is what
        :meth:`expect_commit` was told, if anything.
        """
        (outcome,) = self.write_group_many([(job, caller)])
        return outcome.value()  # type: ignore[no-any-return]

    def write_group_many(
        self, jobs: list[tuple[Callable[[lmdb.Transaction], Any], object]]
    ) -> list[Outcome]:
        """:meth:`write_group` for several ``(job, caller)`` of one thread (the calls a
        combiner ran, conductor/combining.py): each its own nested transaction in the same
        group, so one failing leaves the others; one outcome per job, once durable."""
        if not jobs:
            return []
        mine = [_GroupJob(job, caller) for job, caller in jobs]
        me = mine[0]
        with self._group_lock:
            self._group.extend(mine)
            lead = not self._leading
            self._leading = True
            if not lead:  # only a waiter needs an event
                me.event = threading.Event()
                if self._group_complete():  # wake a lingering leader only when it is done
                    self._group_lock.notify_all()
        if me.event is not None:
            with blocking.waiting():
                me.event.wait()
            if not me.lead:  # a leader committed them
                return [Outcome(j.result, j.error) for j in mine]
        try:
            with self._group_lock:
                self._linger()
                batch, self._group = self._group, []
            t0 = time.perf_counter()
            self._commit_group(batch)
            self._commit_s += (time.perf_counter() - t0 - self._commit_s) / 8
        finally:
            with self._group_lock:
                if self._group:  # hand the lead to the oldest waiter
                    nxt = self._group[0]
                    nxt.lead = True
                    assert nxt.event is not None  # queued behind a leader: a waiter
                    nxt.event.set()
                else:
                    self._leading = False
        return [Outcome(j.result, j.error) for j in mine]

    def _linger(self) -> None:
        """Wait (the group lock held) for the callers this group can expect, at most half
        a recent commit's duration: a group that waits for a caller about to join saves
        that caller a whole commit of its own."""
        self._awaited, self._last_group = self._last_group, 0
        try:
            if not self._group_complete():
                end = time.perf_counter() + min(MAX_LINGER, self._commit_s * _LINGER_SHARE)
                with blocking.waiting():  # the callers it waits for may be in the pool's line
                    while not self._group_complete() and (left := end - time.perf_counter()) > 0:
                        self._group_lock.wait(left)
        finally:
            self._awaited = None
        self._last_group = len(self._group)

    def _group_complete(self) -> bool:
        """Under the group lock: a lingering leader has the callers it waits for (as many
        as the last group had, or every caller that wrote and has not committed). Each
        joiner checks, so the leader sleeps until then instead of waking per joiner (a
        thread switch costs ~25 µs of CPU on the bench machine: docs/performance.md)."""
        if self._awaited is None:
            return False
        return len(self._group) >= max(self._awaited, len(self._expected))

    def _commit_group(self, batch: list[_GroupJob]) -> None:
        try:
            with self._write_lock:
                self._grow_if_needed()
                txn = self.env.begin(write=True)
                try:
                    if len(batch) == 1:  # no nested transaction: its failure aborts this one
                        ok = self._run(batch[0], txn)
                    else:
                        ok = True
                        for j in batch:
                            child = self.env.begin(write=True, parent=txn)
                            if self._run(j, child):
                                child.commit()
                            else:  # this job only: its writes go
                                child.abort()
                except BaseException:
                    txn.abort()
                    raise
                if ok:
                    with blocking.waiting():  # the sync
                        txn.commit()
                else:
                    txn.abort()
        except lmdb.Error as exc:
            self._fail(batch, self._storage_error(exc))
        except BaseException as exc:
            self._fail(batch, exc)
            raise
        finally:
            with self._group_lock:
                for j in batch:
                    if j.caller is not None:
                        self._expected.discard(j.caller)
            for j in batch:
                j.done = True
                if j.event is not None:
                    j.event.set()

    def _run(self, j: _GroupJob, txn: lmdb.Transaction) -> bool:
        """Run one job in ``txn``; False (its error recorded, typed) if it raised."""
        try:
            j.result = j.job(txn)
        except lmdb.Error as exc:
            j.error = self._storage_error(exc)
            return False
        except BaseException as exc:
            j.error = exc
            return False
        return True

    @staticmethod
    def _fail(batch: list[_GroupJob], exc: BaseException) -> None:
        for j in batch:
            if j.error is None:
                j.error, j.result = exc, None

    # -- conductor state --------------------------------------------------------------
    def get_state(self, name: str) -> Any:
        with self.read() as txn:
            raw = txn.get(name.encode(), db=self.db["state"])
        return None if raw is None else unpack(bytes(raw), what="state")

    def has_state(self, name: str) -> bool:
        """Whether ``name`` is stored, without reading its value."""
        with self.read() as txn:
            return bool(txn.cursor(db=self.db["state"]).set_key(name.encode()))

    def put_state(self, name: str, value: Any) -> None:
        with self.write() as txn:
            txn.put(name.encode(), pack(value), db=self.db["state"])

    def delete_state(self, name: str) -> None:
        with self.write() as txn:
            txn.delete(name.encode(), db=self.db["state"])

    def state_names(self, prefix: str) -> list[str]:
        out: list[str] = []
        with self.read() as txn:
            cur = txn.cursor(db=self.db["state"])
            p = prefix.encode()
            if cur.set_range(p):
                for raw_key in cur.iternext(keys=True, values=False):
                    key = bytes(raw_key)
                    if not key.startswith(p):
                        break
                    out.append(key.decode())
        return out


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB" if n >= 1024**2 else f"{n // 1024} KiB"


def _errno_of(exc: lmdb.Error) -> int | None:
    """The errno py-lmdb put in a generic error's text (``mdb_txn_commit: No space …``)."""
    text = str(exc)
    for code in _DISK_ERRNOS:
        if os.strerror(code) in text:
            return code
    return None


class Outcome:
    """What one job of a group commit gave: its result, or the error it (or the commit)
    raised."""

    __slots__ = ("error", "result")

    def __init__(self, result: Any, error: BaseException | None) -> None:
        self.result = result
        self.error = error

    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _GroupJob:
    """One job of a group commit."""

    __slots__ = ("caller", "done", "error", "event", "job", "lead", "result")

    def __init__(self, job: Callable[[lmdb.Transaction], Any], caller: object) -> None:
        self.job = job
        self.caller = caller
        self.event: threading.Event | None = None
        self.lead = False  # handed the lead: commit the next group
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


# -- migration from format 2 ------------------------------------------------------------
# Format 3 adds the ``by_type`` table (every record's action and entry type) and keeps one
# hash-index key per record that wrote an entry instead of the first one only. The records
# do not change: migrating reads each record once and adds its keys. Crash-safe: the work
# goes in batches, one transaction each, and the same transaction records how far it got
# (``store/migration``); every key it writes is idempotent, so a migration killed at any
# point resumes where its last batch committed. The store is stamped format 3 in the
# transaction that finishes it, and not before.
_MIGRATION_BATCH = 5000  # records per transaction
_PROGRESS_KEY = b"store/migration"
_CELL_KEY_LEN = 78
_OLD_ENTRY_KEY_LEN = 1 + _CELL_KEY_LEN + 39  # format 2: e | cell | entry -> seq


def _migrate_from_2(store: Store, progress: Callable[[str], None]) -> None:
    """Bring a format 2 store to format 3, resuming an interrupted migration."""
    with store.read() as txn:
        heads = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=store.db["heads"])]
        raw = txn.get(_PROGRESS_KEY, db=store.db["state"])
    resume = unpack(bytes(raw), what="migration progress") if raw is not None else None
    total = sum(int.from_bytes(v[:8], "big") + 1 for _, v in heads)
    done = 0
    progress(f"migrating the chain store at {store.path} to format {FORMAT}: {total} records")
    for cell_key, head in heads:
        head_seq = int.from_bytes(head[:8], "big")
        indexed = int.from_bytes(head[47:55], "big")
        seq = 0
        if resume is not None:
            if cell_key < resume["cell"]:  # cells go in key order: this one is done
                done += head_seq + 1
                continue
            if cell_key == resume["cell"]:
                seq = int(resume["seq"])
                done += seq
        while seq <= head_seq:
            end = min(seq + _MIGRATION_BATCH, head_seq + 1)
            with store.write() as txn:
                for s in range(seq, end):
                    _index_record(txn, store, cell_key, s, indexed)
                txn.put(_PROGRESS_KEY, pack({"cell": cell_key, "seq": end}), db=store.db["state"])
            done += end - seq
            seq = end
            progress(f"  {done}/{total} records")
    with store.write() as txn:
        _drop_old_entry_keys(txn, store)
        txn.delete(_PROGRESS_KEY, db=store.db["state"])
        txn.put(FORMAT_KEY, pack(FORMAT), db=store.db["state"])
    progress(f"the chain store is now format {FORMAT}")


def _index_record(
    txn: lmdb.Transaction, store: Store, cell_key: bytes, seq: int, indexed: int
) -> None:
    raw = txn.get(seq_key(cell_key, seq), db=store.db["records"])
    if raw is None:
        raise IntegrityError(f"record {seq} of a chain is missing: the store cannot be migrated")
    try:
        action = decode_action(unpack(bytes(raw), what="stored record")["action"])
    except (ZomehostError, KeyError, TypeError) as exc:
        raise IntegrityError(f"record {seq} of a chain is damaged: {exc}") from None
    index.index_action(txn, store.db["by_type"], cell_key, action)
    if seq < indexed and action.entry_hash is not None:
        key = b"e" + cell_key + action.entry_hash.raw + seq.to_bytes(8, "big")
        txn.put(key, b"", db=store.db["by_hash"])


def _drop_old_entry_keys(txn: lmdb.Transaction, store: Store) -> None:
    """Delete format 2's entry keys (one per entry hash; format 3 has one per record)."""
    cur = txn.cursor(db=store.db["by_hash"])
    if not cur.set_range(b"e"):
        return
    while True:
        key = bytes(cur.key())
        if not key.startswith(b"e"):
            return
        if len(key) == _OLD_ENTRY_KEY_LEN:
            cur.delete()  # the cursor moves to the next key (none past the last)
        elif not cur.next():
            return
