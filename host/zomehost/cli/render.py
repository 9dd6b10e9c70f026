"""JSON in and out of the shell: hashes as ``u…`` text, other bytes as base64."""

from __future__ import annotations

import json
from typing import Any

from zomehost.core.json_form import from_jsonable, record_view, to_jsonable
from zomehost.errors import InvalidInput

__all__ = ["dumps", "from_jsonable", "parse_payload", "record_view", "to_jsonable"]


def parse_payload(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return from_jsonable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the payload is not valid JSON: {exc}") from None


def dumps(value: Any, *, pretty: bool = False) -> str:
    return json.dumps(to_jsonable(value), indent=2 if pretty else None, ensure_ascii=False)
