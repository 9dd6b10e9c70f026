"""Scheduled zome functions, in process: the ticker zome in Rust (zomes/ticker) and its
AssemblyScript twin (zomes/ticker_as), scheduled by a call and run one by one through
``ScheduledRuns`` as the daemon's scheduler runs them (docs/abi.md, "Scheduled functions").
The last test runs the daemon's own scheduler in real conductor processes, across a
restart."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, WASM_DIR, AppBuilder, AppHandle, Node, fast_home
from zomehost.chain import schedules
from zomehost.client import ConductorApiError
from zomehost.conductor.app import AppStatus
from zomehost.conductor.scheduling import Due, RunOutcome, ScheduledRuns
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.core.schedule import MAX_SCHEDULES_PER_CELL, MIN_INTERVAL_US, Schedule
from zomehost.errors import IntegrityError, InvalidInput, LimitExceeded, ZomehostError
from zomehost.runtime.scheduler import Scheduler
from zomehost.runtime.workers import WorkerPool
from zomehost.testing import Player, Scenario

TICKERS = {
    "rust": WASM_DIR / "ticker.wasm",
    "assemblyscript": REPO / "zomes" / "ticker_as" / "build" / "ticker_as.wasm",
}
BUILD = {
    "rust": ["bash", str(REPO / "scripts" / "build-rust-zomes")],
    "assemblyscript": ["bash", str(REPO / "scripts" / "build-as-zomes"), "zomes/ticker_as"],
}
SCHEDULABLE = ("tick", "once", "later", "rapid", "spin", "boom", "bad_cron", "yearly", "in_an_hour")


@pytest.fixture(scope="session")
def ticker_wasm() -> dict[str, Path]:
    """lang -> the ticker zome of that language (built when missing)."""
    for lang, path in TICKERS.items():
        if not path.is_file():
            if lang == "assemblyscript" and shutil.which("node") is None:
                pytest.fail("node is not installed: cannot build zomes/ticker_as")
            subprocess.run(BUILD[lang], cwd=REPO, check=False)
        if not path.is_file():
            pytest.fail(f"the {lang} ticker is not built: run `{' '.join(BUILD[lang])}`")
    return dict(TICKERS)


@pytest.fixture(scope="session")
def ticker_bundles(
    ticker_wasm: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    """lang -> a .happ: role ``main`` with zomes ``t`` and ``u`` (both that lang's ticker)."""
    builder = AppBuilder(dict(ticker_wasm), tmp_path_factory.mktemp("tickers"))
    return {lang: builder({"main": [("t", lang), ("u", lang)]}, name="ticker") for lang in TICKERS}


class Ticker:
    """A ticker app on a fresh in-process conductor, with its ScheduledRuns."""

    def __init__(self, root: Path, bundle: bytes, limits: dict[str, Any] | None = None) -> None:
        self.node = Node(fast_home(root, limits=limits))
        self.app: AppHandle = self.node.install(bundle, "ticker")
        self.runs = ScheduledRuns(self.node.conductor)

    def restart(self) -> None:
        self.node = self.node.restart()
        self.app = self.node.app("ticker")
        self.runs = ScheduledRuns(self.node.conductor)

    def start(self, fn: str, zome: str = "t") -> Any:
        return self.app.call(zome, "start", fn)

    def count(self, fn: str) -> int:
        return int(self.app.call("t", "runs", fn))

    def scheduled(self) -> dict[str, Any]:
        return {f"{s.zome}.{s.fn}": s for s in self.runs.scheduled(self.app.cell_id())}

    def due(self) -> list[Due]:
        return self.runs.look(now_micros(), 100)[0]

    def run(self, fn: str, zome: str = "t") -> RunOutcome:
        (due,) = [d for d in self.due() if (d.item.zome, d.item.fn) == (zome, fn)]
        return self.runs.run(due)


@pytest.fixture(params=sorted(TICKERS))
def make_ticker(
    request: pytest.FixtureRequest, ticker_bundles: dict[str, bytes], tmp_path: Path
) -> Callable[..., Ticker]:
    made: list[Ticker] = []

    def make(limits: dict[str, Any] | None = None) -> Ticker:
        t = Ticker(tmp_path / f"home{len(made)}", ticker_bundles[request.param], limits)
        made.append(t)
        return t

    yield make  # type: ignore[misc]
    for t in made:
        t.node.close()


def test_a_scheduled_function_runs_once_as_the_author(make_ticker: Callable[..., Ticker]) -> None:
    t = make_ticker()
    before = now_micros()
    assert t.start("once") is None
    item = t.scheduled()["t.once"]
    assert item.schedule is None and before <= item.next_at <= now_micros()  # due at once
    outcome = t.run("once")
    assert outcome.error is None and outcome.next is None
    assert t.count("once") == 1
    assert t.scheduled() == {}  # it returned None: no more runs
    (record,) = t.app.records(entry_type=["once"])
    assert record.action.author == t.app.agent  # written by the cell's author
    assert unpack(record.entry.content) is None  # its first run is given nil


def test_scheduling_is_part_of_the_call_that_does_it(make_ticker: Callable[..., Ticker]) -> None:
    t = make_ticker()
    with pytest.raises(ZomehostError, match="deliberate failure after schedule"):
        t.app.call("t", "start_then_fail", "once")
    assert t.scheduled() == {}  # the failed call's schedule went with it
    t.start("tick")
    first = t.scheduled()["t.tick"]
    t.start("tick")  # already scheduled: it keeps its schedule
    assert t.scheduled()["t.tick"] == first


def test_only_schedulable_functions_of_the_zome_can_be_scheduled(
    make_ticker: Callable[..., Ticker],
) -> None:
    t = make_ticker()
    with pytest.raises(ZomehostError) as missing:
        t.start("no_such_fn")
    assert "NotFound" in missing.value.message and "no_such_fn" in missing.value.message
    with pytest.raises(ZomehostError) as plain:
        t.start("runs")  # a zome function, but not marked schedulable
    assert "InvalidInput" in plain.value.message and "not schedulable" in plain.value.message
    with pytest.raises(ZomehostError) as long_name:
        t.start("x" * 257)  # its key would not fit LMDB's
    assert "InvalidInput" in long_name.value.message and "1 to 256 bytes" in long_name.value.message
    assert t.scheduled() == {}


def test_a_persisted_schedule_gets_its_last_schedule_and_keeps_running(
    make_ticker: Callable[..., Ticker],
) -> None:
    t = make_ticker()
    t.start("tick")
    for n in (1, 2):
        started = now_micros()
        t.runs.run(Due(t.app.cell_id(), t.scheduled()["t.tick"]))  # run now, due or not
        item = t.scheduled()["t.tick"]
        assert item.schedule == Schedule(cron="* * * * * *")
        assert item.next_at >= started + MIN_INTERVAL_US
        assert t.count("tick") == n
    given = [unpack(r.entry.content) for r in t.app.records(entry_type=["tick"])]
    assert given == [None, {"Persisted": "* * * * * *"}]


def test_ephemeral_schedules_do_not_outlive_the_conductor(
    make_ticker: Callable[..., Ticker],
) -> None:
    t = make_ticker()
    for fn in ("later", "yearly", "in_an_hour", "once"):
        t.start(fn)
    started = now_micros()
    for fn in ("later", "yearly", "in_an_hour"):
        assert t.run(fn).error is None
    later = t.scheduled()["t.later"]
    assert later.schedule == Schedule(delay_us=1_000_000)
    assert later.next_at >= started + 1_000_000
    assert t.count("later") == 0
    t.restart()
    # persisted ones and the not-yet-run one stay; the ephemeral ones end with the run
    assert sorted(t.scheduled()) == ["t.once", "t.yearly"]


def test_a_zome_cannot_run_a_function_more_than_once_a_second(
    make_ticker: Callable[..., Ticker],
) -> None:
    t = make_ticker()
    t.start("rapid")
    for _ in range(3):
        started = now_micros()
        t.runs.run(Due(t.app.cell_id(), t.scheduled()["t.rapid"]))
        item = t.scheduled()["t.rapid"]
        assert item.schedule == Schedule(delay_us=0)  # it asked for no delay at all
        assert item.next_at >= started + MIN_INTERVAL_US
        due, upcoming = t.runs.look(started, 100)
        assert due == [] and upcoming == item.next_at  # the scheduler sleeps until then


def test_a_cell_has_at_most_16_scheduled_functions(make_ticker: Callable[..., Ticker]) -> None:
    t = make_ticker()
    names = [(z, fn) for z in ("t", "u") for fn in SCHEDULABLE]
    assert len(names) > MAX_SCHEDULES_PER_CELL
    for zome, fn in names[:MAX_SCHEDULES_PER_CELL]:
        t.start(fn, zome)
    head = t.app.head_seq()
    zome, fn = names[MAX_SCHEDULES_PER_CELL]
    with pytest.raises(ZomehostError) as refused:
        t.start(fn, zome)
    assert refused.value.kind == LimitExceeded.kind
    assert len(t.scheduled()) == MAX_SCHEDULES_PER_CELL and t.app.head_seq() == head
    t.start(*names[0][::-1])  # one already scheduled: still fine


def test_a_failing_run_is_logged_with_its_kind_and_writes_nothing(
    make_ticker: Callable[..., Ticker], caplog: pytest.LogCaptureFixture
) -> None:
    t = make_ticker(limits={"timeout_ms": 400})
    for fn in ("boom", "bad_cron", "spin"):
        t.start(fn)
    boom = t.run("boom")
    assert boom.error is not None and boom.error.kind == "Trap"
    assert "boom went the scheduled function" in boom.error.message
    assert "t.boom" not in t.scheduled()  # not persisted: a failure ends it
    bad = t.run("bad_cron")
    assert bad.error is not None and bad.error.kind == InvalidInput.kind
    assert t.count("bad_cron") == 0  # what the failed run wrote is gone with it
    assert "t.bad_cron" not in t.scheduled()
    assert t.run("spin").error is None  # its first run passes and persists it
    started = now_micros()
    spin = t.runs.run(Due(t.app.cell_id(), t.scheduled()["t.spin"]))
    assert spin.error is not None and spin.error.kind == "Timeout"  # the cell's deadline
    item = t.scheduled()["t.spin"]  # persisted: it goes on after a failure
    assert item.schedule == Schedule(cron="* * * * * *") and item.next_at > started
    assert t.count("spin") == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "zomehost.schedule"]
    for kind, fn in (("Trap", "boom"), ("InvalidInput", "bad_cron"), ("Timeout", "spin")):
        assert any(f"t.{fn} of cell" in m and f"failed: {kind}:" in m for m in logged), logged


