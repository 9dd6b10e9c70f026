"""Scheduling through the two probes gives the same results: a scheduled function runs once
as the author and signals, and `schedule` refuses a missing or unmarked function with the
same text in both languages (the full rules: tests/conductor/test_schedule.py)."""

from __future__ import annotations

from typing import Any

import pytest

from zomehost.conductor.scheduling import ScheduledRuns
from zomehost.core.clock import now_micros
from zomehost.core.codec import unpack
from zomehost.errors import ZomehostError

LANGS = ("rust", "assemblyscript")
World = Any  # conftest.World: one conductor per language


@pytest.mark.parametrize("lang", LANGS)
def test_a_scheduled_probe_function_runs_once_and_signals(
    worlds: dict[str, World], lang: str
) -> None:
    world = worlds[lang]
    (app,) = world.install("schedule", "alice")
    assert app.call("a", "schedule_fn", "scheduled_ping") is None
    runs = ScheduledRuns(world.node.conductor)
    (due,) = [d for d in runs.look(now_micros(), 100)[0] if d.cell_id == app.cell_id()]
    assert (due.item.zome, due.item.fn, due.item.schedule) == ("a", "scheduled_ping", None)
    mark = world.mark()
    outcome = runs.run(due)
    assert outcome.error is None and outcome.next is None
    assert [unpack(s.payload) for s in world.signals_since(mark)] == ["scheduled_ping"]
    assert runs.scheduled(app.cell_id()) == []


def test_refusals_read_the_same_in_both_languages(worlds: dict[str, World]) -> None:
    messages: dict[str, list[str]] = {}
    for lang in LANGS:
        (app,) = worlds[lang].install("refusals", "bob")
        for name in ("no_such_fn", "echo"):
            with pytest.raises(ZomehostError) as refused:
                app.call("a", "schedule_fn", name)
            messages.setdefault(lang, []).append(refused.value.message)
    rust, assemblyscript = (messages[lang] for lang in LANGS)
    assert rust == assemblyscript
    assert "NotFound: zome 'a' has no function 'no_such_fn' to schedule" in rust[0]
    assert "InvalidInput: a.echo is not schedulable" in rust[1]
