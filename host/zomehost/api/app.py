"""The app interface's requests and signed zome calls (docs/conductor-api.md §6, §7).

A connection is bound to the one app its token was issued for: it sees that app's info,
calls only that app's cells and receives only that app's signals.

``call_zome`` runs in Holochain's order: decode the signed bytes (never re-encoded), verify
the Ed25519 signature over SHA-512 of *those* bytes, check the cell is a running cell of this
app, check expiry and replay in the cell's nonce window (shared with the peer protocol),
then the capability rule and the call (``Conductor.call_zome``). A call of a function known
to be a fast read runs on the event loop itself (core/on_loop.py: no hand-over to a thread
and back); if it turns out to need a worker, it stops before acting and runs again there,
checks not repeated. Every other call runs on a worker thread, which writes the answer
itself (``AppConnection.answer_from_worker``): no hop back to the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from zomehost.api import peers, views
from zomehost.api.admission import CallAdmission
from zomehost.api.connection import AppAccess, AppConnection
from zomehost.api.registry import Runtime
from zomehost.conductor.app import AppStatus
from zomehost.conductor.conductor import Cell
from zomehost.core import on_loop
from zomehost.core.api_wire import (
    AUTH_FAILED,
    UNAUTHORIZED,
    UNIT,
    ApiError,
    as_bytes,
    clone_ref_from_wire,
    decode_request,
    deserialization,
    encode_response,
    field,
    hash_from_wire,
    internal,
    payload_map,
)
from zomehost.core.codec import pack
from zomehost.core.hash import DnaHash, HashType
from zomehost.core.zome_call import ZomeCall, ZomeCallParams, check_signature
from zomehost.errors import AppNotFound, AuthenticationFailed, BadNonce, Unauthorized, ZomehostError

log = logging.getLogger("zomehost.api.app")
Handler = Callable[[AppConnection, Any], Awaitable[tuple[str, Any]]]
# After a call of a function had to move off the loop: how many of its next calls the loop
# could run start on workers instead (doubled after each further move, this many times at
# most: then ~100 000 calls between tries).
OFF_LOOP_CALLS = 100
OFF_LOOP_DOUBLINGS = 10

# App requests Holochain has and zomehost does not implement: `internal_error`, not
# `deserialization`. Countersigning needs a DHT (the session's counterparties find each
# other's signatures through it; docs/conductor-api.md §6.2).
UNSUPPORTED = frozenset(
    {
        "get_countersigning_session_state",
        "abandon_countersigning_session",
        "publish_countersigning_session",
        "get_agent_activity",
        "list_wasm_host_functions",
        "get_agent_key_lineage",
    }
)


def _what(params: ZomeCallParams) -> str:
    """The end of Holochain's unauthorized-call message (built only when one is sent)."""
    return (
        f"cap secret {'present' if params.cap_secret else 'none'} to call the function "
        f"{params.fn_name} in zome {params.zome_name}"
    )


def _signed_call(value: Any) -> tuple[ZomeCallParams, bytes, bytes]:
    """A ``call_zome`` request's signed bytes (never re-encoded), decoded, and signature."""
    doc = payload_map(value)
    data = doc.get("bytes")
    if not isinstance(data, bytes):
        raise deserialization()
    signature = as_bytes(doc.get("signature"), 64)
    try:
        params = ZomeCallParams.decode(data)
    except ZomehostError as exc:
        raise internal(f"the zome call bytes do not decode: {exc.message}") from None
    return params, data, signature


class _Call:
    """A client's zome call between its decoding on the loop and its worker."""

    __slots__ = ("checked", "conn", "params", "rid", "signature", "signed")

    def __init__(
        self, conn: AppConnection, rid: int, params: ZomeCallParams, signed: bytes, sig: bytes
    ) -> None:
        self.conn = conn
        self.rid = rid
        self.params = params
        self.signed = signed
        self.signature = sig
        self.checked = False  # its signature, app and nonce were checked (on the loop)


