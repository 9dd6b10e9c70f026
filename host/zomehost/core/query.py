"""ChainQueryFilter: which records of a source chain a ``query`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zomehost.core.action import ActionType, Record
from zomehost.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class ChainQueryFilter:
    sequence_range: tuple[int, int] | None = None  # [start, end) by action_seq
    entry_type: frozenset[str] | None = None
    action_type: frozenset[ActionType] | None = None
    include_entries: bool = False
    descending: bool = False

    @classmethod
    def from_wire(cls, value: Any) -> ChainQueryFilter:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidInput("a query filter is a map")
        rng = value.get("sequence_range")
        if rng is not None:
            if (
                not isinstance(rng, (list, tuple))
                or len(rng) != 2
                or not all(isinstance(x, int) and x >= 0 for x in rng)
            ):
                raise InvalidInput("sequence_range is [start, end) of non-negative ints")
            rng = (int(rng[0]), int(rng[1]))
        et = value.get("entry_type")
        if et is not None:
            if isinstance(et, str):
                et = [et]
            if not isinstance(et, (list, tuple)) or not all(isinstance(x, str) for x in et):
                raise InvalidInput("entry_type is a list of names")
            et = frozenset(et)
        at = value.get("action_type")
        if at is not None:
            if isinstance(at, str):
                at = [at]
            try:
                at = frozenset(ActionType(x) for x in at)
            except (ValueError, TypeError):
                raise InvalidInput(f"unknown action_type in {at!r:.80}") from None
        return cls(
            sequence_range=rng,
            entry_type=et,
            action_type=at,
            include_entries=bool(value.get("include_entries", False)),
            descending=bool(value.get("descending", False)),
        )

    def seq_bounds(self, head_seq: int) -> tuple[int, int]:
        """The [start, end) sequence numbers to scan for a chain whose head is ``head_seq``."""
        if self.sequence_range is None:
            return 0, head_seq + 1
        start, end = self.sequence_range
        return start, min(end, head_seq + 1)

    def matches(self, record: Record) -> bool:
        a = record.action
        if self.action_type is not None and a.type not in self.action_type:
            return False
        return self.entry_type is None or a.entry_type in self.entry_type
