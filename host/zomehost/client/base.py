"""One WebSocket to a conductor interface: numbered requests, responses matched by id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from websockets.exceptions import ConnectionClosed

from zomehost.client.socket import ClientSocket, connect
from zomehost.core.api_wire import (
    AUTH_FAILED,
    CHAIN_HEAD_MOVED,
    DESERIALIZATION,
    DISK_FULL,
    DNA_READ,
    INTERNAL,
    RIBOSOME,
    STORE_FULL,
    UNAUTHORIZED,
    ApiError,
    decode_envelope,
    decode_response,
    encode_request,
)
from zomehost.errors import ZomehostError

log = logging.getLogger("zomehost.client")

DEFAULT_ORIGIN = "zomehost-client"
DEFAULT_TIMEOUT = 60.0


class ConductorApiError(ApiError):
    """The conductor answered a request with an error; ``kind`` is the wire kind
    (``internal_error``, ``deserialization``, ``ribosome_error``,
    ``zome_call_authentication_failed``, ``zome_call_unauthorized``, …), and the class is
    the one :data:`ERROR_CLASSES` names for it, so callers catch a kind, not a message."""

    @classmethod
    def of(cls, kind: str, message: str) -> ConductorApiError:
        """The error for a wire kind: its own subclass, or this class for a new kind."""
        return ERROR_CLASSES.get(kind, cls)(kind, message)


class InternalError(ConductorApiError):
    """``internal_error``: the conductor could not do what was asked (it says why)."""


class DeserializationError(ConductorApiError):
    """``deserialization``: the request did not have the shape the API asks for."""


class DnaReadError(ConductorApiError):
    """``dna_read_error``: a bundle or DNA could not be read."""


class ZomeCallFailed(ConductorApiError):
    """``ribosome_error``: the zome function returned an error, trapped or hit a limit."""


class ZomeCallAuthenticationFailed(ConductorApiError):
    """``zome_call_authentication_failed``: the call's signature did not check out."""


class ZomeCallUnauthorized(ConductorApiError):
    """``zome_call_unauthorized``: no live grant covers the call, or its nonce was refused."""


class ChainHeadMoved(ConductorApiError):
    """``chain_head_moved``: another call wrote first; nothing was written, a retry is safe."""


class StoreFull(ConductorApiError):
    """``store_full``: the chain store reached its largest map size; reads go on."""


class DiskFull(ConductorApiError):
    """``disk_full``: the disk under the store is full or failing; reads go on."""


ERROR_CLASSES: dict[str, type[ConductorApiError]] = {
    INTERNAL: InternalError,
    DESERIALIZATION: DeserializationError,
    DNA_READ: DnaReadError,
    RIBOSOME: ZomeCallFailed,
    AUTH_FAILED: ZomeCallAuthenticationFailed,
    UNAUTHORIZED: ZomeCallUnauthorized,
    CHAIN_HEAD_MOVED: ChainHeadMoved,
    STORE_FULL: StoreFull,
    DISK_FULL: DiskFull,
}


class InvalidToken(ZomehostError):
    """An app interface closed the connection after ``authenticate``."""

    kind = "InvalidTokenError"


class ClientClosed(ZomehostError):
    """The connection closed while a request was pending (or before it was sent)."""

    kind = "ClientClosed"

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class RequestTimeout(ZomehostError):
    kind = "Timeout"


class WsClient:
    """Requests over one socket; subclasses add the typed calls. Answers are matched to
    their requests by id in the socket's read callback."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[bytes | None]] = {}
        self._closed: ClientClosed | None = None
        self.ws: ClientSocket | None = None

    async def open(self, origin: str | None, max_size: int) -> None:
        """Connect (:class:`ConnectionRejected` when refused)."""
        self.ws = await connect(self.url, origin, max_size, self._on_message)
        self.ws.closed.add_done_callback(self._on_closed)

    def send(self, message: bytes) -> None:
        """Write one message as it is (raises :class:`ClientClosed` once closed)."""
        if self._closed is not None:
            raise self._closed
        assert self.ws is not None
        try:
            self.ws.send(message)
        except ConnectionClosed:
            raise self._closed_error() from None

    async def request(self, tag: str, value: Any = None, *, timeout: float | None = None) -> Any:
        """Send one request and return its response value (raises ConductorApiError)."""
        if self._closed is not None:
            raise self._closed
        rid = self._next_id
        self._next_id += 1
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes | None] = loop.create_future()
        self._pending[rid] = fut
        # A timer that fails the future: lighter than wait_for, which wraps it once more.
        timer = loop.call_later(timeout or self.timeout, _expire, fut, tag, timeout or self.timeout)
        try:
            self.send(encode_request(rid, tag, value))
            assert self.ws is not None
            await self.ws.drain()
            data = await fut
        finally:
            timer.cancel()
            self._pending.pop(rid, None)
        try:
            return decode_response(data)
        except ApiError as exc:
            raise ConductorApiError.of(exc.kind, exc.message) from None

    def _closed_error(self) -> ClientClosed:
        rcvd = self.ws.close_received() if self.ws is not None else None
        code = rcvd.code if rcvd is not None else None
        reason = rcvd.reason if rcvd is not None else ""
        detail = f" (close code {code}{': ' + reason if reason else ''})" if code else ""
        return ClientClosed(f"the connection to {self.url} closed{detail}", code, reason)

    def _on_message(self, frame: bytes) -> None:
        env = decode_envelope(frame)
        if env is None:
            log.warning("dropped an undecodable frame from %s", self.url)
            return
        if env.type == "response" and env.id is not None:
            fut = self._pending.get(env.id)
            if fut is not None and not fut.done():
                fut.set_result(env.data)
        elif env.type == "signal" and env.data is not None:
            try:
                self._on_signal(env.data)
            except Exception:
                log.exception("signal handler failed")

    def _on_closed(self, _: asyncio.Future[None]) -> None:
        self._closed = self._closed_error()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self._closed)

    def _on_signal(self, data: bytes) -> None:
        """Admin connections receive no signals; AppClient overrides this."""

    @property
    def closed(self) -> ClientClosed | None:
        return self._closed

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _expire(fut: asyncio.Future[bytes | None], tag: str, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(RequestTimeout(f"request {tag} got no response within {timeout} s"))


SignalCallback = Callable[[Any], None]
