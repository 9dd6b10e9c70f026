"""The conductor's network node: remote calls, remote signals and the peer directory.

:func:`start_network` wires a :class:`NetworkNode` into a running daemon:

* a :class:`~zomehost.network.transport.Transport` listening on ``network.listen``, with the
  conductor's own transport identity (``transport.key`` in the home, 0600);
* a :class:`~zomehost.network.directory.Directory` of verified agent infos, filled from the
  local cells (signed by each agent), the static ``peers`` list, a bootstrap service, and
  what connected peers send (every connection starts with an exchange);
* the conductor hooks ``remote_caller`` / ``remote_signaller``, which host functions call
  on worker threads. Over an open connection the calling thread signs, encrypts and sends
  the call itself and waits for the answer, which the loop hands it; otherwise (first call,
  lookup, dial) it hands a coroutine to the loop and waits (it never runs the loop);
* the callee side: the loop hands a call straight to the node's own worker pool, where it
  is authenticated (signature, expiry, nonce), run by ``conductor.call_zome`` (which
  authorizes) and answered from the worker. Calls coming back (A → B → A) never wait for a
  thread that is blocked on them.

Config (``network:`` in conductor-config.yaml) is documented in docs/network.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.signing

from zomehost.conductor.app import AppStatus
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.zome_call import (
    DEFAULT_EXPIRY_US,
    NonceWindow,
    ZomeCallParams,
    new_nonce,
    sign_call,
    verify_call,
)
from zomehost.errors import (
    AppNotEnabled,
    AuthenticationFailed,
    ConductorError,
    LimitExceeded,
    NotFound,
    Unauthorized,
    ZomehostError,
)
from zomehost.network import protocol
from zomehost.network.agent_info import (
    DEFAULT_TTL_S,
    MAX_TTL_US,
    AgentInfo,
    SignedAgentInfo,
    format_address,
    now_us,
    parse_address,
)
from zomehost.network.bootstrap import BootstrapClient
from zomehost.network.directory import Directory
from zomehost.network.errors import AgentInfoError, PeerUnreachable, ProtocolError
from zomehost.network.transport import DEFAULT_MAX_FRAME, Connection, Transport, short_id

if TYPE_CHECKING:
    from zomehost.conductor.conductor import Conductor
    from zomehost.daemon import Daemon
    from zomehost.ribosome.context import CallContext

log = logging.getLogger("zomehost.network")

TRANSPORT_KEY_NAME = "transport.key"
RESPONSE_KINDS = frozenset(
    {"Ok", "Unauthorized", "AuthenticationFailed", "NetworkError", "CallError"}
)
MAX_GOSSIP = 500
SIGNAL_TIMEOUT_S = 10.0
BOOTSTRAP_LOOKUP_TIMEOUT_S = 3.0
BOOTSTRAP_REPUBLISH_S = 60.0
_LOOP_MARGIN_S = 2.0

_remote_depth = threading.local()
"""Call depth of the remote call a worker thread is serving (so A → B → A … is bounded)."""


# -- config ---------------------------------------------------------------------------------
@dataclass
class NetworkConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:0"
    advertise: str | None = None
    bootstrap_url: str | None = None
    peers: list[Any] = field(default_factory=list)
    call_timeout_ms: int = 30_000
    agent_info_ttl_s: int = DEFAULT_TTL_S
    refresh_interval_s: float = 5.0
    max_frame_bytes: int = DEFAULT_MAX_FRAME
    inbound_workers: int = 32
    network_id: str = ""

    KEYS = (
        "enabled",
        "listen",
        "advertise",
        "bootstrap_url",
        "peers",
        "call_timeout_ms",
        "agent_info_ttl_s",
        "refresh_interval_s",
        "max_frame_bytes",
        "inbound_workers",
        "network_id",
    )

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> NetworkConfig:
        doc = dict(doc or {})
        unknown = set(doc) - set(cls.KEYS)
        if unknown:
            raise ConductorError(f"network: unknown keys: {', '.join(sorted(unknown))}")
        cfg = cls()
        if "enabled" in doc:
            cfg.enabled = bool(doc["enabled"])
        if doc.get("listen") is not None:
            cfg.listen = str(doc["listen"])
            _listen_parts(cfg.listen)
        if doc.get("advertise") is not None:
            cfg.advertise = str(doc["advertise"])
            try:
                parse_address(cfg.advertise)
            except AgentInfoError as exc:
                raise ConductorError(f"network.advertise: {exc.message}") from None
        if doc.get("bootstrap_url"):
            cfg.bootstrap_url = str(doc["bootstrap_url"])
            try:
                BootstrapClient(cfg.bootstrap_url)
            except ValueError as exc:
                raise ConductorError(f"network.{exc}") from None
        peers = doc.get("peers") or []
        if not isinstance(peers, list):
            raise ConductorError("network.peers must be a list")
        cfg.peers = peers
        for key, lo, hi in (
            ("call_timeout_ms", 1, 1_800_000),  # signed params expire within 50 min
            ("agent_info_ttl_s", 10, MAX_TTL_US // 1_000_000),
            ("max_frame_bytes", 64 * 1024, 256 * 1024 * 1024),
            ("inbound_workers", 1, 1024),
        ):
            if key in doc:
                value = doc[key]
                if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                    raise ConductorError(f"network.{key} must be an integer in [{lo}, {hi}]")
                setattr(cfg, key, value)
        if "refresh_interval_s" in doc:
            value = doc["refresh_interval_s"]
            if not isinstance(value, int | float) or not 0.1 <= value <= 3600:
                raise ConductorError("network.refresh_interval_s must be in [0.1, 3600]")
            cfg.refresh_interval_s = float(value)
        if "network_id" in doc:
            cfg.network_id = str(doc["network_id"])
        return cfg


def load_transport_key(home: Path) -> nacl.signing.SigningKey:
    """The conductor's transport identity: a 32-byte Ed25519 seed in ``home/transport.key``."""
    path = home / TRANSPORT_KEY_NAME
    try:
        seed = path.read_bytes()
    except FileNotFoundError:
        seed = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by someone else meanwhile
            seed = path.read_bytes()
        else:
            try:
                os.write(fd, seed)
                os.fsync(fd)
            finally:
                os.close(fd)
    if len(seed) != 32:
        raise ConductorError(f"{path} is damaged: expected a 32-byte key")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return nacl.signing.SigningKey(seed)


