"""The hot-path changes of the performance work keep their promises.

* group commit (``Store.write_group``): concurrent commits share one transaction, each
  caller gets its own outcome, a failing job (a moved head) leaves no trace and does not
  fail the others, and everything acknowledged is on disk after a reopen;
* the head and grant caches of ``SourceChain``: a grant or a revoke is seen by the very
  next authorization; a commit from another ``SourceChain`` of the same cell is seen.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import Entry
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.keystore import Keystore
from zomehost.errors import HeadMoved, Unauthorized


def test_group_commit_outcomes_are_per_caller(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    db = store.db["state"]
    start = threading.Barrier(8)
    results: dict[int, Any] = {}

    def job(k: int) -> Any:
        def run(txn: Any) -> Any:
            txn.put(f"k{k}".encode(), pack(k), db=db)
            if k % 3 == 0:
                raise ValueError(f"job {k} fails")
            return k * 10

        return run

    def worker(k: int) -> None:
        start.wait()
        try:
            results[k] = store.write_group(job(k))
        except ValueError as exc:
            results[k] = str(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    store.close()
    assert results == {k: (f"job {k} fails" if k % 3 == 0 else k * 10) for k in range(8)}
    reopened = Store(tmp_path / "db")
    try:
        for k in range(8):  # acknowledged writes are durable; failed jobs left nothing
            assert (reopened.get_state(f"k{k}") is None) == (k % 3 == 0)
    finally:
        reopened.close()


def test_concurrent_commits_on_one_cell_cannot_fork_it(tmp_path: Path) -> None:
    """Two workspaces from the same head committed at once: one wins, one HeadMoved."""
    from zomehost.core.hash import CellId, DnaHash

    store = Store(tmp_path / "db")
    ks = Keystore.create("pw", ops=1, mem=8192)
    agent = ks.generate()
    cell = CellId(DnaHash.of_content(b"dna"), agent)
    chain = SourceChain(store, cell)
    first = Workspace(chain, lambda d: ks.sign(agent, d))
    first.create(Entry("e", pack(0)), now_micros())
    first.commit()
    spaces = [Workspace(SourceChain(store, cell), lambda d: ks.sign(agent, d)) for _ in range(4)]
    for i, ws in enumerate(spaces):
        ws.create(Entry("e", pack(i + 1)), now_micros())
    start = threading.Barrier(len(spaces))
    outcomes: list[str] = []

    def commit(ws: Workspace) -> None:
        start.wait()
        try:
            ws.commit()
            outcomes.append("ok")
        except HeadMoved:
            outcomes.append("moved")

    threads = [threading.Thread(target=commit, args=(ws,)) for ws in spaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["moved", "moved", "moved", "ok"]
    head = SourceChain(store, cell).head()  # a fresh view: no cache involved
    assert head is not None and head.seq == 1  # one more record, no fork
    assert [r.action.action_seq for r in chain.records()] == [0, 1]
    store.close()


def test_grants_and_revokes_are_seen_by_the_next_call(node: Any, probe_bundle: bytes) -> None:
    from zomehost.client import SigningCredentials
    from zomehost.core.zome_call import ZomeCall

    app = node.install(probe_bundle, "caches")
    app.call("a", "echo", "warm-up")
    c = node.conductor
    cell_id = app.cell_id()
    creds = SigningCredentials.generate()
    call = ZomeCall(cell_id, "a", "echo", pack("hi"), creds.provenance, creds.cap_secret)
    with pytest.raises(Unauthorized):
        c.call_zome(call)
    grant = ZomeCallCapGrant(
        "t",
        CapAccess(AccessKind.ASSIGNED, creds.cap_secret, frozenset({creds.provenance})),
        GrantedFunctions(None),
    )
    action = c.grant_capability(cell_id, grant)
    assert c.call_zome(call) == "hi"  # the cached grant list was refreshed
    assert c.call_zome(call) == "hi"  # and reused
    c.revoke_capability(cell_id, action)
    with pytest.raises(Unauthorized):
        c.call_zome(call)


def test_a_lingering_leader_wakes_once_its_group_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader waits for the callers it expects; each joiner checks whether the group is
    complete, so the leader sleeps until then (one wake-up, not one per joiner) and commits
    them all in one transaction."""
    from zomehost.chain import store as store_module

    monkeypatch.setattr(store_module, "MAX_LINGER", 30.0)
    store = Store(tmp_path / "db")
    store._commit_s = 120.0  # a slow disk: the leader may wait up to MAX_LINGER

    class Counted(threading.Condition):
        wakes = 0

        def wait(self, timeout: float | None = None) -> bool:
            woke = super().wait(timeout)
            Counted.wakes += 1
            return woke

    store._group_lock = Counted(threading.Lock())
    groups: list[int] = []
    commit = store._commit_group

    def counted_commit(batch: list[Any]) -> None:
        groups.append(len(batch))
        commit(batch)

    monkeypatch.setattr(store, "_commit_group", counted_commit)
    db = store.db["state"]

    class Caller:  # what expect_commit is told (a workspace, in the conductor)
        pass

    callers = [Caller() for _ in range(4)]
    for c in callers:
        store.expect_commit(c)
    results: dict[int, Any] = {}

    def worker(k: int) -> None:
        def run(txn: Any) -> int:
            txn.put(f"k{k}".encode(), pack(k), db=db)
            return k

        results[k] = store.write_group(run, callers[k])

    def wait_for(check: Any) -> None:
        for _ in range(3000):
            if check():
                return
            threading.Event().wait(0.005)
        raise AssertionError("timed out")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    threads[0].start()
    wait_for(lambda: store._awaited is not None)  # the leader lingers
    for k in (1, 2):
        threads[k].start()
        wait_for(lambda k=k: len(store._group) == k + 1)
    assert Counted.wakes == 0 and not results  # short of its group: still asleep
    threads[3].start()
    for t in threads:
        t.join(30)
    assert results == {0: 0, 1: 1, 2: 2, 3: 3}
    assert groups == [4]  # one transaction, one sync
    assert Counted.wakes == 1
    store.close()
