"""App authentication tokens: what an app connection presents to be bound to one app."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class IssuedToken:
    app_id: str
    expires_at: int | None  # µs since the epoch
    single_use: bool


class TokenStore:
    """App authentication tokens (in memory: a restart invalidates them, as in Holochain)."""

    def __init__(self) -> None:
        self._tokens: dict[bytes, IssuedToken] = {}

    def issue(self, token: bytes, app_id: str, expires_at: int | None, single_use: bool) -> None:
        self._prune()
        self._tokens[token] = IssuedToken(app_id, expires_at, single_use)

    def revoke(self, token: bytes) -> None:
        self._tokens.pop(token, None)

    def revoke_app(self, app_id: str) -> None:
        for t in [t for t, v in self._tokens.items() if v.app_id == app_id]:
            del self._tokens[t]

    def use(self, token: bytes, interface_app: str | None) -> str | None:
        """The app id the token authenticates for on this interface, or ``None``."""
        issued = self._tokens.get(token)
        if issued is None:
            return None
        if issued.single_use:
            del self._tokens[token]
        if issued.expires_at is not None and issued.expires_at <= time.time_ns() // 1000:
            self._tokens.pop(token, None)
            return None
        if interface_app is not None and issued.app_id != interface_app:
            return None
        return issued.app_id

    def _prune(self) -> None:
        now = time.time_ns() // 1000
        for t in [t for t, v in self._tokens.items() if v.expires_at and v.expires_at <= now]:
            del self._tokens[t]