def network_error(reason: str) -> dict[str, str]:
    return {"NetworkError": reason}


# -- the node -------------------------------------------------------------------------------
class NetworkNode:
    def __init__(self, daemon: Daemon, config: NetworkConfig, key: nacl.signing.SigningKey) -> None:
        self.daemon = daemon
        self.conductor: Conductor = daemon.conductor
        self.config = config
        self.directory = Directory()
        self.nonces = NonceWindow()
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
        self._slots = _Slots(config.inbound_workers * 4)
        self._nonce_lock = threading.Lock()
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
        assert self.daemon.loop is not None
        return self.daemon.loop

    @property
    def identity(self) -> bytes:
        return self.transport.identity

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        host, port = _listen_parts(self.config.listen)
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
        cells = await self.daemon.in_worker(self._local_cells)
        now = now_us()
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

    def _local_cells(self) -> list[CellId]:
        return [
            cid
            for app in self.conductor.list_apps()
            if app.status is AppStatus.ENABLED
            for cid in app.cell_ids
        ]

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
    ) -> Connection | dict[str, str]:
        record = await self._resolve(dna, agent, deadline)
        if record is None:
            return network_error(f"agent {agent} is unknown in DNA {dna}: no agent info for it")
        if record.info.transport_id == self.identity:
            return network_error(f"agent {agent} is not running DNA {dna} on this conductor")
        try:
            return await self._connect(record, deadline)
        except PeerUnreachable as first:
            # The info may be stale (the peer moved): ask for a newer one, try once more.
            newer = await self._resolve(dna, agent, deadline, refresh=True)
            if newer is None or newer.info.signed_at <= record.info.signed_at:
                return network_error(f"agent {agent} is unreachable: {first}")
            try:
                return await self._connect(newer, deadline)
            except PeerUnreachable as exc:
                return network_error(f"agent {agent} is unreachable: {exc}")

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
    ) -> Any:
        """``conductor.remote_caller``, on the guest's worker thread: a ZomeCallResponse value."""
        depth = getattr(_remote_depth, "value", 0) + ctx.depth + 1
        if depth > ctx.limits.max_call_depth:
            raise LimitExceeded(
                f"call depth limit of {ctx.limits.max_call_depth} reached calling {zome}.{fn} "
                f"on agent {agent}: runaway recursion across conductors?"
            )
        timeout = (timeout_ms or self.config.call_timeout_ms) / 1000
        timeout = min(timeout, ctx.deadline - time.monotonic())
        if timeout <= 0:
            return network_error("the calling zome function has no time left for a remote call")
        try:
            key = self.conductor.keystore.signing_key(ctx.cell.agent)
        except NotFound as exc:
            return network_error(exc.message)
        conn = self._open_connection(ctx.cell.dna_hash, agent)
        if conn is not None:
            return self._call_now(
                conn, key, ctx.cell, agent, zome, fn, secret, payload, timeout, depth
            )
        coro = self.call(key, ctx.cell, agent, zome, fn, secret, payload, timeout, depth)
        try:
            return self.daemon.run_on_loop(coro, timeout + _LOOP_MARGIN_S)
        except concurrent.futures.TimeoutError:
            return network_error(f"remote call to {agent} timed out after {int(timeout * 1000)} ms")
        except (RuntimeError, concurrent.futures.CancelledError) as exc:
            return network_error(f"the network is shutting down: {exc}")

    def _open_connection(self, dna: DnaHash, agent: AgentPubKey) -> Connection | None:
        """From a worker thread: the usable connection to ``agent``'s conductor, if open."""
        record = None if self._stopped else self.directory.peek(dna, agent)
        return None if record is None else self.transport.connection_for(record.info.transport_id)

    def _call_now(
        self,
        conn: Connection,
        key: nacl.signing.SigningKey,
        caller: CellId,
        agent: AgentPubKey,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
        timeout: float,
        depth: int,
    ) -> Any:
        """On the worker thread: sign, send and wait, without a hop to the loop."""
        body = _call_body(key, caller, agent, zome, fn, secret, payload, timeout, depth)
        try:
            rid, fut = conn.request_threadsafe(protocol.OP_CALL, body)
        except PeerUnreachable as exc:
            return network_error(f"remote call to {agent} failed: {exc}")
        try:
            answer = fut.result(timeout)
        except TimeoutError:
            return network_error(f"remote call to {agent} timed out after {int(timeout * 1000)} ms")
        except PeerUnreachable as exc:
            return network_error(f"remote call to {agent} failed: {exc}")
        finally:
            conn.forget(rid)
        return _checked_answer(agent, answer)

    async def call(
        self,
        key: nacl.signing.SigningKey,
        caller: CellId,
        agent: AgentPubKey,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
        timeout: float,
        depth: int = 1,
    ) -> Any:
        """Call ``zome.fn`` on ``agent``'s cell of the caller's DNA; a ZomeCallResponse value."""
        if self._stopped:
            return network_error("the network is stopped")
        started = self.loop.time()
        deadline = started + timeout
        conn = await self._connect_agent(caller.dna_hash, agent, deadline)
        if isinstance(conn, dict):
            return conn
        remaining = deadline - self.loop.time()
        body = _call_body(key, caller, agent, zome, fn, secret, payload, remaining, depth)
        try:
            answer = await conn.request(protocol.OP_CALL, body, remaining)
        except TimeoutError:
            return network_error(f"remote call to {agent} timed out after {int(timeout * 1000)} ms")
        except PeerUnreachable as exc:
            return network_error(f"remote call to {agent} failed: {exc}")
        log.debug(
            "remote call %s.%s on %s took %.1f ms",
            zome,
            fn,
            agent,
            (self.loop.time() - started) * 1000,
        )
        return _checked_answer(agent, answer)

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
                expires_at=now_us() + DEFAULT_EXPIRY_US,
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
            if isinstance(conn, dict):
                log.info("remote signal to %s not sent: %s", agent, conn["NetworkError"])
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
            return network_error("the callee is too busy")
        try:
            return await self.loop.run_in_executor(self.executor, self._answer_call, request.body)
        finally:
            self._slots.release()

    def _answer_call(self, body: Any) -> Any:
        """On a node worker: authenticate a call request, then run it; a ZomeCallResponse."""
        if not isinstance(body, dict):
            raise ProtocolError("a call request is a map")
        data, signature, depth = body.get("params"), body.get("signature"), body.get("depth", 1)
        if not isinstance(data, bytes) or not isinstance(signature, bytes):
            return {"AuthenticationFailed": "a remote call needs signed params"}
        if not isinstance(depth, int) or depth < 1:
            depth = 1
        try:
            params = self._authenticate(data, signature)
        except AuthenticationFailed as exc:
            return {"AuthenticationFailed": exc.message}
        max_depth = self.conductor.config.limits.max_call_depth
        if depth > max_depth:
            return {"CallError": f"LimitExceeded: call depth limit of {max_depth} reached"}
        return self._serve_call(params, _call_timeout_ms(body, self.config), depth)

    def _authenticate(self, data: bytes, signature: bytes) -> ZomeCallParams:
        """Signature over the received bytes, then expiry and replay (any thread)."""
        params = verify_call(data, signature)
        with self._nonce_lock:
            self.nonces.check(params, now_us())
        return params

    def _serve_call(self, params: ZomeCallParams, timeout_ms: int, depth: int) -> Any:
        """On a node worker: the same call pipeline as a client call (authorize, init, run)."""
        from zomehost.conductor.conductor import ZomeCall

        c = self.conductor
        try:
            limit = c.cell(params.cell_id).limits.timeout_ms
        except (NotFound, AppNotEnabled):
            return network_error(
                f"agent {params.cell_id.agent} does not run DNA {params.cell_id.dna_hash} here"
            )
        call = ZomeCall(
            params.cell_id,
            params.zome_name,
            params.fn_name,
            params.payload,
            params.provenance,
            params.cap_secret,
        )
        _remote_depth.value = depth
        try:
            value = c.call_zome(call, timeout_ms=min(timeout_ms, limit))
            return {"Ok": pack(value)}
        except Unauthorized as exc:
            return {
                "Unauthorized": {
                    "zome_name": call.zome_name,
                    "fn_name": call.fn_name,
                    "cell_id": call.cell_id.to_wire(),
                    "provenance": call.provenance.raw,
                    "reason": exc.message,
                }
            }
        except AuthenticationFailed as exc:
            return {"AuthenticationFailed": exc.message}
        except ZomehostError as exc:
            return {"CallError": f"{exc.kind}: {exc.message}"}
        except Exception as exc:
            log.exception("remote call %s.%s failed", call.zome_name, call.fn_name)
            return {"CallError": f"Internal: {type(exc).__name__}"}
        finally:
            _remote_depth.value = 0

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


