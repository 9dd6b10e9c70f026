"""The conductor's peer service: remote calls and remote signals between conductors.

It sits between the conductor and the network layer (Holochain's ``holochain_p2p``): the
network knows connections, sessions and signed agent infos; this service knows which of
them are our cells, turns ``call_remote`` into signed requests and runs the requests peers
send through the same call pipeline as a client call.

:func:`start_peer_service` wires a :class:`PeerService` into a running conductor:

* a :class:`~zomehost.network.transport.Transport` listening on ``network.listen``, with the
  conductor's own transport identity (``transport.key`` in the home, 0600);
* a :class:`~zomehost.network.directory.Directory` of verified agent infos, filled from the
  local cells (signed by each agent), the static ``peers`` list, a bootstrap service, and
  what connected peers send (every connection starts with an exchange);
* the conductor hooks ``remote_caller`` / ``remote_signaller``, which host functions call
  on worker threads. Over an open connection the calling thread signs, encrypts and sends
  the call itself and waits for the answer, which the loop hands it; otherwise (first call,
  lookup, dial) it hands a coroutine to the loop and waits (it never runs the loop);
* the callee side: the loop hands a call straight to the service's own worker pool, where
  it is authenticated (signature, then expiry and replay in the cell's one nonce window,
  shared with the app interface), run by ``conductor.respond`` (which authorizes) and
  answered from the worker. Calls coming back (A → B → A) never wait for a thread that is
  blocked on them; the call depth travels in each request.

Every outcome is a :class:`~zomehost.core.response.ZomeCallResponse`. Config
(``network:`` in conductor-config.yaml) is documented in docs/network.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import nacl.signing

from zomehost.conductor.conductor import Conductor
from zomehost.core.clock import now_micros
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.response import ZomeCallResponse
from zomehost.core.zome_call import (
    DEFAULT_EXPIRY_US,
    ZomeCall,
    ZomeCallParams,
    new_nonce,
    sign_call,
    verify_call,
)
from zomehost.errors import (
    AppNotEnabled,
    AuthenticationFailed,
    LimitExceeded,
    NotFound,
)
from zomehost.network import protocol
from zomehost.network.agent_info import AgentInfo, SignedAgentInfo, parse_address
from zomehost.network.bootstrap import BootstrapClient
from zomehost.network.config import NetworkConfig, listen_parts, load_transport_key
from zomehost.network.directory import Directory
from zomehost.network.errors import AgentInfoError, PeerUnreachable, ProtocolError
from zomehost.network.transport import Connection, Transport, short_id
from zomehost.p2p.slots import Slots

if TYPE_CHECKING:
    from zomehost.ribosome.context import CallContext

log = logging.getLogger("zomehost.p2p")
T = TypeVar("T")

MAX_GOSSIP = 500
SIGNAL_TIMEOUT_S = 10.0
BOOTSTRAP_LOOKUP_TIMEOUT_S = 3.0
BOOTSTRAP_REPUBLISH_S = 60.0
_LOOP_MARGIN_S = 2.0


class Runtime(Protocol):
    """What the peer service needs from the process that runs it."""

    conductor: Conductor
    loop: asyncio.AbstractEventLoop | None

    async def in_worker(self, fn: Callable[..., T], *args: Any) -> T: ...

    def run_on_loop(self, coro: Awaitable[T], timeout: float) -> T: ...

    def publish_endpoint(self, name: str, value: Any) -> None: ...


# -- the node -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A remote call a zome makes: what gets signed, by whom, for which agent."""

    key: nacl.signing.SigningKey
    caller: CellId
    agent: AgentPubKey
    zome: str
    fn: str
    secret: bytes | None
    payload: bytes
    depth: int

    def body(self, remaining: float) -> dict[str, Any]:
        """The request: ``ZomeCallParams`` signed by the calling agent, as a client signs."""
        params = ZomeCallParams(
            provenance=self.caller.agent,
            cell_id=CellId(self.caller.dna_hash, self.agent),
            zome_name=self.zome,
            fn_name=self.fn,
            cap_secret=self.secret,
            payload=self.payload,
            nonce=new_nonce(),
            expires_at=now_micros() + int(remaining * 1_000_000) + DEFAULT_EXPIRY_US,
        )
        data, signature = sign_call(params, self.key)
        return {
            "params": data,
            "signature": signature,
            "timeout_ms": max(1, int(remaining * 1000)),
            "depth": self.depth,
        }


