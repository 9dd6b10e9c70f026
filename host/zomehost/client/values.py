"""Hash objects in zome call payloads, results and signals.

A zome sees a hash as 39 bytes (msgpack ``bin``). The client accepts the typed objects
(``AgentPubKey``, ``ActionHash``, …, and ``CellId`` as its two hashes) wherever a payload
holds a hash, and, when asked (``typed_hashes=True``), gives back every 39-byte value with
a hash prefix as the typed hash its prefix names.
"""

from __future__ import annotations

from typing import Any

from zomehost.core.hash import HASH_LEN, CellId, HoloHash, any_hash
from zomehost.errors import InvalidInput


def to_wire(value: Any) -> Any:
    """msgpack's ``default`` hook: a hash as its bytes, a cell id as its two hashes."""
    if isinstance(value, HoloHash):
        return value.raw
    if isinstance(value, CellId):
        return value.to_wire()
    raise TypeError(f"cannot send a {type(value).__name__} in a zome call payload")


def typed(value: Any) -> Any:
    """``value`` with every 39-byte ``bytes`` that has a hash prefix as a typed hash."""
    if isinstance(value, bytes):
        if len(value) == HASH_LEN:
            try:
                return any_hash(value)
            except InvalidInput:
                return value
        return value
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    return value