class _Slots:
    """How many incoming calls and signals are queued or running, bounded; any thread frees.

    The loop takes a free slot without waiting (the common case); when none is free, a call
    waits on the loop until one is released, within its timeout.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []

    def try_acquire(self) -> bool:
        with self._lock:
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    async def acquire(self, timeout: float) -> bool:
        """On the loop: wait for a slot; False if none came within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.try_acquire():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            woken: asyncio.Future[None] = loop.create_future()
            with self._lock:
                self._waiters.append(woken)
            try:
                await asyncio.wait_for(woken, remaining)
            except TimeoutError:
                return False
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove(woken)
        return True

    def release(self) -> None:
        """From any thread; wakes every waiter (they race for the slot again)."""
        with self._lock:
            self._used -= 1
            waiters, self._waiters = self._waiters, []
        for woken in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is closed
                woken.get_loop().call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _call_body(
    key: nacl.signing.SigningKey,
    caller: CellId,
    agent: AgentPubKey,
    zome: str,
    fn: str,
    secret: bytes | None,
    payload: bytes,
    remaining: float,
    depth: int,
) -> dict[str, Any]:
    """A call request's body: ``ZomeCallParams`` signed by the calling agent, as a client signs."""
    params = ZomeCallParams(
        provenance=caller.agent,
        cell_id=CellId(caller.dna_hash, agent),
        zome_name=zome,
        fn_name=fn,
        cap_secret=secret,
        payload=payload,
        nonce=new_nonce(),
        expires_at=now_us() + int(remaining * 1_000_000) + DEFAULT_EXPIRY_US,
    )
    data, signature = sign_call(params, key)
    return {
        "params": data,
        "signature": signature,
        "timeout_ms": max(1, int(remaining * 1000)),
        "depth": depth,
    }