def test_a_function_removed_by_a_code_update_is_unscheduled(
    make_ticker: Callable[..., Ticker], wasm_paths: dict[str, Path]
) -> None:
    t = make_ticker()
    t.start("yearly")
    dna_hash = t.app.cell_id().dna_hash
    t.node.conductor.update_coordinators(dna_hash, {"t": wasm_paths["probe"].read_bytes()})
    gone = t.runs.run(Due(t.app.cell_id(), t.scheduled()["t.yearly"]))
    assert gone.error is not None and gone.error.kind == "ZomeFunctionNotFound"
    assert t.scheduled() == {}


def test_disabled_apps_run_no_schedules(make_ticker: Callable[..., Ticker]) -> None:
    t = make_ticker()
    t.start("once")
    assert [d.item.fn for d in t.due()] == ["once"]
    t.node.conductor.set_app_status("ticker", AppStatus.DISABLED)
    assert t.runs.look(now_micros(), 100) == ([], None)
    t.node.conductor.set_app_status("ticker", AppStatus.ENABLED)
    assert [d.item.fn for d in t.due()] == ["once"]


def test_the_scheduler_reads_what_is_due_soonest_first(make_ticker: Callable[..., Ticker]) -> None:
    t = make_ticker()
    for fn in ("yearly", "once", "tick"):
        t.start(fn)
    assert t.run("yearly").error is None  # now due next January
    yearly = t.scheduled()["t.yearly"].next_at
    now = now_micros()
    due, upcoming = t.runs.look(now, 100)
    assert [d.item.fn for d in due] == ["once", "tick"] and upcoming == yearly
    first, more = t.runs.look(now, 1)  # a wake reads at most its limit
    assert [d.item.fn for d in first] == ["once"] and more == now
    assert [d.item.fn for d in t.runs.look(yearly, 100)[0]] == ["once", "tick", "yearly"]


