"""Sandbox limits: per call (safe defaults, set in the conductor config, narrowed per DNA),
and the conductor's memory budgets (conductor config only)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from zomehost.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_ms: int = 10_000  # wall-clock deadline of one outermost call (epochs)
    fuel: int | None = None  # optional instruction budget (off: epochs cost nothing)
    memory_bytes: int = 64 * 1024 * 1024  # linear memory of one call tree (and instance)
    max_input_bytes: int = 4 * 1024 * 1024  # zome call payload
    max_output_bytes: int = 4 * 1024 * 1024  # zome call result
    max_entry_bytes: int = 4 * 1024 * 1024  # one entry's content
    max_host_payload_bytes: int = 8 * 1024 * 1024  # one host function's input
    max_call_depth: int = 16  # nested inter-zome / bridge / remote calls
    max_writes_per_call: int = 10_000  # actions one call may commit
    max_write_bytes_per_call: int = 64 * 1024 * 1024  # entry bytes one call may commit
    max_signals_per_call: int = 1_000  # app signals + remote signal deliveries
    max_signal_bytes_per_call: int = 16 * 1024 * 1024  # their payload bytes

    @classmethod
    def from_config(cls, doc: Any, base: Limits | None = None) -> Limits:
        base = base or cls()
        if doc is None:
            return base
        if not isinstance(doc, dict):
            raise InvalidInput("limits must be a mapping")
        known = {f.name for f in fields(cls)}
        unknown = set(doc) - known
        if unknown:
            raise InvalidInput(f"unknown limits: {', '.join(sorted(map(str, unknown)))}")
        for k, v in doc.items():
            if not (v is None and k == "fuel") and (
                not isinstance(v, int) or isinstance(v, bool) or v <= 0
            ):
                raise InvalidInput(f"limit {k} must be a positive integer")
        return replace(base, **doc)

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

    conductor_bytes: int = 1024 * 1024 * 1024  # all running call trees together
    thread_cache_bytes: int = 8 * 1024 * 1024  # what a worker thread keeps between calls

    @classmethod
    def from_config(cls, doc: Any) -> MemoryBudgets:
        return cls(**_positive_ints(cls, doc, "memory_budget"))


@dataclass(frozen=True, slots=True)
class Admission:
    """How many client calls may wait for or run on a worker at once (api/admission.py):
    one client, or one busy cell, never holds every worker thread."""

    calls_per_cell: int = 8  # of the daemon's 64 workers: a CPU-bound flood shares 2 cores
    calls_per_connection: int = 8

    @classmethod
    def from_config(cls, doc: Any) -> Admission:
        return cls(**_positive_ints(cls, doc, "admission"))


def _positive_ints(cls: type, doc: Any, section: str) -> dict[str, int]:
    """A config section of positive integers, each a field of ``cls``."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidInput(f"{section} must be a mapping")
    unknown = set(doc) - {f.name for f in fields(cls)}
    if unknown:
        raise InvalidInput(f"unknown {section} keys: {', '.join(sorted(map(str, unknown)))}")
    for k, v in doc.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise InvalidInput(f"{section} {k} must be a positive integer")
    return dict(doc)
