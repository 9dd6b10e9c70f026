"""App signals: what a zome emits for the clients of its app, delivered after its call commits."""

from __future__ import annotations

from dataclasses import dataclass

from zomehost.core.hash import CellId


@dataclass(frozen=True, slots=True)
class Signal:
    """An app signal emitted by a zome (``emit_signal``), for its app's connected clients."""

    cell: CellId
    zome_name: str
    payload: bytes  # msgpack bytes of the app's signal value
