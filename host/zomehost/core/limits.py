"""Sandbox limits: per call (safe defaults, set in the conductor config, narrowed per DNA),
and the conductor's memory budgets (conductor config only)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from zomehost.core.config_keys import bounds, bounds_of, check_keys
from zomehost.errors import InvalidInput

POSITIVE = bounds(1)  # every limit and budget is a positive integer


@dataclass(frozen=True, slots=True)
class Limits:
    # wall-clock deadline of one outermost call (epochs)
    timeout_ms: int = field(default=10_000, metadata=POSITIVE)
    # optional instruction budget (off: epochs cost nothing)
    fuel: int | None = field(default=None, metadata=POSITIVE)
    # linear memory of one call tree (and instance)
    memory_bytes: int = field(default=64 * 1024 * 1024, metadata=POSITIVE)
    max_input_bytes: int = field(default=4 * 1024 * 1024, metadata=POSITIVE)  # a call's payload
    max_output_bytes: int = field(default=4 * 1024 * 1024, metadata=POSITIVE)  # its result
    max_entry_bytes: int = field(default=4 * 1024 * 1024, metadata=POSITIVE)  # one entry
    # one host function's input
    max_host_payload_bytes: int = field(default=8 * 1024 * 1024, metadata=POSITIVE)
    # nested inter-zome / bridge / remote calls
    max_call_depth: int = field(default=16, metadata=POSITIVE)
    max_writes_per_call: int = field(default=10_000, metadata=POSITIVE)  # actions one call commits
    # entry bytes one call may commit
    max_write_bytes_per_call: int = field(default=64 * 1024 * 1024, metadata=POSITIVE)
    # app signals + remote signal deliveries, and their payload bytes
    max_signals_per_call: int = field(default=1_000, metadata=POSITIVE)
    max_signal_bytes_per_call: int = field(default=16 * 1024 * 1024, metadata=POSITIVE)

    @classmethod
    def from_config(cls, doc: Any, base: Limits | None = None) -> Limits:
        base = base or cls()
        if doc is None:
            return base
        checked = _checked(cls, doc, "limits", optional={"fuel"})
        return replace(base, **checked)

    def narrowed(self, doc: Any) -> Limits:
        """Apply a DNA's limits: they may only tighten the conductor's."""
        wanted = Limits.from_config(doc, self)
        out: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(wanted, f.name)
            if mine is None:
                out[f.name] = theirs
            elif theirs is None:
                out[f.name] = mine
            else:
                out[f.name] = min(mine, theirs)
        return Limits(**out)


@dataclass(frozen=True, slots=True)
class MemoryBudgets:
    """Linear memory beyond one call tree's ``memory_bytes`` (ribosome/memory.py)."""

    # all running call trees together, and what a worker thread keeps between calls
    conductor_bytes: int = field(default=1024 * 1024 * 1024, metadata=POSITIVE)
    thread_cache_bytes: int = field(default=8 * 1024 * 1024, metadata=POSITIVE)

    @classmethod
    def from_config(cls, doc: Any) -> MemoryBudgets:
        return cls(**_checked(cls, doc, "memory_budget"))


@dataclass(frozen=True, slots=True)
class Admission:
    """How many client calls may wait for or run on a worker at once (api/admission.py):
    one client, or one busy cell, never holds every worker thread."""

    # of the daemon's 64 workers: a CPU-bound flood shares 2 cores
    calls_per_cell: int = field(default=8, metadata=POSITIVE)
    calls_per_connection: int = field(default=8, metadata=POSITIVE)
    # a call of a function known as a fast read runs on the event loop (core/on_loop.py)
    reads_on_loop: bool = True

    @classmethod
    def from_config(cls, doc: Any) -> Admission:
        checked = _checked(cls, doc, "admission")
        if not isinstance(checked.get("reads_on_loop", True), bool):
            raise InvalidInput("admission.reads_on_loop must be true or false")
        return cls(**checked)


def _checked(
    cls: type, doc: Any, section: str, optional: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """A config section's keys, each a field of ``cls`` within its bounds (``optional``
    ones may also be null)."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidInput(f"{section} must be a mapping")
    check_keys(doc, (f.name for f in fields(cls)), f"{section}.")
    for f in fields(cls):
        bounds = bounds_of(f)
        if (
            bounds is not None
            and f.name in doc
            and not (doc[f.name] is None and f.name in optional)
        ):
            bounds.check(f"{section}.{f.name}", doc[f.name], InvalidInput)
    return dict(doc)
