"""Canonical MessagePack: the one encoding under hashes, signatures and the ABI.

Canonical means: map keys sorted by their encoded bytes, ``bin`` for bytes, ``str`` for
text, the shortest int encoding (msgpack's default), no floats in hashed content.
Two encodings of equal values are equal bytes, so hashes and signatures are stable.
"""

from __future__ import annotations

from typing import Any

import msgpack

from zomehost.errors import DeserializeError


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        items = [(_canonical(k), _canonical(v)) for k, v in value.items()]
        items.sort(key=lambda kv: msgpack.packb(kv[0], use_bin_type=True))
        return dict(items)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def pack_canonical(value: Any) -> bytes:
    """Encode ``value`` canonically (sorted map keys)."""
    return msgpack.packb(_canonical(value), use_bin_type=True)  # type: ignore[no-any-return]


def pack(value: Any) -> bytes:
    """Encode ``value`` as is (for wire and ABI payloads where order is not hashed)."""
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes, *, max_len: int | None = None, what: str = "payload") -> Any:
    """Decode exactly one msgpack value; anything else is a :class:`DeserializeError`."""
    if max_len is not None and len(data) > max_len:
        raise DeserializeError(f"{what} is {len(data)} bytes, limit {max_len}")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            use_list=True,
        )
    except Exception as exc:  # msgpack raises many unrelated types
        raise DeserializeError(f"{what} is not valid msgpack: {exc}") from None