def _call_timeout_ms(body: Any, config: NetworkConfig) -> int:
    timeout_ms = body.get("timeout_ms") if isinstance(body, dict) else None
    if not isinstance(timeout_ms, int) or timeout_ms <= 0:
        return config.call_timeout_ms
    return timeout_ms


def _checked_answer(agent: AgentPubKey, answer: Any) -> Any:
    """The peer's answer if it is a well-formed ZomeCallResponse, else a NetworkError."""
    if not _valid_response(answer):
        return network_error(f"agent {agent} sent a malformed response")
    return answer


def _valid_response(answer: Any) -> bool:
    if not isinstance(answer, dict) or len(answer) != 1:
        return False
    ((kind, value),) = answer.items()
    if kind not in RESPONSE_KINDS:
        return False
    if kind == "Ok":
        return isinstance(value, bytes)
    if kind == "Unauthorized":
        return isinstance(value, dict)
    return isinstance(value, str)


def _cell_key(info: AgentInfo) -> bytes:
    return info.dna_hash.raw + info.agent.raw


def _listen_parts(listen: str) -> tuple[str, int]:
    """``host:port`` to listen on; port 0 picks a free port."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConductorError(f"network.listen: expected host:port, got {listen!r:.80}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


async def start_network(daemon: Daemon) -> NetworkNode | None:
    """Called by ``Daemon.start``: start the node, register its hooks, publish its address."""
    config = NetworkConfig.from_doc(daemon.conductor.config.network)
    if not config.enabled:
        return None
    node = NetworkNode(daemon, config, load_transport_key(daemon.home.path))
    await node.start()
    daemon.services.append(node)
    daemon.publish_endpoint(
        "network",
        {
            "address": node.address,
            "listen": node.listen_address,
            "transport_id": node.identity.hex(),
        },
    )
    return node


__all__ = [
    "NetworkConfig",
    "NetworkNode",
    "format_address",
    "load_transport_key",
    "start_network",
]
