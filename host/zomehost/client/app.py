"""``AppClient``: one app's interface from Python: app info, signed zome calls, signals."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zomehost.client.base import (
    DEFAULT_ORIGIN,
    DEFAULT_TIMEOUT,
    ClientClosed,
    InvalidToken,
    WsClient,
)
from zomehost.client.network_views import NetworkViews
from zomehost.client.signing import SigningCredentials, get_signing_credentials
from zomehost.client.values import to_wire, typed
from zomehost.core.api_wire import APP_MAX_MESSAGE, clone_ref_to_wire, encode_authenticate
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.json_form import shown
from zomehost.core.zome_call import DEFAULT_EXPIRY_US, ZomeCallParams, new_nonce, sign_call
from zomehost.errors import InvalidInput, NotFound

log = logging.getLogger("zomehost.client")
SIGNAL_BUFFER = 1024


@dataclass(frozen=True, slots=True)
class AppSignal:
    cell_id: CellId
    zome_name: str
    payload: Any  # the decoded signal value


class NoSigningCredentials(NotFound):
    kind = "NoSigningCredentialsForCell"


class AppClient(NetworkViews, WsClient):
    """``async with await AppClient.connect(url, token) as app: await app.call_zome(...)``"""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.app_info: dict[str, Any] | None = None
        self._callbacks: list[Callable[[AppSignal], None]] = []
        self._signals: asyncio.Queue[AppSignal] = asyncio.Queue(SIGNAL_BUFFER)
        self.dropped_signals = 0
        self.typed_hashes = False  # results and signals: 39-byte hashes as typed objects
        super().__init__(*args, **kw)

    @classmethod
    async def connect(
        cls,
        url: str,
        token: bytes | list[int],
        *,
        origin: str | None = DEFAULT_ORIGIN,
        timeout: float = DEFAULT_TIMEOUT,
        typed_hashes: bool = False,
    ) -> AppClient:
        """Open the socket, authenticate with ``token`` and fetch the app's info.

        A rejected token closes the socket: :class:`InvalidToken`. ``typed_hashes``: call
        results and signals hold hashes as ``AgentPubKey``, ``ActionHash``, … instead of
        39-byte ``bytes`` (payloads accept both either way).
        """
        client = cls(url, timeout)
        await client.open(origin, APP_MAX_MESSAGE)
        try:
            client.send(encode_authenticate(token))
        except ClientClosed:
            raise InvalidToken(f"{url}: the conductor closed the connection") from None
        client.typed_hashes = typed_hashes
        try:
            info = await client.request("app_info")
        except ClientClosed as exc:
            raise InvalidToken(
                f"{url}: invalid app authentication token (close code {exc.code}"
                f"{': ' + exc.reason if exc.reason else ''})"
            ) from None
        if info is None:
            await client.close()
            raise NotFound("the token's app is no longer installed")
        client.app_info = info
        return client

    @property
    def installed_app_id(self) -> str:
        assert self.app_info is not None
        return str(self.app_info["installed_app_id"])

    @property
    def agent_pub_key(self) -> AgentPubKey:
        assert self.app_info is not None
        return AgentPubKey(self.app_info["agent_pub_key"])

    async def fetch_app_info(self) -> dict[str, Any] | None:
        info: dict[str, Any] | None = await self.request("app_info")
        if info is not None:
            self.app_info = info
        return info

    def cell_id(self, role_name: str) -> CellId:
        """The cell of a role, or of an enabled clone by its clone id (``role.N``), in the
        cached app info."""
        assert self.app_info is not None
        return cell_of(self.app_info, role_name)

    async def call_zome(
        self,
        zome_name: str,
        fn_name: str,
        payload: Any = None,
        *,
        role_name: str | None = None,
        cell_id: CellId | None = None,
        credentials: SigningCredentials | None = None,
        expires_in_us: int = DEFAULT_EXPIRY_US,
    ) -> Any:
        """Sign and send a zome call; returns the function's decoded result.

        ``payload`` may hold hash objects and cell ids where the zome expects hashes."""
        if cell_id is None:
            if role_name is None:
                raise InvalidInput("give role_name or cell_id")
            cell_id = self.cell_id(role_name)
        creds = credentials or get_signing_credentials(cell_id)
        if creds is None:
            raise NoSigningCredentials(
                f"no signing credentials for cell {cell_id}: call "
                "AdminClient.authorize_signing_credentials first"
            )
        params = ZomeCallParams(
            provenance=creds.provenance,
            cell_id=cell_id,
            zome_name=zome_name,
            fn_name=fn_name,
            cap_secret=creds.cap_secret,
            payload=pack(payload, default=to_wire),
            nonce=new_nonce(),
            expires_at=time.time_ns() // 1000 + expires_in_us,
        )
        data, signature = sign_call(params, creds.key)
        return await self.call_zome_signed(data, signature)

    async def call_zome_signed(self, data: bytes, signature: bytes) -> Any:
        """Send already-signed call bytes as they are (for tests and custom signers)."""
        result = unpack(await self.request("call_zome", {"bytes": data, "signature": signature}))
        return typed(result) if self.typed_hashes else result

    # -- clone cells (issue 19) -------------------------------------------------------------
    async def create_clone_cell(
        self,
        role_name: str,
        *,
        network_seed: str | None = None,
        properties: Any = None,
        name: str | None = None,
        membrane_proof: bytes | None = None,
    ) -> dict[str, Any]:
        """A new cell of ``role_name``'s DNA with other modifiers; returns its ``ClonedCell``."""
        cell: dict[str, Any] = await self.request(
            "create_clone_cell",
            {
                "role_name": role_name,
                "modifiers": {"network_seed": network_seed, "properties": properties},
                "name": name,
                "membrane_proof": membrane_proof,
            },
        )
        return cell

    async def enable_clone_cell(self, clone: str | DnaHash) -> dict[str, Any]:
        cell: dict[str, Any] = await self.request(
            "enable_clone_cell", {"clone_cell_id": clone_ref_to_wire(clone)}
        )
        return cell

    async def disable_clone_cell(self, clone: str | DnaHash) -> None:
        await self.request("disable_clone_cell", {"clone_cell_id": clone_ref_to_wire(clone)})

    # -- deferred membrane proofs ---------------------------------------------------------------
    async def provide_memproofs(self, memproofs: dict[str, bytes]) -> None:
        await self.request("provide_memproofs", memproofs)

    async def enable_app(self) -> None:
        """Start the app after its membrane proofs were provided."""
        await self.request("enable_app")

    # -- signals ------------------------------------------------------------------------------
    def on_signal(self, callback: Callable[[AppSignal], None]) -> Callable[[], None]:
        """Call ``callback`` for every app signal; returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def next_signal(self, timeout: float | None = None) -> AppSignal:
        """The next app signal (buffered; the oldest is dropped past 1024 unread)."""
        return await asyncio.wait_for(self._signals.get(), timeout)

    def _on_signal(self, data: bytes) -> None:
        doc = unpack(data)
        if not isinstance(doc, dict) or doc.get("type") != "app":
            return
        v = doc.get("value") or {}
        payload = unpack(v["signal"])
        if self.typed_hashes:
            payload = typed(payload)
        signal = AppSignal(CellId.from_wire(v["cell_id"]), v["zome_name"], payload)
        if self._signals.full():
            self._signals.get_nowait()
            self.dropped_signals += 1
        self._signals.put_nowait(signal)
        for cb in list(self._callbacks):
            cb(signal)


def cell_of(info: dict[str, Any], role: str) -> CellId:
    """In an app's info (``app_info``, ``list_apps``): the provisioned cell of role
    ``role``, or the enabled clone whose clone id (``role.N``) is ``role``."""
    app_id, cells = info["installed_app_id"], info["cell_info"]
    for cell in cells.get(role, ()):
        if cell.get("type") == "provisioned":
            return CellId.from_wire(cell["value"]["cell_id"])
    cloned = [c["value"] for cs in cells.values() for c in cs if c.get("type") == "cloned"]
    for value in cloned:
        if value.get("clone_id") == role:
            if not value.get("enabled", True):
                raise NotFound(f"clone {shown(role)} of app {shown(app_id)} is disabled")
            return CellId.from_wire(value["cell_id"])
    clones = [value["clone_id"] for value in cloned]
    raise NotFound(
        f"app {shown(app_id)} has no role or clone {shown(role)} "
        f"(roles: {', '.join(cells) or 'none'}"
        + (f"; clones: {', '.join(clones)})" if clones else ")")
    )
