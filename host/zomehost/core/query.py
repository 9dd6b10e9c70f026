"""ChainQueryFilter: which records of a source chain a ``query`` returns.

Every filter that is set must hold (the HDK's semantics): a sequence range, any of some
entry types, any of some action types, any of some entry hashes.

The sequence range is ``[start, end)`` of ``action_seq``, or one of the HDK's hash-bounded
ranges: ``{"ActionHashRange": [first, last]}`` (both included) or
``{"ActionHashTerminated": [hash, n]}`` (the action and the ``n`` before it). A reader
turns those into sequence numbers with :meth:`ChainQueryFilter.resolved`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from zomehost.core.action import ActionType, Record
from zomehost.core.hash import ActionHash, EntryHash
from zomehost.errors import InvalidInput, NotFound, ZomehostError

# bounds a filter's lists: each name or hash costs an index seek per step of the join
MAX_FILTER_ITEMS = 1024


@dataclass(frozen=True, slots=True)
class ChainQueryFilter:
    sequence_range: tuple[int, int] | None = None  # [start, end) by action_seq
    entry_type: frozenset[str] | None = None
    action_type: frozenset[ActionType] | None = None
    include_entries: bool = False
    descending: bool = False
    entry_hashes: frozenset[EntryHash] | None = None
    # the HDK's hash-bounded ranges (at most one of these and sequence_range is set)
    hash_range: tuple[ActionHash, ActionHash] | None = None  # first, last (both included)
    hash_terminated: tuple[ActionHash, int] | None = None  # an action and the n before it

    @classmethod
    def from_wire(cls, value: Any) -> ChainQueryFilter:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidInput("a query filter is a map")
        rng = value.get("sequence_range")
        hash_range = hash_terminated = None
        if isinstance(rng, dict):
            hash_range, hash_terminated = _hash_bounds(rng)
            rng = None
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
        eh = value.get("entry_hashes")
        if eh is not None:
            if not isinstance(eh, (list, tuple)):
                raise InvalidInput("entry_hashes is a list of entry hashes")
            try:
                eh = frozenset(EntryHash(x) for x in eh)
            except (ZomehostError, TypeError, ValueError):
                raise InvalidInput(
                    "entry_hashes holds something that is not an entry hash"
                ) from None
        for name, items in (("entry_type", et), ("action_type", at), ("entry_hashes", eh)):
            if items is not None and len(items) > MAX_FILTER_ITEMS:
                raise InvalidInput(f"{name} lists more than {MAX_FILTER_ITEMS} items")
        return cls(
            sequence_range=rng,
            entry_type=et,
            action_type=at,
            include_entries=bool(value.get("include_entries", False)),
            descending=bool(value.get("descending", False)),
            entry_hashes=eh,
            hash_range=hash_range,
            hash_terminated=hash_terminated,
        )

    def resolved(self, seq_of: Callable[[ActionHash], int | None]) -> ChainQueryFilter:
        """This filter with a hash-bounded range turned into sequence numbers (``seq_of``
        finds an action on the chain being read); :class:`NotFound` if one is not there."""
        if self.hash_range is None and self.hash_terminated is None:
            return self

        def seq(h: ActionHash) -> int:
            found = seq_of(h)
            if found is None:
                raise NotFound(f"query: action {h} is not on this chain")
            return found

        if self.hash_range is not None:
            first, last = (seq(h) for h in self.hash_range)
            if first > last:
                raise InvalidInput("query: ActionHashRange's first action comes after its last")
            bounds = (first, last + 1)
        else:
            assert self.hash_terminated is not None
            h, n = self.hash_terminated
            end = seq(h)
            bounds = (max(0, end - n), end + 1)
        return replace(self, sequence_range=bounds, hash_range=None, hash_terminated=None)

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
        if self.entry_hashes is not None and a.entry_hash not in self.entry_hashes:
            return False
        return self.entry_type is None or a.entry_type in self.entry_type


def _hash_bounds(
    rng: dict[Any, Any],
) -> tuple[tuple[ActionHash, ActionHash] | None, tuple[ActionHash, int] | None]:
    """``{"ActionHashRange": [first, last]}`` or ``{"ActionHashTerminated": [hash, n]}``."""
    if len(rng) != 1:
        raise InvalidInput(
            "a sequence_range map has one key: ActionHashRange or ActionHashTerminated"
        )
    ((kind, args),) = rng.items()
    if not isinstance(args, (list, tuple)) or len(args) != 2:
        raise InvalidInput(f"sequence_range {kind!r:.40} takes two values")
    try:
        if kind == "ActionHashRange":
            return (ActionHash(args[0]), ActionHash(args[1])), None
        if kind == "ActionHashTerminated":
            n = args[1]
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 1 << 32:
                raise InvalidInput("ActionHashTerminated takes an action hash and a count")
            return None, (ActionHash(args[0]), n)
    except (TypeError, ValueError):
        raise InvalidInput(f"sequence_range {kind!r:.40} takes action hashes") from None
    raise InvalidInput(
        f"unknown sequence_range {kind!r:.40}: ActionHashRange or ActionHashTerminated"
    )
