"""Call combining on a real conductor: calls from outside that reach one cell together run
on one thread and commit in one group, each with its own outcome; a hostile call on the
cell does not hold the others.

The first call is held (a wrapper around the real ``Conductor._run_call``) until the
others wait in the cell's line, so the batch is certain, not a matter of timing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import AppHandle, Node
from zomehost.conductor import combining
from zomehost.conductor.conductor import Conductor
from zomehost.core.codec import unpack
from zomehost.errors import Timeout
from zomehost.fuzz.testbed import TestBed, wat


def _held_batch(
    node: Node, app: AppHandle, monkeypatch: pytest.MonkeyPatch, payloads: list[dict[str, Any]]
) -> tuple[list[Any], list[list[int]], dict[str, int]]:
    """``payloads`` as create_entry calls from threads of their own, the first held until
    the others are in line: each call's outcome, the commits' batch sizes and which
    thread ran each value."""
    cell = app.cell_id()
    combiner = node.conductor.cell(cell).combiner
    assert combiner._combinable(("a", "create_entry")), "learn() it first"
    real_run, real_commit = Conductor._run_call, Conductor._commit_ran
    ran_on: dict[str, int] = {}
    batches: list[list[int]] = []

    def run_call(self: Conductor, call: Any) -> Any:
        if call.fn == "create_entry":
            value = str(unpack(call.payload)["value"])
            ran_on[value] = threading.get_ident()
            if value == str(payloads[0]["value"]):
                deadline = time.monotonic() + 10
                while len(combiner._line) < len(payloads) - 1:
                    assert time.monotonic() < deadline
                    time.sleep(0.001)
        return real_run(self, call)

    def commit_ran(self: Conductor, running: Any, batch: list[Any]) -> Any:
        batches.append([len(r.ws.pending) for r in batch])
        return real_commit(self, running, batch)

    monkeypatch.setattr(Conductor, "_run_call", run_call)
    monkeypatch.setattr(Conductor, "_commit_ran", commit_ran)
    outcomes: list[Any] = [None] * len(payloads)

    def call(k: int) -> None:
        try:
            outcomes[k] = node.call(cell, "a", "create_entry", payloads[k], app.agent)
        except Exception as exc:
            outcomes[k] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    while str(payloads[0]["value"]) not in ran_on:
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(k,)) for k in range(1, len(payloads))]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(20)
    return outcomes, batches, ran_on


def learn(node: Node, app: AppHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """One create_entry alone: the cell's combiner knows it writes (and, with this machine's
    speed not the point, that it is fast)."""
    monkeypatch.setattr(combining, "FAST_S", 10.0)
    node.call(app.cell_id(), "a", "create_entry", {"value": "first", "relaxed": True}, app.agent)


def test_relaxed_writes_arriving_together_commit_as_one_batch(
    alice: AppHandle, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn(node, alice, monkeypatch)
    before = len(node.records(alice.cell_id()))
    payloads = [{"value": f"w{k}", "relaxed": True} for k in range(4)]
    outcomes, batches, ran_on = _held_batch(node, alice, monkeypatch, payloads)
    assert all(isinstance(o, bytes) for o in outcomes), outcomes  # action hashes
    assert len(set(outcomes)) == 4
    assert [1, 1, 1, 1] in batches  # the four calls' writes, one commit
    assert len({ran_on[f"w{k}"] for k in range(4)}) == 1  # run on one thread
    records = node.records(alice.cell_id())
    assert len(records) == before + 4
    # rebased in turn (so their hashes are not those the calls saw), each one kept
    assert sorted(unpack(r.entry.content) for r in records[-4:] if r.entry) == [
        f"w{k}" for k in range(4)
    ]
    assert node.conductor.cell(alice.cell_id()).chain.verify() == len(records)


def test_strict_writes_arriving_together_take_turns_and_all_commit(
    alice: AppHandle, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strict writes need the head they were made on: once the combiner knows the function
    writes strictly, each call starts a batch of its own and runs on the head the commit
    before it left, so none fails with HeadMoved (side by side, all but one would)."""
    learn(node, alice, monkeypatch)
    before = len(node.records(alice.cell_id()))
    payloads = [{"value": f"s{k}"} for k in range(3)]
    outcomes, batches, _ = _held_batch(node, alice, monkeypatch, payloads)
    assert all(isinstance(o, bytes) for o in outcomes), outcomes
    # the first strict run taught the combiner: the others were not taken after it
    assert batches == [[1], [1], [1]]
    records = node.records(alice.cell_id())
    assert len(records) == before + 3
    assert {r.action_hash.raw for r in records[-3:]} == set(outcomes)  # as signed, not rebased
    assert node.conductor.cell(alice.cell_id()).chain.verify() == len(records)