@pytest.mark.parametrize(
    "wire",
    [
        "Persisted",
        {"Persisted": "x"},
        {"Persisted": "61 * * * *"},
        {"Persisted": "* * * *"},
        {"Persisted": "*" * 300},
        {"Ephemeral": {"secs": -1, "nanos": 0}},
        {"Ephemeral": {"secs": 1, "nanos": 10**9}},
        {"Ephemeral": {"secs": 10**12, "nanos": 0}},
        {"Ephemeral": {"secs": True, "nanos": 0}},
        {"Ephemeral": {"secs": 1, "nanos": 0, "extra": 1}},
        {"Persisted": "* * * * *", "Ephemeral": {"secs": 1}},
    ],
)
def test_malformed_schedules_are_refused(wire: Any) -> None:
    with pytest.raises(InvalidInput):
        Schedule.from_wire(wire)


@pytest.mark.parametrize(
    "doc",
    [
        {"zome": 7, "fn": "tick", "schedule": None, "next_at": 1},
        {"zome": "t", "fn": b"tick", "schedule": None, "next_at": 1},
        {"zome": "t", "fn": "tick", "schedule": None, "next_at": -1},
        {"zome": "t", "fn": "tick", "schedule": None, "next_at": 2**63 - 1},
        {"zome": "t", "fn": "tick", "schedule": None, "next_at": "12"},
        {"zome": "t", "fn": "tick", "schedule": None, "next_at": 1.5},
        {"zome": "t", "fn": "tick", "schedule": {"Ephemeral": "soon"}, "next_at": 1},
        {"zome": "t", "fn": "tick", "next_at": 1},
    ],
)
def test_a_damaged_stored_schedule_is_an_integrity_error(doc: dict[str, Any]) -> None:
    """What the store reads back is checked as what a zome hands in: a damaged row is a
    typed error for whoever lists or runs it, not a crash of the CLI or a wrong time."""
    with pytest.raises(IntegrityError, match="a stored schedule is damaged"):
        schedules._decode(pack(doc))


