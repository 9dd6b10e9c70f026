"""JSON in and out of the shell: hashes as ``u…`` text, other bytes as base64."""

from __future__ import annotations

import base64
import json
from typing import Any

from zomehost.core.json_form import from_jsonable, record_view, to_jsonable
from zomehost.errors import InvalidInput

__all__ = [
    "BYTES_PREFIX",
    "bytes_from_text",
    "bytes_text",
    "dumps",
    "from_jsonable",
    "parse_payload",
    "record_view",
    "to_jsonable",
]

BYTES_PREFIX = "base64:"  # how the JSON form marks bytes (core.json_form)


def bytes_text(value: bytes) -> str:
    """base64url without padding: a capability secret's text (what ``grant`` prints)."""
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def bytes_from_text(text: str) -> bytes:
    """Bytes from base64 text: either alphabet, padded or not (``ValueError`` otherwise), so
    a secret as ``grant`` prints it and as a call's output shows it read the same."""
    text = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def parse_payload(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return from_jsonable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the payload is not valid JSON: {exc}") from None


def dumps(value: Any, *, pretty: bool = False) -> str:
    return json.dumps(to_jsonable(value), indent=2 if pretty else None, ensure_ascii=False)