def test_a_strict_write_commits_first_in_its_batch(
    alice: AppHandle, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A strict call taken after a relaxed one ran on the same head: it commits first (its
    head still holds), the relaxed one is rebased after it, and a strict call of the same
    function waiting behind them starts the next batch."""
    learn(node, alice, monkeypatch)
    before = len(node.records(alice.cell_id()))
    payloads = [{"value": "r0", "relaxed": True}, {"value": "s1"}, {"value": "s2"}]
    outcomes, batches, _ = _held_batch(node, alice, monkeypatch, payloads)
    assert all(isinstance(o, bytes) for o in outcomes), outcomes
    assert batches == [[1, 1], [1]]
    records = node.records(alice.cell_id())
    assert [unpack(r.entry.content) for r in records[-3:] if r.entry] == ["s1", "r0", "s2"]
    assert records[-3].action_hash.raw == outcomes[1]  # s1 kept the hash its call returned
    assert len(records) == before + 3
    assert node.conductor.cell(alice.cell_id()).chain.verify() == len(records)


def test_a_spinning_call_does_not_hold_other_calls_on_its_cell(tmp_path: Path) -> None:
    """One caller's call spins until its deadline; another caller's calls on the same cell
    (reads and writes) all finish while it spins."""
    bed = TestBed(tmp_path / "h", {"timeout_ms": 4000})
    try:
        cell = bed.install({"hostile": wat("hostile")})
        for _ in range(3):  # both known fast to the cell's combiner
            bed.call(cell, "hostile", "ok")
            bed.call(cell, "hostile", "write_then", raw=bytes([20]))
        spinning: dict[str, Any] = {}

        def spin() -> None:
            try:
                bed.call(cell, "hostile", "spin")
            except Timeout as exc:
                spinning["error"] = exc

        def spin_after_write() -> None:  # a function known fast, this time spinning
            try:
                bed.call(cell, "hostile", "write_then", raw=bytes([1]))
            except Timeout as exc:
                spinning["error2"] = exc

        spinners = [threading.Thread(target=spin), threading.Thread(target=spin_after_write)]
        for t in spinners:
            t.start()
        time.sleep(0.2)
        before = bed.chain_len(cell)
        for _ in range(20):
            assert bed.call(cell, "hostile", "ok") is None
            bed.call(cell, "hostile", "write_then", raw=bytes([20]))
        assert all(t.is_alive() for t in spinners)  # all done while both still spin
        assert bed.chain_len(cell) == before + 20
        for t in spinners:
            t.join(10)
        assert set(spinning) == {"error", "error2"}
    finally:
        bed.close()


def test_a_write_outside_the_line_commits_after_the_strict_call_running_in_it(
    alice: AppHandle, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A strict call leads the line and runs (held here); a relaxed write of a function the
    cell has not seen runs on its own thread meanwhile. Its commit would move the head the
    strict call runs on: it waits for the strict call's commit, and both succeed."""
    cell = alice.cell_id()
    node.call(cell, "a", "create_entry", {"value": "s0"}, alice.agent)  # known strict
    monkeypatch.setattr(combining, "SETTLE_S", 10.0)
    release, running = threading.Event(), threading.Event()
    real_run = Conductor._run_call

    def run_call(self: Conductor, call: Any) -> Any:
        if call.fn == "create_entry":
            running.set()
            assert release.wait(10)
        return real_run(self, call)

    monkeypatch.setattr(Conductor, "_run_call", run_call)
    outcomes: dict[str, Any] = {}

    def call(name: str, fn: str, payload: Any) -> None:
        try:
            outcomes[name] = node.call(cell, "a", fn, payload, alice.agent)
        except Exception as exc:
            outcomes[name] = exc

    strict = threading.Thread(target=call, args=("strict", "create_entry", {"value": "s1"}))
    strict.start()
    assert running.wait(10)
    relaxed = threading.Thread(target=call, args=("relaxed", "create_relaxed_batch", 2))
    relaxed.start()
    relaxed.join(0.3)
    assert relaxed.is_alive()  # it ran, and waits to commit
    release.set()
    for t in (strict, relaxed):
        t.join(20)
    assert isinstance(outcomes["strict"], bytes), outcomes  # not HeadMoved
    assert isinstance(outcomes["relaxed"], list) and len(outcomes["relaxed"]) == 2, outcomes
    records = node.records(cell)
    assert records[-3].action_hash.raw == outcomes["strict"]  # committed first, as made
    assert node.conductor.cell(cell).chain.verify() == len(records)
