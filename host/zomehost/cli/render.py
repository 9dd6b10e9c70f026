"""JSON in and out of the shell: hashes as ``u…`` text, other bytes as ``base64:`` and
base64url (core/json_form.py); values shown in messages as the user wrote them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from zomehost.core.json_form import (
    BYTES_PREFIX,
    bytes_from_text,
    bytes_text,
    from_jsonable,
    record_view,
    shown,
    to_jsonable,
)
from zomehost.errors import InvalidInput

__all__ = [
    "BYTES_PREFIX",
    "bytes_from_text",
    "bytes_text",
    "dumps",
    "from_jsonable",
    "os_error_text",
    "parse_payload",
    "record_view",
    "schedule_line",
    "shown",
    "to_jsonable",
]


def parse_payload(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return from_jsonable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the payload is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def dumps(value: Any, *, pretty: bool = False) -> str:
    return json.dumps(to_jsonable(value), indent=2 if pretty else None, ensure_ascii=False)


def os_error_text(exc: OSError) -> str:
    """``path: No such file or directory``: one plain line, not ``[Errno 2] …``."""
    reason = exc.strerror or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def schedule_line(item: dict[str, Any], now_us: int) -> str:
    """One scheduled function (``{zome, fn, schedule, next_at}``, as the admin API lists
    them) as a line: when it runs next, and the schedule it returned last."""
    at = datetime.fromtimestamp(item["next_at"] / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = (item["next_at"] - now_us) / 1e6
    when = f"{at} (in {left:.0f} s)" if left >= 1 else f"{at} (due)"
    schedule = item["schedule"]
    if schedule is None:
        last = "first run"
    elif "Persisted" in schedule:
        last = f"persisted, cron {schedule['Persisted']}"
    else:
        delay = schedule["Ephemeral"]["secs"] + schedule["Ephemeral"]["nanos"] / 1e9
        last = f"ephemeral, every {delay:g} s (dropped when the conductor next starts)"
    return f"{item['zome']}.{item['fn']}  next {when}  {last}"
