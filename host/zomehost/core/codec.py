"""Canonical MessagePack: the one encoding under hashes, signatures and the ABI.

Canonical means: map keys sorted by their encoded bytes, ``bin`` for bytes, ``str`` for
text, the shortest int encoding (msgpack's default), no floats in hashed content.
Two encodings of equal values are equal bytes, so hashes and signatures are stable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from zomehost.errors import DeserializeError, InvalidInput

# Deeper nesting is refused when decoded: recursive consumers (canonical encoding, msgpack's
# own packer at 512 levels, repr, JSON) would otherwise fail with RecursionError/ValueError.
MAX_NESTING = 128
_CONTAINER_TYPES = frozenset({list, dict})


def _canonical(value: Any, depth: int = 0) -> Any:
    if depth > MAX_NESTING:
        raise InvalidInput(f"a value nested deeper than {MAX_NESTING} levels")
    if isinstance(value, dict):
        items = [(_canonical(k, depth + 1), _canonical(v, depth + 1)) for k, v in value.items()]
        items.sort(key=lambda kv: msgpack.packb(kv[0], use_bin_type=True))
        return dict(items)
    if type(value) in (list, tuple):  # not msgpack.ExtType, a tuple that may be a map key
        return [_canonical(v, depth + 1) for v in value]
    return value


def canonical_key_order(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` in the order a canonical map puts them (by their encoded bytes)."""
    return tuple(sorted(keys, key=lambda k: msgpack.packb(k, use_bin_type=True)))


def pack_canonical(value: Any) -> bytes:
    """Encode ``value`` canonically (sorted map keys)."""
    return msgpack.packb(_canonical(value), use_bin_type=True)  # type: ignore[no-any-return]


def _too_deep(data: bytes, value: Any) -> bool:
    # Every level takes at least one byte; scalars and scalar-only containers end the walk.
    if len(data) <= MAX_NESTING or (value.__class__ is not list and value.__class__ is not dict):
        return False
    level, depth = [value], 0  # breadth first, containers only
    while level:
        depth += 1
        if depth > MAX_NESTING:
            return True
        nxt: list[Any] = []
        for v in level:
            items = v.values() if v.__class__ is dict else v
            if _CONTAINER_TYPES.isdisjoint(map(type, items)):  # a C loop: cheap
                continue
            nxt.extend([x for x in items if x.__class__ is list or x.__class__ is dict])
        level = nxt
    return False


def pack(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Encode ``value`` as is (for wire and ABI payloads where order is not hashed).

    ``default`` turns a value of a type msgpack does not know into one it does."""
    return msgpack.packb(value, use_bin_type=True, default=default)  # type: ignore[no-any-return]


def _unique(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise DeserializeError("a map names a key twice")
    return out


def unpack(
    data: bytes, *, max_len: int | None = None, what: str = "payload", unique_keys: bool = False
) -> Any:
    """Decode exactly one msgpack value; anything else is a :class:`DeserializeError`.

    ``unique_keys``: a map that names a key twice is refused too (msgpack keeps the last),
    for documents whose keys become names, as a bundle's resources do."""
    if max_len is not None and len(data) > max_len:
        raise DeserializeError(f"{what} is {len(data)} bytes, limit {max_len}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            use_list=True,
            object_pairs_hook=_unique if unique_keys else None,
        )
    except DeserializeError as exc:
        raise DeserializeError(f"{what}: {exc.message}") from None
    except Exception as exc:  # msgpack raises many unrelated types
        raise DeserializeError(f"{what} is not valid msgpack: {exc}") from None
    if _too_deep(data, value):
        raise DeserializeError(f"{what} is nested deeper than {MAX_NESTING} levels")
    return value
