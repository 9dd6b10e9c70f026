"""The JSON form of msgpack values, for people and browsers: hashes as ``u…`` text, other
bytes as ``base64:…``; records with their entry content decoded. Used by the CLI's output and
the conductor dashboard."""

from __future__ import annotations

import base64
from typing import Any

from zomehost.core.codec import unpack
from zomehost.core.hash import HASH_LEN, HoloHash, any_hash
from zomehost.errors import ZomehostError


def to_jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        if len(value) == HASH_LEN:
            try:
                return str(any_hash(value))
            except ZomehostError:
                pass
        return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def from_jsonable(value: Any) -> Any:
    """JSON → msgpack value: ``u…`` hash text and ``base64:`` strings become bytes."""
    if isinstance(value, str):
        if value.startswith("uhC") and len(value) == 53:
            try:
                return HoloHash.from_text(value).raw
            except ZomehostError:
                return value
        if value.startswith("base64:"):
            try:
                return base64.b64decode(value[7:], validate=True)
            except ValueError:
                return value
        return value
    if isinstance(value, dict):
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value


def record_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record for people: the entry's msgpack content decoded."""
    out = dict(record)
    entry = record.get("entry")
    if isinstance(entry, dict) and isinstance(entry.get("content"), bytes):
        try:
            content = unpack(entry["content"])
        except ZomehostError:
            content = entry["content"]
        out["entry"] = {"entry_type": entry.get("entry_type"), "content": content}
    return out