class PeerService:
    def __init__(
        self, runtime: Runtime, config: NetworkConfig, key: nacl.signing.SigningKey
    ) -> None:
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.config = config
        self.directory = Directory()
        self.transport = Transport(
            key,
            on_request=self._on_request,
            on_message=self._on_message,
            on_connected=self._on_connected,
            take_request=self._take_request,
            prologue=config.network_id.encode(),
            max_frame_size=config.max_frame_bytes,
        )
        self.bootstrap = BootstrapClient(config.bootstrap_url) if config.bootstrap_url else None
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.inbound_workers, thread_name_prefix="zome-remote"
        )
        self._slots = Slots(config.inbound_workers * 4)
        self.address: str = ""  # what our agent infos advertise
        self.listen_address: str = ""  # where the transport actually listens
        self._local: dict[bytes, SignedAgentInfo] = {}  # cell key -> our own signed info
        self._static: dict[str, Connection | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._bootstrap_task: asyncio.Task[None] | None = None
        self._unpublished: dict[bytes, SignedAgentInfo] = {}  # not yet on the bootstrap
        self._last_full_put = 0.0
        self._stopped = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self.runtime.loop is not None
        return self.runtime.loop

    @property
    def identity(self) -> bytes:
        return self.transport.identity

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        host, port = listen_parts(self.config.listen)
        self.listen_address = await self.transport.listen(host, port)
        self.address = self.config.advertise or self.listen_address
        for entry in self.config.peers:
            self._add_static_peer(entry)
        await self._refresh()
        self._refresher = self.loop.create_task(self._refresh_loop())
        self.conductor.remote_caller = self.remote_call
        self.conductor.remote_signaller = self.remote_signal
        log.info("network node %s listening on %s", short_id(self.identity), self.address)

    async def stop(self) -> None:
        self._stopped = True
        self.conductor.remote_caller = None
        self.conductor.remote_signaller = None
        for task in (self._refresher, self._bootstrap_task):
            if task is not None:
                task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.transport.stop()
        # Running inbound calls end by their own deadlines; wait for them off the loop.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.to_thread(self.executor.shutdown, True, cancel_futures=True),
                self.conductor.config.limits.timeout_ms / 1000 + 5,
            )

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- peers and agent infos ------------------------------------------------------------
    def _add_static_peer(self, entry: Any) -> None:
        if isinstance(entry, str):
            entry = {"address": entry}
        if not isinstance(entry, dict):
            log.warning("network.peers: ignoring entry %r (need {address} or {agent_info})", entry)
            return
        if entry.get("agent_info"):
            try:
                record = SignedAgentInfo.from_text(str(entry["agent_info"]))
            except AgentInfoError as exc:
                log.warning("network.peers: agent info ignored: %s", exc.message)
                return
            self.directory.put(record)
            self._static.setdefault(record.info.address, None)
        elif entry.get("address"):
            address = str(entry["address"])
            try:
                parse_address(address)
            except AgentInfoError as exc:
                log.warning("network.peers: %s", exc.message)
                return
            self._static.setdefault(address, None)
        else:
            log.warning("network.peers: ignoring entry without address or agent_info")

    def _on_connected(self, conn: Connection) -> None:
        self._spawn(self._send_infos(conn, self.directory.all(limit=MAX_GOSSIP)))

    async def _send_infos(self, conn: Connection, records: list[SignedAgentInfo]) -> None:
        if not records:
            return
        with contextlib.suppress(PeerUnreachable):
            await conn.send_message(protocol.OP_AGENT_INFOS, [r.to_wire() for r in records])

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.refresh_interval_s)
            try:
                await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("network refresh failed")

    async def _refresh(self) -> None:
        """Publish our cells' infos, dial static peers, talk to the bootstrap (in the back)."""
        new = await self._publish_local()
        if new:
            for conn in self.transport.connections:
                self._spawn(self._send_infos(conn, new))
            for record in new:
                self._unpublished[_cell_key(record.info)] = record
        for address, static in list(self._static.items()):
            if static is None or static.closed:
                self._spawn(self._dial_static(address))
        self.directory.prune()
        if self.bootstrap is not None and (
            self._bootstrap_task is None or self._bootstrap_task.done()
        ):
            self._bootstrap_task = self.loop.create_task(self._bootstrap_round(self.bootstrap))

    async def _bootstrap_round(self, bootstrap: BootstrapClient) -> None:
        """Publish what the bootstrap has not got yet; fetch the peers of our DNAs."""
        if self.loop.time() - self._last_full_put > BOOTSTRAP_REPUBLISH_S:
            # The service keeps records in memory only: refill it after a restart of its own.
            self._unpublished.update(self._local)
            self._last_full_put = self.loop.time()
        pending = list(self._unpublished.values())
        if pending:
            try:
                await bootstrap.put(pending)
            except PeerUnreachable as exc:
                log.info("bootstrap publish failed (will retry): %s", exc)
                return
            for record in pending:
                key = _cell_key(record.info)
                if self._unpublished.get(key) is record:
                    del self._unpublished[key]
        for dna in {r.info.dna_hash.raw for r in self._local.values()}:
            try:
                found = await bootstrap.lookup(DnaHash(dna), known=self.directory.known)
            except PeerUnreachable as exc:
                log.info("bootstrap lookup failed: %s", exc)
                return
            for record in found:
                self.directory.put(record)

    async def _dial_static(self, address: str) -> None:
        if address == self.address:
            return
        try:
            conn = await self.transport.connect(address)
        except PeerUnreachable as exc:
            log.debug("static peer %s: %s", address, exc)
            return
        if conn.remote_identity == self.identity:
            conn.close("connected to ourselves")
            self._static.pop(address, None)
            return
        self._static[address] = conn

    async def _publish_local(self) -> list[SignedAgentInfo]:
        """Sign an info for each enabled cell that has none, or one past half its life."""
        cells = await self.runtime.in_worker(self.conductor.running_cells)
        now = now_micros()
        half_life = self.config.agent_info_ttl_s * 500_000
        live = {c.key for c in cells}
        for key in [k for k in self._local if k not in live]:
            record = self._local.pop(key)
            self._unpublished.pop(key, None)
            self.directory.remove(record.info.dna_hash, record.info.agent)
        new: list[SignedAgentInfo] = []
        for cell in cells:
            old = self._local.get(cell.key)
            if (
                old is not None
                and old.info.address == self.address
                and (now - old.info.signed_at < half_life)
            ):
                continue
            try:
                signer = self.conductor.keystore.signing_key(cell.agent)
            except NotFound:
                continue
            record = AgentInfo.create(
                signer,
                cell.dna_hash,
                self.address,
                self.identity,
                ttl_s=self.config.agent_info_ttl_s,
                now=now,
            )
            self._local[cell.key] = record
            self.directory.put(record)
            new.append(record)
        return new

    async def _resolve(
        self, dna: DnaHash, agent: AgentPubKey, deadline: float, *, refresh: bool = False
    ) -> SignedAgentInfo | None:
        record = None if refresh else self.directory.get(dna, agent)
        if record is not None or self.bootstrap is None:
            return record
        budget = min(deadline - self.loop.time(), BOOTSTRAP_LOOKUP_TIMEOUT_S)
        if budget <= 0:
            return self.directory.get(dna, agent)
        try:
            for found in await self.bootstrap.lookup(
                dna, timeout=budget, known=self.directory.known
            ):
                self.directory.put(found)
        except PeerUnreachable as exc:
            log.info("bootstrap lookup failed: %s", exc)
        return self.directory.get(dna, agent)

    async def _connect_agent(
        self, dna: DnaHash, agent: AgentPubKey, deadline: float
    ) -> Connection | ZomeCallResponse:
        record = await self._resolve(dna, agent, deadline)
        if record is None:
            return ZomeCallResponse.network_error(
                f"agent {agent} is unknown in DNA {dna}: no agent info for it"
            )
        if record.info.transport_id == self.identity:
            return ZomeCallResponse.network_error(
                f"agent {agent} is not running DNA {dna} on this conductor"
            )
        try:
            return await self._connect(record, deadline)
        except PeerUnreachable as first:
            # The info may be stale (the peer moved): ask for a newer one, try once more.
            newer = await self._resolve(dna, agent, deadline, refresh=True)
            if newer is None or newer.info.signed_at <= record.info.signed_at:
                return ZomeCallResponse.network_error(f"agent {agent} is unreachable: {first}")
            try:
                return await self._connect(newer, deadline)
            except PeerUnreachable as exc:
                return ZomeCallResponse.network_error(f"agent {agent} is unreachable: {exc}")

    async def _connect(self, record: SignedAgentInfo, deadline: float) -> Connection:
        budget = deadline - self.loop.time()
        if budget <= 0:
            raise PeerUnreachable("timed out before a connection was made")
        try:
            return await asyncio.wait_for(
                self.transport.connect(record.info.address, record.info.transport_id), budget
            )
        except TimeoutError:
            raise PeerUnreachable("timed out connecting") from None

    # -- the caller side (worker threads) -------------------------------------------------
    def remote_call(
        self,
        ctx: CallContext,
        agent: AgentPubKey,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
        timeout_ms: int | None,
    ) -> ZomeCallResponse:
        """``conductor.remote_caller``, on the guest's worker thread.

        The wait ends before the calling function's own deadline, with time left for it to
        handle ``NetworkError("… timed out …")``: a peer that stops answering is a value the
        zome sees, never a trap of the whole call.
        """
        depth = ctx.depth + 1
        if depth > ctx.limits.max_call_depth:
            raise LimitExceeded(
                f"call depth limit of {ctx.limits.max_call_depth} reached calling {zome}.{fn} "
                f"on agent {agent}: runaway recursion across conductors?"
            )
        left = ctx.deadline - time.monotonic()
        timeout = min((timeout_ms or self.config.call_timeout_ms) / 1000, left - _margin(left))
        if timeout <= 0:
            return ZomeCallResponse.network_error(
                "timed out: the calling zome function has no time left for a remote call"
            )
        try:
            key = self.conductor.keystore.signing_key(ctx.cell.agent)
        except NotFound as exc:
            return ZomeCallResponse.network_error(exc.message)
        out = OutgoingCall(key, ctx.cell, agent, zome, fn, secret, payload, depth)
        conn = self._open_connection(ctx.cell.dna_hash, agent)
        if conn is not None:
            return self._call_now(conn, out, timeout)
        coro = self.call(out, timeout)
        try:
            return self.runtime.run_on_loop(coro, timeout + _LOOP_MARGIN_S)
        except concurrent.futures.TimeoutError:
            return _timed_out(agent, timeout)
        except (RuntimeError, concurrent.futures.CancelledError) as exc:
            return ZomeCallResponse.network_error(f"the network is shutting down: {exc}")

    def _open_connection(self, dna: DnaHash, agent: AgentPubKey) -> Connection | None:
        """From a worker thread: the usable connection to ``agent``'s conductor, if open."""
        record = None if self._stopped else self.directory.peek(dna, agent)
        return None if record is None else self.transport.connection_for(record.info.transport_id)

    def _call_now(self, conn: Connection, out: OutgoingCall, timeout: float) -> ZomeCallResponse:
        """On the worker thread: sign, send and wait, without a hop to the loop."""
        try:
            rid, fut = conn.request_threadsafe(protocol.OP_CALL, out.body(timeout))
        except PeerUnreachable as exc:
            return _failed(out.agent, exc)
        try:
            answer = fut.result(timeout)
        except TimeoutError:
            return _timed_out(out.agent, timeout)
        except PeerUnreachable as exc:
            return _failed(out.agent, exc)
        finally:
            conn.forget(rid)
        return _answer_from(out.agent, answer)

    async def call(self, out: OutgoingCall, timeout: float) -> ZomeCallResponse:
        """On the loop: find, dial and call ``out.agent``'s conductor."""
        if self._stopped:
            return ZomeCallResponse.network_error("the network is stopped")
        started = self.loop.time()
        deadline = started + timeout
        conn = await self._connect_agent(out.caller.dna_hash, out.agent, deadline)
        if isinstance(conn, ZomeCallResponse):
            return conn
        remaining = deadline - self.loop.time()
        try:
            answer = await conn.request(protocol.OP_CALL, out.body(remaining), remaining)
        except TimeoutError:
            return _timed_out(out.agent, timeout)
        except PeerUnreachable as exc:
            return _failed(out.agent, exc)
        log.debug(
            "remote call %s.%s on %s took %.1f ms",
            out.zome,
            out.fn,
            out.agent,
            (self.loop.time() - started) * 1000,
        )
        return _answer_from(out.agent, answer)

    def remote_signal(self, ctx: CallContext, agents: list[AgentPubKey], payload: bytes) -> None:
        """``conductor.remote_signaller``: sign one message per agent, send without waiting."""
        try:
            key = self.conductor.keystore.signing_key(ctx.cell.agent)
        except NotFound:
            return
        messages = []
        for agent in agents:
            params = ZomeCallParams(
                provenance=ctx.cell.agent,
                cell_id=CellId(ctx.cell.dna_hash, agent),
                zome_name=ctx.zome_name,
                fn_name="recv_remote_signal",
                cap_secret=None,
                payload=payload,
                nonce=new_nonce(),
                expires_at=now_micros() + DEFAULT_EXPIRY_US,
            )
            data, signature = sign_call(params, key)
            messages.append((agent, {"params": data, "signature": signature}))
        with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to send with
            asyncio.run_coroutine_threadsafe(
                self._send_signals(ctx.cell.dna_hash, messages), self.loop
            )

    async def _send_signals(self, dna: DnaHash, messages: list[tuple[AgentPubKey, Any]]) -> None:
        async def one(agent: AgentPubKey, body: Any) -> None:
            conn = await self._connect_agent(dna, agent, self.loop.time() + SIGNAL_TIMEOUT_S)
            if isinstance(conn, ZomeCallResponse):
                log.info("remote signal to %s not sent: %s", agent, conn.reason)
                return
            try:
                await conn.send_message(protocol.OP_SIGNAL, body)
            except PeerUnreachable as exc:
                log.info("remote signal to %s not sent: %s", agent, exc)

        if not self._stopped:
            await asyncio.gather(*(one(a, b) for a, b in messages), return_exceptions=True)

    # -- the callee side ------------------------------------------------------------------
    def _take_request(self, conn: Connection, request: protocol.Request) -> bool:
        """On the loop: a call goes straight to a node worker when a slot is free."""
        if request.op != protocol.OP_CALL or not self._slots.try_acquire():
            return False
        try:
            self.executor.submit(self._serve_taken, conn, request)
        except RuntimeError:  # the pool is shut down
            self._slots.release()
            return False
        return True

    def _serve_taken(self, conn: Connection, request: protocol.Request) -> None:
        """On a node worker: answer a call :meth:`_take_request` took, straight to the peer."""
        try:
            answer = self._answer_call(request.body)
        except ProtocolError as exc:
            conn.respond_error(request.id, str(exc))
        except Exception as exc:
            log.exception("remote call from %r failed", conn)
            conn.respond_error(request.id, f"internal error: {type(exc).__name__}")
        else:
            conn.respond(request.id, answer)
        finally:
            self._slots.release()

    async def _on_request(self, conn: Connection, request: protocol.Request) -> Any:
        """On the loop, when every slot is taken: wait for one (within the call's timeout)."""
        if request.op != protocol.OP_CALL:
            raise ProtocolError(f"unknown request {request.op!r:.40}")
        if not await self._slots.acquire(_call_timeout_ms(request.body, self.config) / 1000):
            return ZomeCallResponse.network_error("the callee is too busy").to_wire()
        try:
            return await self.loop.run_in_executor(self.executor, self._answer_call, request.body)
        finally:
            self._slots.release()

    def _answer_call(self, body: Any) -> dict[str, Any]:
        """On a node worker: authenticate a call request, run it, answer in the wire form."""
        return self._respond_to(body).to_wire()

    def _respond_to(self, body: Any) -> ZomeCallResponse:
        if not isinstance(body, dict):
            raise ProtocolError("a call request is a map")
        data, signature, depth = body.get("params"), body.get("signature"), body.get("depth", 1)
        if not isinstance(data, bytes) or not isinstance(signature, bytes):
            return ZomeCallResponse.authentication_failed("a remote call needs signed params")
        if not isinstance(depth, int) or depth < 1:
            depth = 1
        try:
            params = self._authenticate(data, signature)
        except AuthenticationFailed as exc:
            return ZomeCallResponse.authentication_failed(exc.message)
        c = self.conductor
        try:
            limit = c.cell(params.cell_id).limits.timeout_ms
        except (NotFound, AppNotEnabled):
            return ZomeCallResponse.network_error(
                f"agent {params.cell_id.agent} does not run DNA {params.cell_id.dna_hash} here"
            )
        timeout_ms = min(_call_timeout_ms(body, self.config), limit)
        return c.respond(ZomeCall.from_params(params, depth=depth, timeout_ms=timeout_ms))

    def _authenticate(self, data: bytes, signature: bytes) -> ZomeCallParams:
        """Signature over the received bytes, then expiry and replay (any thread)."""
        params = verify_call(data, signature)
        self.conductor.check_replay(params)
        return params

    async def _on_message(self, conn: Connection, message: protocol.OneWay) -> None:
        if message.op == protocol.OP_AGENT_INFOS:
            if isinstance(message.body, list):
                self.directory.put_many_wire(message.body[:MAX_GOSSIP])
        elif message.op == protocol.OP_SIGNAL:
            await self._on_signal(conn, message.body)
        else:
            log.info("unknown message %r from %r ignored", message.op[:40], conn)

    async def _on_signal(self, conn: Connection, body: Any) -> None:
        if not isinstance(body, dict):
            return
        data, signature = body.get("params"), body.get("signature")
        if not isinstance(data, bytes) or not isinstance(signature, bytes):
            return
        try:
            params = self._authenticate(data, signature)
        except AuthenticationFailed as exc:
            log.info("remote signal from %r refused: %s", conn, exc.message)
            return
        if params.fn_name != "recv_remote_signal":
            log.info("remote signal from %r refused: signed for %s", conn, params.fn_name)
            return
        if not self._slots.try_acquire():
            log.warning("remote signal from %s dropped: too busy", params.provenance)
            return
        try:
            await self.loop.run_in_executor(self.executor, self._serve_signal, params)
        finally:
            self._slots.release()

    def _serve_signal(self, params: ZomeCallParams) -> None:
        c = self.conductor
        if not c.find_cells(params.cell_id.agent, params.cell_id.dna_hash):
            log.info("remote signal for %s dropped: no such cell here", params.cell_id)
            return
        c.deliver_remote_signal(params.cell_id, params.zome_name, params.provenance, params.payload)


