"""The app interface's requests and signed zome calls (docs/conductor-api.md §6, §7).

A connection is bound to the one app its token was issued for: it sees that app's info,
calls only that app's cells and receives only that app's signals.

``call_zome`` runs on a worker thread, in Holochain's order: decode the signed bytes (never
re-encoded), verify the Ed25519 signature over SHA-512 of *those* bytes, check the cell is a
running cell of this app, check expiry and replay in the cell's nonce window (shared with
the peer protocol), then the capability rule and the call (``Conductor.call_zome``).
"""

from __future__ import annotations

import logging
from typing import Any

from zomehost.api import views
from zomehost.api.admission import CallAdmission
from zomehost.api.connection import AppAccess, AppConnection
from zomehost.api.registry import Runtime
from zomehost.conductor.app import AppStatus
from zomehost.core.api_wire import (
    AUTH_FAILED,
    UNAUTHORIZED,
    ApiError,
    as_bytes,
    deserialization,
    internal,
    payload_map,
)
from zomehost.core.codec import pack
from zomehost.core.zome_call import ZomeCall, ZomeCallParams, check_signature
from zomehost.errors import AppNotFound, AuthenticationFailed, BadNonce, Unauthorized, ZomehostError

log = logging.getLogger("zomehost.api.app")

UNSUPPORTED = frozenset(
    {
        "create_clone_cell",
        "disable_clone_cell",
        "enable_clone_cell",
        "provide_memproofs",
        "enable_app",
        "dump_network_stats",
        "dump_network_metrics",
        "get_agent_activity",
        "list_wasm_host_functions",
        "agent_info",
        "peer_meta_info",
        "get_agent_key_lineage",
    }
)


def _what(params: ZomeCallParams) -> str:
    """The end of Holochain's unauthorized-call message (built only when one is sent)."""
    return (
        f"cap secret {'present' if params.cap_secret else 'none'} to call the function "
        f"{params.fn_name} in zome {params.zome_name}"
    )


class AppApi:
    def __init__(self, runtime: Runtime, admission: CallAdmission) -> None:
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.admission = admission

    async def handle(self, conn: AppConnection, tag: str, value: Any) -> tuple[str, Any]:
        if tag == "app_info":
            return "app_info", await self.runtime.in_worker(self._app_info, conn.app_id)
        if tag == "call_zome":
            doc = payload_map(value)
            data = doc.get("bytes")
            if not isinstance(data, bytes):
                raise deserialization()
            signature = as_bytes(doc.get("signature"), 64)
            try:
                params = ZomeCallParams.decode(data)
            except ZomehostError as exc:
                raise internal(f"the zome call bytes do not decode: {exc.message}") from None
            async with self.admission.slot(conn.call_slots, params.cell_id.key):
                result = await self.runtime.in_worker(self._call, conn, params, data, signature)
            return "zome_called", result
        if tag in UNSUPPORTED:
            raise internal(f"{tag} is not supported by zomehost")
        raise deserialization()

    def _app_info(self, app_id: str) -> Any:
        try:
            app = self.conductor.get_app(app_id)
        except AppNotFound:
            return None
        return views.app_info(self.conductor, app)

    def _app_of(self, conn: AppConnection) -> AppAccess | None:
        """The connection's app as last stored; re-read only after an app changed."""
        version = self.conductor.apps_version  # read first: a change after it shows next time
        cached = conn.app_access
        if cached is None or cached.version != version:
            try:
                app = self.conductor.get_app(conn.app_id)
            except AppNotFound:
                cached = AppAccess(version, frozenset(), False, False)
            else:
                keys = frozenset(c.key for c in app.cell_ids)
                cached = AppAccess(version, keys, True, app.status is AppStatus.ENABLED)
            conn.app_access = cached
        return cached if cached.installed else None

    def _call(
        self, conn: AppConnection, params: ZomeCallParams, data: bytes, signature: bytes
    ) -> bytes:
        try:
            check_signature(params, data, signature)
        except AuthenticationFailed:
            raise ApiError(
                AUTH_FAILED,
                f"Authentication failure. Bad signature {signature.hex()} by provenance "
                f"{params.provenance}.",
            ) from None
        cell_id = params.cell_id
        app = self._app_of(conn)
        if app is None:
            raise internal(f"app {conn.app_id!r} is no longer installed")
        if cell_id.key not in app.cell_keys:
            raise internal(f"cell {cell_id} is not a cell of app {conn.app_id!r}")
        if not app.enabled:
            raise internal(f"cell {cell_id} is not running: app {conn.app_id!r} is disabled")
        try:
            self.conductor.check_replay(params)
        except BadNonce as exc:
            raise ApiError(
                UNAUTHORIZED,
                f'Call was not authorized with reason BadNonce("{exc.problem.value}"), '
                f"{_what(params)}",
            ) from None
        try:
            value = self.conductor.call_zome(ZomeCall.from_params(params))
        except Unauthorized as exc:
            raise ApiError(
                UNAUTHORIZED,
                f"Call was not authorized with reason BadCapGrant, {_what(params)}: {exc.message}",
            ) from None
        return pack(value)
