"""Config sections as data: a dataclass field's metadata carries its bounds (or, for a
nested section, its class), and unknown keys are refused naming the key with a "did you
mean". The parsers check values against these bounds and docs/config.md's test reads the
same metadata, so the reference and the code cannot drift apart."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import Field, dataclass
from typing import Any

from zomehost.errors import UnknownConfigKey, ZomehostError

BOUNDS = "zomehost.bounds"
SECTION = "zomehost.section"
INLINE = "zomehost.inline"


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive bounds of a number (``None``: unbounded that way), or of a list's length."""

    low: int | float | None = None
    high: int | float | None = None
    items: bool = False  # the bounds count a list's items

    def check(self, key: str, value: Any, error: type[ZomehostError]) -> None:
        """``error`` naming ``key`` unless ``value`` is a number (a list) within bounds."""
        if self.items:
            ok = isinstance(value, list)
            measure = len(value) if ok else 0
        else:
            integral = isinstance(self.low, int) and isinstance(self.high, int | None)
            kinds: tuple[type, ...] = (int,) if integral else (int, float)
            ok = isinstance(value, kinds) and not isinstance(value, bool)
            measure = value if ok else 0
        if not ok or (self.low is not None and measure < self.low):
            ok = False
        if self.high is not None and measure > self.high:
            ok = False
        if not ok:
            raise error(f"{key} must be {self.text()}")

    def text(self) -> str:
        """``an integer from 1 to 65535``, ``at most 8 items``: as docs/config.md says it."""
        if self.items:
            return f"a list of at most {self.high} items"
        what = "an integer" if isinstance(self.low, int) else "a number"
        if self.high is None and self.low == 1 and what == "an integer":
            return "a positive integer"
        if self.high is None:
            return f"{what} of at least {self.low}"
        return f"{what} from {self.low} to {self.high}"


def bounds(
    low: float | None, high: float | None = None, *, items: bool = False
) -> dict[str, Bounds]:
    """A field's metadata: inclusive bounds of its number (or of its list's length)."""
    return {BOUNDS: Bounds(low, high, items)}


def nested(cls: type, *, inline: bool = False) -> dict[str, Any]:
    """A field's metadata: a nested section whose keys are those of ``cls`` (``inline``:
    side by side with the keys of the section holding it, not under the field's name)."""
    return {SECTION: cls, INLINE: inline}


def bounds_of(f: Field[Any]) -> Bounds | None:
    found = f.metadata.get(BOUNDS)
    return found if isinstance(found, Bounds) else None


def section_of(f: Field[Any]) -> type | None:
    found = f.metadata.get(SECTION)
    return found if isinstance(found, type) else None


def is_inline(f: Field[Any]) -> bool:
    return bool(f.metadata.get(INLINE))


def check_keys(doc: dict[Any, Any], known: Iterable[str], prefix: str = "") -> None:
    """Refuse the first key of ``doc`` not in ``known`` (``prefix`` is the section's dotted
    name), suggesting the closest known key."""
    names = sorted(known)
    unknown = sorted(str(k) for k in doc if not isinstance(k, str) or k not in names)
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1, cutoff=0.6)
        raise UnknownConfigKey(prefix + unknown[0], prefix + close[0] if close else None)
