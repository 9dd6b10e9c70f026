"""Which web origins may open an interface: checked at the HTTP upgrade, before any frame."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

log = logging.getLogger("zomehost.api")


@dataclass(frozen=True, slots=True)
class AllowedOrigins:
    """``"*"`` or a comma-separated list compared for exact equality."""

    any: bool
    origins: frozenset[str]
    text: str

    @classmethod
    def parse(cls, text: str) -> AllowedOrigins:
        items = [o.strip() for o in text.split(",") if o.strip()]
        if "*" in items:
            return cls(True, frozenset(), "*")
        return cls(False, frozenset(items), ",".join(items))

    def allows(self, origin: str) -> bool:
        return self.any or origin in self.origins


def origin_check(
    allowed: AllowedOrigins,
) -> Callable[[ServerConnection, Request], Response | None]:
    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        origins = request.headers.get_all("Origin")
        if not origins:
            log.info("refused a connection without an Origin header")
            return conn.respond(400, "Missing `Origin` header")
        if len(origins) > 1:  # headers.get() would raise: one request, one origin
            log.info("refused a connection with %d Origin headers", len(origins))
            return conn.respond(400, "More than one `Origin` header")
        origin = origins[0]
        if not allowed.allows(origin):
            log.info("refused a connection from origin %r", origin)
            response = conn.respond(400, f"Origin {origin!r} is not allowed")
            response.headers["Access-Control-Allow-Origin"] = allowed.text
            return response
        return None

    return process_request
