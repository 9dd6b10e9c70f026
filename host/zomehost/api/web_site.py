"""What every web page the conductor serves shares: a site on ``127.0.0.1`` and its rules.

``Host`` must name the site (``127.0.0.1:PORT``; ``localhost:PORT`` is redirected there),
which defeats DNS rebinding; a request that carries an ``Origin`` must come from the site
itself; request targets are decoded strictly and ``.``/``..`` parts refused; pages get the
boot script the server injects, under a Content-Security-Policy with a per-response nonce;
``/api``-like requests prove they come from the site's own page with its session secret.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from zomehost.api.http_server import HttpRequest, HttpResponse, HttpSite

log = logging.getLogger("zomehost.api.ui")

LOOPBACK = "127.0.0.1"
ASSETS = Path(__file__).parent / "ui_assets"
SESSION_HEADER = "x-zomehost-session"
_HEAD = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)


def script_json(value: Any) -> str:
    """JSON safe to put inside ``<script>``: no ``</script>`` or ``<!--`` can appear."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json"):
        return f"{guessed}; charset=utf-8"
    return guessed


def request_path(target: str) -> str | None:
    """The decoded path of a request target (``/a/b.js?x`` → ``a/b.js``), or ``None``.

    Only origin-form targets; percent-escapes must decode to UTF-8. The result is only ever
    used as a key into the UI's files, so ``..`` cannot escape anything; it is refused anyway.
    """
    if not target.startswith("/"):
        return None
    path = urlsplit(target).path
    try:
        decoded = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in decoded or "\\" in decoded:
        return None
    parts = decoded.split("/")[1:]
    if any(p in (".", "..") for p in parts):
        return None
    return "/".join(parts)


class LoopbackSite:
    """A site on ``127.0.0.1``: the Host rule and the session secret its pages carry."""

    def __init__(self, name: str, max_body: int) -> None:
        self.http = HttpSite(self.handle, max_body=max_body, name=name)
        self.session = secrets.token_urlsafe(32)

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/"

    async def listen(self, port: int) -> int:
        try:
            return await self.http.listen(LOOPBACK, port)
        except OSError:
            if not port:
                raise
            log.info("%s: port %d is taken, using another", self.http.name, port)
            return await self.http.listen(LOOPBACK, 0)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        host = request.header("host")
        if host == f"localhost:{self.port}":
            target = request.target if request.target.startswith("/") else "/"
            return HttpResponse(308, b"", headers={"Location": self.origin + target})
        if host != f"{LOOPBACK}:{self.port}":
            return HttpResponse.text(421, f"this site answers only to {LOOPBACK}:{self.port}")
        origin = request.header("origin")
        if origin is not None and origin != self.origin:
            return HttpResponse.text(403, "cross-origin requests are refused")
        path = request_path(request.target)
        if path is None:
            return HttpResponse.text(400, "bad request path")
        return await self.route(request, path)

    async def route(self, request: HttpRequest, path: str) -> HttpResponse:
        raise NotImplementedError

    def has_session(self, request: HttpRequest) -> bool:
        """The request carries this site's session secret (a custom header: a page of
        another origin cannot send it without a CORS preflight, which is never granted)."""
        given = request.header(SESSION_HEADER) or ""
        return hmac.compare_digest(given.encode(), self.session.encode())

    def page(self, html: bytes, boot: str, csp: str) -> HttpResponse:
        """``html`` with ``boot`` (a script, nonce-tagged) injected first in ``<head>``."""
        nonce = secrets.token_urlsafe(16)
        body = in_head(html, f'<script nonce="{nonce}">{boot}</script>'.encode())
        return HttpResponse(
            200,
            body,
            "text/html; charset=utf-8",
            {"Content-Security-Policy": csp.replace("{nonce}", nonce)},
        )


def in_head(html: bytes, tag: bytes) -> bytes:
    """``tag`` first thing in ``<head>`` (or at the very start if there is none)."""
    found = _HEAD.search(html)
    at = found.end() if found else 0
    return html[:at] + tag + html[at:]


def asset(name: str) -> bytes:
    path = ASSETS / name
    try:
        return path.read_bytes()
    except OSError:
        raise FileNotFoundError(f"{path} is missing: run `just ui`") from None