class AppApi:
    def __init__(self, runtime: Runtime, admission: CallAdmission) -> None:
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.admission = admission
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the calls arrive on
        self._loop_thread = 0
        # functions (by module) a call of had to move off the loop: how many more of their
        # calls start on workers before one may try the loop again, and how often they moved
        self._off_loop: dict[tuple[bytes, str], int] = {}
        self._moves: dict[tuple[bytes, str], int] = {}
        self._off_loop_lock = threading.Lock()  # counted down from workers too (submit_call)
        self.handlers: dict[str, Handler] = {
            "app_info": self.app_info,
            "create_clone_cell": self.create_clone_cell,
            "enable_clone_cell": self.enable_clone_cell,
            "disable_clone_cell": self.disable_clone_cell,
            "provide_memproofs": self.provide_memproofs,
            "enable_app": self.enable_app,
            "agent_info": self.agent_info,
            "peer_meta_info": self.peer_meta_info,
            "dump_network_stats": self.dump_network_stats,
            "dump_network_metrics": self.dump_network_metrics,
        }

    async def handle(self, conn: AppConnection, tag: str, value: Any) -> tuple[str, Any]:
        handler = self.handlers.get(tag)
        if handler is None:
            if tag in UNSUPPORTED:
                raise internal(f"{tag} is not supported by zomehost")
            raise deserialization()
        return await handler(conn, value)

    async def app_info(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        return "app_info", await self.runtime.in_worker(self._app_info, conn.app_id)

    def take_call(self, conn: AppConnection, rid: int, data: bytes | None) -> bool:
        """On the loop: take a ``call_zome`` request off the general path. With its
        admission slots free, it runs at once: here if it is a fast read
        (:meth:`_serve_on_loop`), else on a worker (:meth:`_serve_call`), which verifies,
        runs and answers it. Behind a busy cell it waits in the cell's line, and whoever
        frees a slot hands it on (:meth:`submit_call`); behind its own connection's calls
        it waits in a task."""
        try:
            tag, value = decode_request(data)
        except ApiError:
            return False  # the general path answers it
        if tag != "call_zome":
            return False
        try:
            params, signed, signature = _signed_call(value)
        except Exception as exc:
            conn.spawn(self._refuse(conn, rid, exc))
            return True
        if self._loop is None:
            self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        call = _Call(conn, rid, params, signed, signature)
        admitted = self.admission.enter_or_queue(conn.call_slots, params.cell_id.key, call)
        if admitted:
            cell = self._loop_runs(call)
            if cell is not None:
                self._serve_on_loop(call, cell)
            else:
                self._to_worker(call)
        elif admitted is None:
            conn.spawn(self._admit(call))
        return True

    async def _refuse(self, conn: AppConnection, rid: int, exc: Exception) -> None:
        try:
            await conn.deliver(conn.error_frame(rid, "call_zome", exc))
        finally:
            conn.in_flight.give()

    async def _admit(self, call: _Call) -> None:
        """Wait for the call's admission slots on the loop, holding no thread."""
        try:
            await self.admission.enter(call.conn.call_slots, call.params.cell_id.key)
        except BaseException:
            call.conn.in_flight.give()
            raise
        self.submit_call(call)

    def _loop_runs(self, call: _Call) -> Cell | None:
        """The call's cell, if the loop may run this call: a small call of a function its
        cell knows as a fast read, and that is not off the loop (in any cell running its
        zome's module) after a call of it had to move: those count down their calls on
        workers (:meth:`_moved_off`)."""
        params = call.params
        if not self.admission.limits.reads_on_loop or len(call.signed) > on_loop.MAX_BYTES:
            return None
        cell = self.conductor.open_cell(params.cell_id)
        if cell is None or not cell.combiner.runs_on_loop((params.zome_name, params.fn_name)):
            return None
        key = self._module_fn(cell, params)
        with self._off_loop_lock:
            left = self._off_loop.get(key)
            if left is None:
                return cell
            if left > 1:
                self._off_loop[key] = left - 1
            else:
                del self._off_loop[key]
        return None

    def _moved_off(self, key: tuple[bytes, str]) -> int:
        """A call of this function had to move off the loop: its next calls that the loop
        could run start on workers, :data:`OFF_LOOP_CALLS` of them, twice as many after
        each move (so a function that reads nearly always, such as get-or-create, comes
        back to the loop, and one that keeps moving costs the loop ever more rarely)."""
        with self._off_loop_lock:
            moves = self._moves.get(key, 0) + 1
            self._moves[key] = moves
            calls = OFF_LOOP_CALLS << min(moves - 1, OFF_LOOP_DOUBLINGS)
            self._off_loop[key] = calls
        return calls

    @staticmethod
    def _module_fn(cell: Cell, params: ZomeCallParams) -> tuple[bytes, str]:
        """A function by its zome's module: what cells running the same wasm share (a
        clone, another app with the same zome)."""
        return cell.zome(params.zome_name)[1].wasm_hash.raw, params.fn_name

    def submit_call(self, call: _Call) -> None:
        """A call that got its admission slots after waiting for them (from any thread: a
        slot given back hands it on): to the loop if it may run there, in a callback of its
        own, else to a worker."""
        cell = self._loop_runs(call)
        loop = self._loop
        if cell is not None and loop is not None:
            try:
                if threading.get_ident() == self._loop_thread:
                    loop.call_soon(self._serve_on_loop, call, cell)
                else:
                    loop.call_soon_threadsafe(self._serve_on_loop, call, cell)
                return
            except RuntimeError:  # the loop is closed: a worker says so
                pass
        self._to_worker(call)

    def _to_worker(self, call: _Call) -> None:
        """To the worker pool (:meth:`_serve_call`); if it is shut down, the slots go back."""
        try:
            self.runtime.submit(self._serve_call, call)
        except RuntimeError:  # the worker pool is shut down
            self.admission.leave(call.conn.call_slots, call.params.cell_id.key)
            call.conn.in_flight.give()

    def _serve_on_loop(self, call: _Call, cell: Cell) -> None:
        """On the loop: the call as an attempt (core/on_loop.py); if it has to move, to a
        worker (its checks done), and its function's next calls start on workers, in
        every cell that runs its module."""
        conn, rid, params = call.conn, call.rid, call.params
        cpu = time.thread_time()
        with on_loop.attempt() as attempt:
            try:
                if not call.checked:
                    self._check(conn, params, call.signed, call.signature)
                    call.checked = True
                frame = encode_response(rid, "zome_called", self._run(params))
            except Exception as exc:
                frame = b"" if attempt.moved else conn.error_frame(rid, "call_zome", exc)
        if attempt.moved:
            name = f"{params.zome_name}.{params.fn_name}"
            if not attempt.late or time.thread_time() - cpu >= on_loop.BUDGET_S / 2:
                calls = self._moved_off(self._module_fn(cell, params))
                log.info(
                    "%s runs on workers for its next %d calls: %s on the event loop",
                    name,
                    calls,
                    attempt.why,
                )
            else:  # late, not for its own work (the loop's thread waited): this call only
                log.debug("a call of %s moves to a worker: %s", name, attempt.why)
            self._to_worker(call)
            return
        self.admission.leave(conn.call_slots, params.cell_id.key)
        conn.answer_from_worker(frame)

    def _serve_call(self, call: _Call) -> None:
        """On a worker: the call, its admission slots given back, its answer written."""
        conn, rid, params = call.conn, call.rid, call.params
        try:
            try:
                if not call.checked:
                    self._check(conn, params, call.signed, call.signature)
                result = self._run(params)
            finally:
                self.admission.leave(conn.call_slots, params.cell_id.key)
            frame = encode_response(rid, "zome_called", result)
        except Exception as exc:
            frame = conn.error_frame(rid, "call_zome", exc)
        conn.answer_from_worker(frame)

    # -- clone cells (of the connection's app) --------------------------------------------------
    async def create_clone_cell(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        role = field(doc, "role_name", str)
        modifiers = payload_map(doc.get("modifiers"), optional=True)
        seed = field(modifiers, "network_seed", str, required=False)
        properties = modifiers.get("properties")
        name = field(doc, "name", str, required=False)
        proof = doc.get("membrane_proof")
        proof = None if proof is None else as_bytes(proof)

        def create() -> Any:
            c = self.conductor
            clone = c.create_clone_cell(conn.app_id, role, seed, properties, name, proof)
            return views.cloned_cell(c.get_app(conn.app_id), clone)

        cell = await self.runtime.in_worker(create)
        log.info("created clone cell %s of app %s", cell["clone_id"], conn.app_id)
        return "clone_cell_created", cell

    async def enable_clone_cell(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        ref = clone_ref_from_wire(payload_map(value).get("clone_cell_id"))

        def enable() -> Any:
            c = self.conductor
            clone = c.set_clone_enabled(conn.app_id, ref, True)
            return views.cloned_cell(c.get_app(conn.app_id), clone)

        return "clone_cell_enabled", await self.runtime.in_worker(enable)

    async def disable_clone_cell(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        ref = clone_ref_from_wire(payload_map(value).get("clone_cell_id"))
        await self.runtime.in_worker(self.conductor.set_clone_enabled, conn.app_id, ref, False)
        return "clone_cell_disabled", UNIT

    # -- deferred membrane proofs ---------------------------------------------------------------
    async def provide_memproofs(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        proofs = {str(role): as_bytes(p) for role, p in payload_map(value).items()}

        def provide() -> None:
            self.conductor.provide_memproofs(conn.app_id, proofs)
            views.set_disabled_reason(self.conductor, conn.app_id, views.AFTER_MEMPROOFS)

        await self.runtime.in_worker(provide)
        log.info("membrane proofs provided for app %s", conn.app_id)
        return "ok", UNIT

    async def enable_app(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        """Only an app that got its proofs and was never started (Holochain's rule)."""

        def enable() -> None:
            c = self.conductor
            app = c.get_app(conn.app_id)
            if app.status is AppStatus.ENABLED:
                return
            reason = views.app_status(c, app).get("value")
            if reason != {"type": views.AFTER_MEMPROOFS}:
                raise internal(
                    f"app {conn.app_id!r} can be enabled from the app interface only after "
                    "its membrane proofs were provided"
                )
            views.enable_app(c, conn.app_id)

        await self.runtime.in_worker(enable)
        return "ok", UNIT

    # -- network views, limited to the app's DNAs -----------------------------------------------
    async def _app_dnas(self, conn: AppConnection) -> set[DnaHash]:
        def dnas() -> set[DnaHash]:
            app = self.conductor.get_app(conn.app_id)
            return {c.dna_hash for c in views.all_cell_ids(app)}

        return await self.runtime.in_worker(dnas)

    async def agent_info(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        mine = await self._app_dnas(conn)
        asked = peers.dna_filter(payload_map(value, optional=True).get("dna_hashes"))
        dnas = mine if asked is None else mine & asked
        return "agent_info", peers.agent_infos(self.runtime.agent_directory, dnas)

    async def peer_meta_info(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        url = field(doc, "url", str)
        mine = await self._app_dnas(conn)
        asked = peers.dna_filter(doc.get("dna_hashes"))
        dnas = mine if asked is None else mine & asked
        return "peer_meta_info", peers.peer_meta_info(self.runtime.agent_directory, url, dnas)

    async def dump_network_stats(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        return "network_stats_dumped", peers.network_stats(self.runtime.peer_network)

    async def dump_network_metrics(self, conn: AppConnection, value: Any) -> tuple[str, Any]:
        doc = payload_map(value, optional=True)
        field(doc, "include_dht_summary", bool, required=False)
        mine = await self._app_dnas(conn)
        dna = doc.get("dna_hash")
        dnas = mine if dna is None else mine & {DnaHash(hash_from_wire(dna, HashType.DNA))}
        cells = await self.runtime.in_worker(self.conductor.running_cells)
        local = [(c.dna_hash, c.agent) for c in cells]
        metrics = peers.network_metrics(self.runtime.agent_directory, local, dnas)
        return "network_metrics_dumped", metrics

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

    def _check(
        self, conn: AppConnection, params: ZomeCallParams, data: bytes, signature: bytes
    ) -> None:
        """Signature, app and cell, expiry and replay: once per call."""
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

    def _run(self, params: ZomeCallParams) -> bytes:
        """The checked call: the capability rule, the function, its packed value."""
        try:
            value = self.conductor.call_zome(ZomeCall.from_params(params))
        except Unauthorized as exc:
            raise ApiError(
                UNAUTHORIZED,
                f"Call was not authorized with reason BadCapGrant, {_what(params)}: {exc.message}",
            ) from None
        return pack(value)
