"""Which web origins may open an interface: checked at the HTTP upgrade, before any frame."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

log = logging.getLogger("zomehost.api")


# What a browser sends as Origin: "null" (file://, data:, sandboxed frames, some redirects)
# or "scheme://host[:port]" (http, https, file, chrome-extension, moz-extension, tauri, ...).
# Programs (CLI, Node, Python) send a free-form name such as "zomehost-client".
_WEB_ORIGIN = re.compile(r"^\s*(null\s*$|[a-z][a-z0-9+.\-]*:)", re.IGNORECASE)


def is_web_origin(origin: str) -> bool:
    """The Origin a web page (or an extension, or a local file) sends, not a program's name."""
    return _WEB_ORIGIN.match(origin) is not None


@dataclass(frozen=True, slots=True)
class AllowedOrigins:
    """``"*"`` and/or a comma-separated list compared for exact equality.

    With ``web_wildcard=False`` (the admin interface) ``"*"`` admits every *program* but no
    web page: a web origin must be listed exactly."""

    any: bool
    origins: frozenset[str]
    text: str
    web_wildcard: bool = True

    @classmethod
    def parse(cls, text: str, *, web_wildcard: bool = True) -> AllowedOrigins:
        items = [o.strip() for o in text.split(",") if o.strip()]
        listed = frozenset(o for o in items if o != "*")
        return cls("*" in items, listed, ",".join(items), web_wildcard)

    def allows(self, origin: str) -> bool:
        if origin in self.origins:
            return True
        return self.any and (self.web_wildcard or not is_web_origin(origin))


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