def _call_timeout_ms(body: Any, config: NetworkConfig) -> int:
    timeout_ms = body.get("timeout_ms") if isinstance(body, dict) else None
    if not isinstance(timeout_ms, int) or timeout_ms <= 0:
        return config.call_timeout_ms
    return timeout_ms


def _answer_from(agent: AgentPubKey, answer: Any) -> ZomeCallResponse:
    """The peer's answer, or a ``NetworkError`` when it is not a well-formed response."""
    response = ZomeCallResponse.from_wire(answer)
    if response is None:
        return ZomeCallResponse.network_error(f"agent {agent} sent a malformed response")
    return response


def _failed(agent: AgentPubKey, exc: PeerUnreachable) -> ZomeCallResponse:
    return ZomeCallResponse.network_error(f"remote call to {agent} failed: {exc}")


def _timed_out(agent: AgentPubKey, timeout: float) -> ZomeCallResponse:
    return ZomeCallResponse.network_error(
        f"remote call to {agent} timed out after {int(timeout * 1000)} ms"
    )


def _margin(left: float) -> float:
    """What a remote wait leaves of its caller's time: enough to handle the timeout."""
    return max(0.05, min(1.0, left * 0.1))


def _cell_key(info: AgentInfo) -> bytes:
    return info.dna_hash.raw + info.agent.raw


async def start_peer_service(runtime: Runtime, home: Path) -> PeerService | None:
    """Start the peer service as configured (``None`` when the network is disabled)."""
    config = NetworkConfig.from_doc(runtime.conductor.config.network)
    if not config.enabled:
        return None
    service = PeerService(runtime, config, load_transport_key(home))
    await service.start()
    runtime.publish_endpoint(
        "network",
        {
            "address": service.address,
            "listen": service.listen_address,
            "transport_id": service.identity.hex(),
        },
    )
    return service


__all__ = ["PeerService", "Runtime", "start_peer_service"]
