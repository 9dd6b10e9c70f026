"""Scheduled zome functions (the HDK's ``schedule``): what a scheduled function returns, when
it runs next, and the bounds that keep a zome from flooding its conductor (docs/abi.md,
"Scheduled functions").

A scheduled function takes the schedule it returned last time (nil on its first run) and
returns the next one: ``{"Persisted": cron}`` (survives restarts and failed runs),
``{"Ephemeral": {"secs", "nanos"}}`` (once, after that long; gone on restart or failure) or
nil (no more runs). Cron strings are read by ``croniter``: five fields (minute first, as in
crontab) or six/seven fields with seconds first (and a year last), as Holochain's ``cron``
crate reads them. Times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import CroniterError, croniter

from zomehost.errors import InvalidInput

MAX_SCHEDULES_PER_CELL = 16  # scheduled functions one cell may have at once
MIN_INTERVAL_US = 1_000_000  # one scheduled function runs at most once a second
CELL_RUN_GAP_US = 100_000  # a cell's scheduled runs start at least this far apart
MAX_CRON_CHARS = 256
MAX_FN_NAME_BYTES = 256  # a schedule's key (cell + zome + name) stays within LMDB's 511 bytes
MAX_EPHEMERAL_SECS = 366 * 24 * 3600  # a year: later than that is a persisted schedule's job
MAX_NEXT_AT_US = 253_402_300_799_999_999  # 9999-12-31 23:59:59.999999 UTC
SCHEDULABLE_PREFIX = "__zh_schedulable_"  # the marker export of a schedulable function


@dataclass(frozen=True, slots=True)
class Schedule:
    """``Persisted(cron)`` (``cron`` set) or ``Ephemeral(duration)`` (``delay_us`` set)."""

    cron: str | None = None
    delay_us: int = 0

    @property
    def persisted(self) -> bool:
        return self.cron is not None

    @classmethod
    def persisted_by(cls, cron: str) -> Schedule:
        _cron(cron)  # refuse it here, where the zome can be told
        return cls(cron=cron)

    @classmethod
    def from_wire(cls, value: Any) -> Schedule | None:
        """The guest's ``Option<Schedule>``; a malformed one is :class:`InvalidInput`."""
        if value is None:
            return None
        if isinstance(value, dict) and len(value) == 1:
            ((tag, data),) = value.items()
            if tag == "Persisted" and isinstance(data, str):
                return cls.persisted_by(data)
            if tag == "Ephemeral" and isinstance(data, dict):
                secs, nanos = data.get("secs"), data.get("nanos", 0)
                if (
                    isinstance(secs, int)
                    and isinstance(nanos, int)
                    and _uint(secs, MAX_EPHEMERAL_SECS)
                    and _uint(nanos, 999_999_999)
                    and set(data) <= {"secs", "nanos"}
                ):
                    return cls(delay_us=secs * 1_000_000 + nanos // 1000)
        raise InvalidInput(
            'a schedule is nil, {"Persisted": cron string} or '
            '{"Ephemeral": {"secs": int, "nanos": int}}'
        )

    def to_wire(self) -> Any:
        if self.cron is not None:
            return {"Persisted": self.cron}
        secs, micros = divmod(self.delay_us, 1_000_000)
        return {"Ephemeral": {"secs": secs, "nanos": micros * 1000}}

    def next_run(self, now_us: int, started_us: int) -> int:
        """When to run next (µs since the epoch): the cron's next time after ``now_us``, or
        ``now_us`` plus the delay; never sooner than :data:`MIN_INTERVAL_US` after the run
        that started at ``started_us``."""
        if self.cron is not None:
            it = _cron(self.cron)
            base = datetime.fromtimestamp(now_us / 1_000_000, UTC)
            it.set_current(base, force=True)
            at = int(it.get_next(float) * 1_000_000)
        else:
            at = now_us + self.delay_us
        return max(at, started_us + MIN_INTERVAL_US)


def _uint(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _cron(text: str) -> croniter:
    """A croniter for ``text`` (UTC), or :class:`InvalidInput`."""
    fields = text.split()
    if len(text) > MAX_CRON_CHARS or len(fields) not in (5, 6, 7):
        raise InvalidInput(
            f"cron {text[:80]!r}: five fields (minute first) or six/seven (seconds first), "
            f"at most {MAX_CRON_CHARS} characters"
        )
    try:
        return croniter(text, datetime.now(UTC), second_at_beginning=len(fields) > 5)
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"cron {text[:80]!r} is not valid: {exc}") from None


@dataclass(frozen=True, slots=True)
class ScheduledFn:
    """One scheduled function of a cell, as stored: what it returned last (None before its
    first run) and when it runs next."""

    zome: str
    fn: str
    schedule: Schedule | None
    next_at: int  # µs since the epoch

    def to_state(self) -> dict[str, Any]:
        return {
            "zome": self.zome,
            "fn": self.fn,
            "schedule": None if self.schedule is None else self.schedule.to_wire(),
            "next_at": self.next_at,
        }

    @classmethod
    def from_state(cls, doc: Any) -> ScheduledFn:
        """A stored schedule; ``ValueError`` if it is not one (the store says it is
        damaged)."""
        zome, fn, next_at = doc["zome"], doc["fn"], doc["next_at"]
        if not (isinstance(zome, str) and isinstance(fn, str)):
            raise ValueError("zome and fn are strings")
        if type(next_at) is not int or not 0 <= next_at <= MAX_NEXT_AT_US:
            raise ValueError("next_at is µs since the epoch, before the year 10000")
        stored = doc["schedule"]
        if isinstance(stored, dict) and isinstance(stored.get("Persisted"), str):
            schedule: Schedule | None = Schedule(cron=stored["Persisted"])  # checked when set
        else:
            schedule = Schedule.from_wire(stored)
        return cls(zome, fn, schedule, next_at)


@dataclass(frozen=True, slots=True)
class ScheduleWrite:
    """One pending change to a cell's scheduled functions, committed with its call's records:
    put ``item`` (``None``: delete ``zome.fn``'s schedule). ``if_absent``: the ``schedule``
    host function, which leaves an existing schedule as it is and may not take the cell past
    :data:`MAX_SCHEDULES_PER_CELL`."""

    zome: str
    fn: str
    item: ScheduledFn | None
    if_absent: bool = False
