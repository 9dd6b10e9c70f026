"""JSON in and out of the shell: hashes as ``u…`` text, other bytes as base64."""

from __future__ import annotations

import base64
import json
from typing import Any

from zomehost.core.codec import unpack
from zomehost.core.hash import HASH_LEN, HoloHash, any_hash
from zomehost.errors import InvalidInput, ZomehostError


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


def parse_payload(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return from_jsonable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the payload is not valid JSON: {exc}") from None


def dumps(value: Any, *, pretty: bool = False) -> str:
    return json.dumps(to_jsonable(value), indent=2 if pretty else None, ensure_ascii=False)


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
