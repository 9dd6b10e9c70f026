"""The JSON form of msgpack values, for people and browsers: hashes as ``u…`` text, other
bytes as ``base64:`` and base64url without padding (the text ``zomehost grant`` prints for a
secret, so a secret a zome returns can be pasted into ``--cap-secret``); records with their
entry content decoded. Used by the CLI's output and the conductor dashboard."""

from __future__ import annotations

import base64
import json
from typing import Any

from zomehost.core.codec import unpack
from zomehost.core.hash import HASH_LEN, HoloHash, any_hash
from zomehost.errors import ZomehostError

BYTES_PREFIX = "base64:"  # marks bytes in the JSON form, where strings are text


def bytes_text(value: bytes) -> str:
    """base64url without padding: the one text form of bytes (after ``base64:`` in JSON)."""
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def bytes_from_text(text: str) -> bytes:
    """Bytes from base64 text: either alphabet, padded or not (``ValueError`` otherwise), so
    text written before base64url was the one form still reads."""
    text = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        if len(value) == HASH_LEN:
            try:
                return str(any_hash(value))
            except ZomehostError:
                pass
        return BYTES_PREFIX + bytes_text(value)
    if isinstance(value, dict):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def shown(value: Any, limit: int = 60) -> str:
    """A value in a message as JSON (what a user wrote in YAML or JSON reads the same),
    never a Python repr; cut at ``limit`` characters."""
    text = json.dumps(to_jsonable(value), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_jsonable(value: Any) -> Any:
    """JSON → msgpack value: ``u…`` hash text and ``base64:`` strings become bytes."""
    if isinstance(value, str):
        if value.startswith("uhC") and len(value) == 53:
            try:
                return HoloHash.from_text(value).raw
            except ZomehostError:
                return value
        if value.startswith(BYTES_PREFIX):
            try:
                return bytes_from_text(value.removeprefix(BYTES_PREFIX))
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