def test_schedules_round_trip_and_cron_forms() -> None:
    assert Schedule.from_wire(None) is None
    five = Schedule.from_wire({"Persisted": "*/5 * * * *"})  # minute first (crontab)
    assert five is not None and five.to_wire() == {"Persisted": "*/5 * * * *"}
    eph = Schedule.from_wire({"Ephemeral": {"secs": 2, "nanos": 500_000_000}})
    assert eph == Schedule(delay_us=2_500_000)
    assert eph is not None and eph.to_wire() == {"Ephemeral": {"secs": 2, "nanos": 500_000_000}}
    now = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    every_2s = Schedule.from_wire({"Persisted": "*/2 * * * * *"})  # seconds first
    assert every_2s is not None and every_2s.next_run(now, now - 10**7) == now + 2_000_000
    assert five.next_run(now, now - 10**9) == now + 300_000_000
    yearly = Schedule(cron="0 0 0 1 1 * 2030")  # seconds first, with a year
    assert yearly.next_run(now, now) == 1_893_456_000_000_000


def test_the_scheduler_runs_a_cells_functions_one_at_a_time(
    make_ticker: Callable[..., Ticker],
) -> None:
    t = make_ticker()
    for fn in ("once", "tick", "rapid"):
        t.start(fn)

    async def ticks() -> None:
        pool = WorkerPool(4)
        scheduler = Scheduler(t.runs, pool.run)
        try:
            await scheduler._tick()  # three are due: one starts
            assert len(scheduler._running) == 1
            await scheduler._tick()  # the cell's run is not over: nothing more starts
            assert len(scheduler._running) == 1
            await asyncio.gather(*scheduler._running.values())
        finally:
            pool.shutdown()

    asyncio.run(ticks())
    assert sum(t.count(fn) for fn in ("once", "tick", "rapid")) == 1


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(TICKERS))
def test_the_daemon_runs_schedules_and_they_survive_a_restart(
    lang: str, ticker_bundles: dict[str, bytes], tmp_path: Path
) -> None:
    with Scenario(tmp_path, network=False) as s:
        (alice,) = s.add_players(ticker_bundles[lang], ["alice"])

        def runs(fn: str, who: Player = alice) -> int:
            return int(who.call("t", "runs", fn))

        for fn in ("boom", "tick", "once"):  # boom traps on its first run: the others go on
            alice.call("t", "start", fn)
        assert alice.signal(lambda p: p == "tick") == "tick"  # a scheduled run's signal
        assert alice.signal(lambda p: p == "tick") == "tick"  # and again: it is persisted
        wait_for("once to run", lambda: runs("once") == 1)
        log = s.logs(50_000)
        assert "scheduled function t.boom of cell" in log, log
        assert "failed: Trap: t.boom" in log and "boom went the scheduled function" in log, log

        alice.peer.restart()  # SIGTERM, then a new process on the same home
        after = runs("tick")
        wait_for("tick to run after the restart", lambda: runs("tick") > after)
        assert runs("once") == 1 and runs("boom") == 0


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(TICKERS))
def test_a_cells_schedules_are_listed_by_the_admin_api_and_the_cli(
    lang: str, ticker_bundles: dict[str, bytes], tmp_path: Path
) -> None:
    """``list_scheduled_functions`` (a running conductor) and ``zomehost schedules`` (a
    stopped one) show what each scheduled function returned last and when it runs next,
    soonest first; an ephemeral schedule is gone once the conductor starts again."""
    with Scenario(tmp_path, network=False) as s:
        (alice,) = s.add_players(ticker_bundles[lang], ["alice"])
        admin = alice.peer

        def listed() -> list[dict[str, Any]]:
            assert admin.admin is not None
            return s.run(admin.admin.list_scheduled_functions(alice.cell_id()))

        for fn in ("yearly", "in_an_hour", "tick"):
            alice.call("t", "start", fn)
        wait_for(
            "every first run",
            lambda: all(i["schedule"] is not None for i in listed()) and len(listed()) == 3,
        )
        items = listed()
        now = now_micros()
        assert [i["fn"] for i in items] == ["tick", "in_an_hour", "yearly"]  # soonest first
        tick, hour, year = items
        assert tick["schedule"] == {"Persisted": "* * * * * *"} and tick["zome"] == "t"
        assert hour["schedule"] == {"Ephemeral": {"secs": 3600, "nanos": 0}}
        assert abs(hour["next_at"] - (now + 3600 * 1_000_000)) < 120 * 1_000_000
        assert year["schedule"] == {"Persisted": "0 0 1 1 *"}
        next_new_year = datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)
        assert year["next_at"] == int(next_new_year.timestamp()) * 1_000_000
        other = CellId(alice.cell_id().dna_hash, AgentPubKey.from_core(bytes(32)))
        with pytest.raises(ConductorApiError, match="no cell"):  # not installed here
            assert admin.admin is not None
            s.run(admin.admin.list_scheduled_functions(other))

        live = admin.process.cli("schedules", alice.app_id, "main", "--conductor", "auto", "--json")
        assert live.returncode == 0, live.stderr
        # the running conductor's own list (tick may have run again in between)
        assert json.loads(live.stdout)[1:] == [hour, year]
        held = admin.process.cli("schedules", alice.app_id, "main")
        assert held.returncode != 0 and "is running on" in held.stderr  # its home is in use

        assert admin.admin is not None  # a disabled app's schedules are listed as well
        s.run(admin.admin.disable_app(alice.app_id))
        assert admin.stop() == 0
        out = admin.process.cli("schedules", alice.app_id, "main", "--json")
        assert out.returncode == 0, out.stderr
        offline = json.loads(out.stdout)
        assert [(i["fn"], i["schedule"]) for i in offline[1:]] == [
            ("in_an_hour", hour["schedule"]),
            ("yearly", year["schedule"]),
        ]
        text = admin.process.cli("schedules", alice.app_id, "main")
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert len(lines) == 3 and lines[2].startswith("t.yearly  next ")
        assert "persisted, cron 0 0 1 1 *" in lines[2]
        assert "ephemeral, every 3600 s (dropped when the conductor next starts)" in lines[1]
        missing = admin.process.cli("schedules", "no-such-app", "main")
        assert missing.returncode != 0 and "no-such-app" in missing.stderr

        admin.restart()
        assert [i["fn"] for i in listed()] == ["tick", "yearly"]  # the ephemeral one ended
