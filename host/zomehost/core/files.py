"""Local files read with a size bound: a path that names ``/dev/zero``, a FIFO fed forever or
simply a huge file is refused by size, never read without end."""

from __future__ import annotations

from pathlib import Path

from zomehost.errors import ZomehostError


def read_bounded(path: Path, limit: int, error: type[ZomehostError], what: str = "") -> bytes:
    """At most ``limit`` bytes of ``path``; ``error`` naming the file when it is longer or
    cannot be read."""
    name = f"{what} {path}" if what else str(path)
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{name}: over {limit} bytes")
    return data


__all__ = ["read_bounded"]
