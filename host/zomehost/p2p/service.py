"""The conductor's peer service: remote calls and remote signals between conductors.

It sits between the conductor and the network layer (Holochain's ``holochain_p2p``): the
network knows connections, sessions and signed agent infos; this service knows which of
them are our cells, turns ``call_remote`` into authenticated requests and runs the requests peers
send through the same call pipeline as a client call.

:func:`start_peer_service` wires a :class:`PeerService` into a running conductor:

* a :class:`~zomehost.network.transport.Transport` listening on ``network.listen``, with the
  conductor's own transport identity (``transport.key`` in the home, 0600);
* a :class:`~zomehost.network.directory.Directory` of verified agent infos, filled from the
  local cells (signed by each agent), the static ``peers`` list, the bootstrap services,
  gossip with connected peers (:mod:`~zomehost.network.gossip`, every round) and the peer
  store in the home (what was known before a restart);
* publishing at once: the conductor tells the service when apps change (install, enable,
  disable, uninstall), and the thread that changed them waits (briefly) until the new
  cells' agent infos have gone to the connected peers and the bootstrap services;
* the conductor hooks ``remote_caller`` / ``remote_signaller``, which host functions call
  on worker threads. Over an open connection the calling thread binds its agent to the
  connection (once per connection: :mod:`~zomehost.p2p.binding`), encrypts and sends the
  call itself and waits for the answer, which it reads or is handed; otherwise (first call,
  lookup, dial) it hands a coroutine to the loop and waits (it never runs the loop);
* the callee side: the thread the request woke (or the service's own worker pool)
  authenticates it (the agent's session binding or a signature, then expiry and replay in
  the cell's one nonce window, shared with the app interface), runs it through
  ``conductor.respond`` (which authorizes) and answers from the same thread. Calls coming
  back (A → B → A) never wait for a thread that is blocked on them; the call depth travels
  in each request.

Every outcome is a :class:`~zomehost.core.response.ZomeCallResponse`. Config
(``network:`` in conductor-config.yaml) is documented in docs/network.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import nacl.signing

from zomehost.conductor.conductor import Conductor
from zomehost.core import blocking
from zomehost.core.clock import now_micros
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.response import ZomeCallResponse
from zomehost.core.zome_call import (
    DEFAULT_EXPIRY_US,
    ZomeCall,
    ZomeCallParams,
    decode_call,
    new_nonce,
    verify_call,
)
from zomehost.errors import (
    AppNotEnabled,
    AuthenticationFailed,
    LimitExceeded,
    NotFound,
)
from zomehost.network import peer_store, protocol
from zomehost.network.agent_info import AgentInfo, SignedAgentInfo, parse_address
from zomehost.network.bootstrap import BootstrapClient
from zomehost.network.config import NetworkConfig, listen_parts, load_transport_key
from zomehost.network.directory import Directory
from zomehost.network.errors import AgentInfoError, PeerUnreachable, ProtocolError
from zomehost.network.gossip import Gossip
from zomehost.network.relay import RelayPool, RelayServer
from zomehost.network.transport import Connection, Transport, short_id
from zomehost.p2p.binding import Bindings
from zomehost.p2p.slots import Slots

if TYPE_CHECKING:
    from zomehost.ribosome.context import CallContext

log = logging.getLogger("zomehost.p2p")
T = TypeVar("T")

SIGNAL_TIMEOUT_S = 10.0
BOOTSTRAP_LOOKUP_TIMEOUT_S = 3.0
BOOTSTRAP_REPUBLISH_S = 60.0
PUBLISH_WAIT_S = 3.0
"""How long an app change waits for its agent infos to reach peers and bootstraps."""
PEER_QUERY_TIMEOUT_S = 2.0
STATIC_DIAL_S = 3.0
PEER_STORE_EVERY_S = 10.0
DIRECT_FIRST_S = 3.0
"""With relays listed, how long a direct dial may go on (alongside the relays)."""
RELAY_AFTER_S = 0.25
"""With relays listed, how long a direct dial runs alone before the relays are tried."""
_LOOP_MARGIN_S = 2.0
Round = Callable[[], Coroutine[Any, Any, None]]


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
    """A remote call a zome makes: by whom (``key``: the calling agent's), for which agent."""

    key: nacl.signing.SigningKey
    caller: CellId
    agent: AgentPubKey
    zome: str
    fn: str
    secret: bytes | None
    payload: bytes
    depth: int

    def body(self, remaining: float, binding: bytes) -> dict[str, Any]:
        """The request: ``ZomeCallParams`` with the calling agent's binding to the
        connection it goes on (:mod:`zomehost.p2p.binding`) instead of a signature."""
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
        return {
            "params": params.encode(),
            "binding": binding,
            "timeout_ms": max(1, int(remaining * 1000)),
            "depth": self.depth,
        }


class PeerService:
    def __init__(
        self,
        runtime: Runtime,
        config: NetworkConfig,
        key: nacl.signing.SigningKey,
        *,
        store_path: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.config = config
        self.directory = Directory(max_per_dna=config.max_agent_infos_per_dna)
        self.bindings = Bindings()  # the calling agents' proofs, per connection
        self._endpoint: dict[str, Any] | None = None  # as last written to run.json
        self.store_path = store_path
        self._key = key
        self._saved_version = -1
        self._saved_at = -PEER_STORE_EVERY_S
        self.transport = Transport(
            key,
            on_request=self._on_request,
            on_message=self._on_message,
            on_connected=self._on_connected,
            take_request=self._take_request,
            run_request=self._run_request,
            reader_threads=config.inbound_workers + 1,
            prologue=config.network_id.encode(),
            max_frame_size=config.max_frame_bytes,
        )
        self.bootstraps = [BootstrapClient(url) for url in config.bootstrap_urls]
        self.gossip = Gossip(
            self.directory,
            self.transport,
            local_dnas=self.local_dnas,
            connect=self._connect,
            fanout=config.gossip_peers,
        )
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
        self._round_tasks: dict[str, asyncio.Task[None]] = {}  # a bootstrap URL, "gossip"…
        self._unpublished: dict[str, dict[bytes, SignedAgentInfo]] = {
            b.url: {} for b in self.bootstraps
        }  # per bootstrap: not yet published there
        self._last_full_put: dict[str, float] = {}
        self._publish_lock = asyncio.Lock()
        self._unlisten: Callable[[], None] | None = None
        self.relay_pool: RelayPool | None = None
        self.relay_server: RelayServer | None = None
        self._stopped = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self.runtime.loop is not None
        return self.runtime.loop

    @property
    def identity(self) -> bytes:
        return self.transport.identity

    def local_dnas(self) -> set[bytes]:
        """The DNAs this conductor's running cells belong to (their infos are signed)."""
        return {r.info.dna_hash.raw for r in self._local.values()}

    def known_agent_infos(self, dna_hash: DnaHash | None = None) -> list[SignedAgentInfo]:
        """The unexpired agent infos known here (of one DNA, or all), newest first: ours,
        and what the bootstrap services, gossip and the peer store gave."""
        if dna_hash is None:
            return self.directory.all()
        return self.directory.for_dna(dna_hash)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        host, port = listen_parts(self.config.listen)
        self.listen_address = await self.transport.listen(host, port)
        self.address = self.config.advertise or self.listen_address
        if self.config.relay_server is not None:
            relay_host, relay_port = listen_parts(self.config.relay_server.listen)
            self.relay_server = RelayServer(relay_host, relay_port, self.config.relay_server.limits)
            await self.relay_server.start()
        for entry in self.config.peers:
            self._add_static_peer(entry)
        if self.store_path is not None:
            kept = peer_store.load(self.store_path, self.directory, skip_transport=self.identity)
            log.info("%d agent infos read back from %s", kept, self.store_path)
        await self._publish_now()  # our DNAs known before any peer sends what it knows
        if self.config.reachable is not True:
            self.relay_pool = RelayPool(
                self.config.relays,
                self.config.relay_count,
                self._key,
                record=lambda: next(iter(self._local.values()), None),
                on_incoming=self._accept_relayed,
                on_change=lambda: self._spawn(self._publish_now()),
            )
            await self.relay_pool.maintain()
            await self._publish_now()  # now listing the relays
        if self._static:  # connected before we say we are ready (bounded: they may be down)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(self._dial_static(a) for a in self._static)), STATIC_DIAL_S
                )
        await self._refresh()
        self._refresher = self.loop.create_task(self._refresh_loop())
        self.conductor.remote_caller = self.remote_call
        self.conductor.remote_signaller = self.remote_signal
        self._unlisten = self.conductor.add_apps_listener(self._apps_changed)
        log.info("network node %s listening on %s", short_id(self.identity), self.address)

    async def stop(self) -> None:
        self._stopped = True
        if self._unlisten is not None:
            self._unlisten()
        self.conductor.remote_caller = None
        self.conductor.remote_signaller = None
        for task in (self._refresher, *self._round_tasks.values()):
            if task is not None:
                task.cancel()
        if self.relay_pool is not None:
            self.relay_pool.stop()
        if self.relay_server is not None:
            await self.relay_server.stop()
        self._save_peers(now=True)
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
        self._spawn(self.gossip.push(conn))

    def _save_peers(self, *, now: bool = False) -> None:
        """Write the directory to the peer store when it changed since the last save (at
        most every ``PEER_STORE_EVERY_S``, unless ``now``)."""
        if self.store_path is None or self.directory.version == self._saved_version:
            return
        if not now and time.monotonic() - self._saved_at < PEER_STORE_EVERY_S:
            return
        self._saved_at = time.monotonic()
        others = [r for r in self.directory.all() if r.info.transport_id != self.identity]
        try:
            peer_store.save(self.store_path, others)
        except OSError as exc:
            log.warning("peer store %s not written: %s", self.store_path, exc)
            return
        self._saved_version = self.directory.version

    def _apps_changed(self) -> None:
        """The conductor's apps listener (any thread): publish the cells' infos now.

        From a worker thread it waits until they are sent (at most ``PUBLISH_WAIT_S``), so
        an admin call that installs or enables an app returns with the app reachable.
        """
        if self._stopped:
            return
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._spawn(self._publish_now())
            return
        with contextlib.suppress(Exception):  # a slow peer or bootstrap: the rounds retry
            self.runtime.run_on_loop(self._publish_now(), PUBLISH_WAIT_S)

    async def _publish_now(self) -> None:
        """Sign infos for new cells and send them to every peer and bootstrap at once."""
        async with self._publish_lock:
            new = await self._publish_local()
        if self._endpoint is not None:  # started: the relays it lists may have changed
            self.publish_endpoint()
        if not new:
            return
        for pending in self._unpublished.values():
            for record in new:
                pending[_cell_key(record.info)] = record
        await asyncio.gather(
            self.gossip.announce(new),
            *(self._bootstrap_publish(b) for b in self.bootstraps),
            return_exceptions=True,
        )

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
        """One round: publish our cells' infos, dial static peers, gossip, and talk to each
        bootstrap (the rounds run in the back, one at a time each); save the peer store."""
        await self._publish_now()
        for address, static in list(self._static.items()):
            if static is None or static.closed:
                self._spawn(self._dial_static(address))
        self.directory.prune()
        rounds: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("gossip", self.gossip.round)
        ]
        rounds += [(b.url, functools.partial(self._bootstrap_round, b)) for b in self.bootstraps]
        if self.relay_pool is not None:
            rounds.append(("relays", self.relay_pool.maintain))
        for name, run in rounds:
            task = self._round_tasks.get(name)
            if task is None or task.done():
                self._round_tasks[name] = self.loop.create_task(run())
        self._save_peers()

    async def _bootstrap_publish(self, bootstrap: BootstrapClient) -> bool:
        """Publish what this bootstrap has not got yet; False when it cannot be reached."""
        unpublished = self._unpublished[bootstrap.url]
        pending = list(unpublished.values())
        if not pending:
            return True
        try:
            await bootstrap.put(pending, timeout=PUBLISH_WAIT_S)
        except PeerUnreachable as exc:
            log.info("bootstrap publish failed (will retry): %s", exc)
            return False
        for record in pending:
            key = _cell_key(record.info)
            if unpublished.get(key) is record:
                del unpublished[key]
        return True

    async def _bootstrap_round(self, bootstrap: BootstrapClient) -> None:
        """Publish to one bootstrap what it lacks; fetch the peers of our DNAs from it."""
        if self.loop.time() - self._last_full_put.get(bootstrap.url, -1e9) > BOOTSTRAP_REPUBLISH_S:
            # The service keeps records in memory only: refill it after a restart of its own.
            self._unpublished[bootstrap.url].update(self._local)
            self._last_full_put[bootstrap.url] = self.loop.time()
        if not await self._bootstrap_publish(bootstrap):
            return
        for dna in self.local_dnas():
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
            for pending in self._unpublished.values():
                pending.pop(key, None)
            self.directory.remove(record.info.dna_hash, record.info.agent)
        relays = self.advertised_relays()
        new: list[SignedAgentInfo] = []
        for cell in cells:
            old = self._local.get(cell.key)
            if (
                old is not None
                and old.info.address == self.address
                and old.info.relays == relays
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
                relays=relays,
            )
            self._local[cell.key] = record
            self.directory.put(record)
            new.append(record)
        return new

    def publish_endpoint(self) -> None:
        """Where this node is reached, in home/run.json (``network``); rewritten when it
        changes (the relays it is registered with come and go)."""
        doc = {
            "address": self.address,
            "listen": self.listen_address,
            "transport_id": self.identity.hex(),
            "relays": list(self.advertised_relays()),
            "relay_server": self.relay_server.address if self.relay_server else None,
        }
        if doc != self._endpoint:
            self._endpoint = doc
            self.runtime.publish_endpoint("network", doc)

    def advertised_relays(self) -> tuple[str, ...]:
        """The relays our infos list: none when reachable, or (``auto``) when a relay
        found that it can dial us itself."""
        pool = self.relay_pool
        if pool is None or (self.config.reachable == "auto" and pool.dialable):
            return ()
        return pool.addresses

    async def _resolve(
        self, dna: DnaHash, agent: AgentPubKey, deadline: float, *, refresh: bool = False
    ) -> SignedAgentInfo | None:
        """The agent's record: the directory's, else (or when ``refresh`` asks for a newer
        one) what the bootstrap services and the connected peers hold, asked at once."""
        record = None if refresh else self.directory.get(dna, agent)
        if record is not None:
            return record
        budget = min(deadline - self.loop.time(), BOOTSTRAP_LOOKUP_TIMEOUT_S)
        if budget <= 0:
            return self.directory.get(dna, agent)

        async def ask(bootstrap: BootstrapClient) -> None:
            try:
                for found in await bootstrap.lookup(
                    dna, timeout=budget, known=self.directory.known
                ):
                    self.directory.put(found)
            except PeerUnreachable as exc:
                log.info("bootstrap lookup failed: %s", exc)

        await asyncio.gather(
            *(ask(b) for b in self.bootstraps),
            self.gossip.query(dna, agent, min(budget, PEER_QUERY_TIMEOUT_S)),
            return_exceptions=True,
        )
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
            return await self._connect_within(record, deadline)
        except PeerUnreachable as first:
            # The info may be stale (the peer moved): ask for a newer one, try once more.
            newer = await self._resolve(dna, agent, deadline, refresh=True)
            if newer is None or newer.info.signed_at <= record.info.signed_at:
                return ZomeCallResponse.network_error(f"agent {agent} is unreachable: {first}")
            try:
                return await self._connect_within(newer, deadline)
            except PeerUnreachable as exc:
                return ZomeCallResponse.network_error(f"agent {agent} is unreachable: {exc}")

    async def _connect_within(self, record: SignedAgentInfo, deadline: float) -> Connection:
        budget = deadline - self.loop.time()
        if budget <= 0:
            raise PeerUnreachable("timed out before a connection was made")
        return await self._connect(record, budget)

    async def _connect(self, record: SignedAgentInfo, timeout: float) -> Connection:
        """The connection to a record's conductor, proven to hold its transport identity.

        Its address first; when the record lists relays and the direct dial has not
        succeeded within ``RELAY_AFTER_S`` (a private address behind someone else's NAT
        usually hangs), the relays are tried one after the other alongside it (for at
        most ``DIRECT_FIRST_S``): the first connection made wins.
        """
        info = record.info
        deadline = self.loop.time() + timeout
        direct_budget = min(timeout, DIRECT_FIRST_S) if info.relays else timeout
        failures: list[str] = []
        direct = asyncio.ensure_future(
            asyncio.wait_for(self.transport.connect(info.address, info.transport_id), direct_budget)
        )
        tasks = {direct}
        try:
            if info.relays:
                await asyncio.wait(tasks, timeout=RELAY_AFTER_S)
                if not (direct.done() and direct.exception() is None):
                    tasks.add(asyncio.ensure_future(self._via_relays(info, deadline, failures)))
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        return task.result()
                    if task is direct:
                        failures.insert(0, f"{info.address}: {str(exc) or 'timed out connecting'}")
            raise PeerUnreachable("; ".join(failures))
        finally:
            for task in tasks:
                task.cancel()

    async def _via_relays(
        self, info: AgentInfo, deadline: float, failures: list[str]
    ) -> Connection:
        """Each relay of a record in turn (failures noted); the first that connects."""
        for relay in info.relays:
            left = deadline - self.loop.time()
            if left <= 0:
                break
            try:
                return await asyncio.wait_for(
                    self.transport.connect_via_relay(relay, info.transport_id), left
                )
            except TimeoutError:
                failures.append(f"relay {relay}: timed out connecting")
            except PeerUnreachable as exc:
                failures.append(str(exc))
        raise PeerUnreachable("no relay connected")

    async def _accept_relayed(self, relay: str, token: bytes) -> None:
        """A relay announced a caller: connect to the relay for it (the caller dials us)."""
        try:
            await self.transport.accept_via_relay(relay, token)
        except PeerUnreachable as exc:
            log.info("relayed call from %s not accepted: %s", relay, exc)

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
        """On the worker thread: bind, send and wait (reading the answer itself when no
        other thread reads the connection), without a hop to or from the loop."""
        body = out.body(timeout, self.bindings.proof(conn, out.key))
        try:
            with blocking.waiting():  # the worker pool may run another job meanwhile
                answer = conn.call_threadsafe(protocol.OP_CALL, body, timeout)
        except TimeoutError:
            return _timed_out(out.agent, timeout)
        except PeerUnreachable as exc:
            return _failed(out.agent, exc)
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
            body = out.body(remaining, self.bindings.proof(conn, out.key))
            answer = await conn.request(protocol.OP_CALL, body, remaining)
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
        """``conductor.remote_signaller``: one message per agent, sent without waiting, each
        with the sending agent's binding to the connection it goes on."""
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
            messages.append((agent, params.encode()))
        with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to send with
            asyncio.run_coroutine_threadsafe(
                self._send_signals(ctx.cell.dna_hash, key, messages), self.loop
            )

    async def _send_signals(
        self, dna: DnaHash, key: nacl.signing.SigningKey, messages: list[tuple[AgentPubKey, bytes]]
    ) -> None:
        async def one(agent: AgentPubKey, data: bytes) -> None:
            conn = await self._connect_agent(dna, agent, self.loop.time() + SIGNAL_TIMEOUT_S)
            if isinstance(conn, ZomeCallResponse):
                log.info("remote signal to %s not sent: %s", agent, conn.reason)
                return
            body = {"params": data, "binding": self.bindings.proof(conn, key)}
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

    def _run_request(self, conn: Connection, request: protocol.Request) -> bool:
        """On the reader thread the call's bytes woke: run it there when a slot is free."""
        if request.op != protocol.OP_CALL or not self._slots.try_acquire():
            return False
        self._serve_taken(conn, request)
        return True

    def _serve_taken(self, conn: Connection, request: protocol.Request) -> None:
        """On a node worker or a reader thread: answer a call :meth:`_take_request` or
        :meth:`_run_request` took, straight to the peer."""
        try:
            answer = self._answer_call(conn, request.body)
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
        if request.op == protocol.OP_AGENT_INFO_QUERY:
            return self.gossip.answer_query(request.body)
        if request.op != protocol.OP_CALL:
            raise ProtocolError(f"unknown request {request.op!r:.40}")
        if not await self._slots.acquire(_call_timeout_ms(request.body, self.config) / 1000):
            return ZomeCallResponse.network_error("the callee is too busy").to_wire()
        try:
            return await self.loop.run_in_executor(
                self.executor, self._answer_call, conn, request.body
            )
        finally:
            self._slots.release()

    def _answer_call(self, conn: Connection, body: Any) -> dict[str, Any]:
        """On a node worker: authenticate a call request, run it, answer in the wire form."""
        return self._respond_to(conn, body).to_wire()

    def _respond_to(self, conn: Connection, body: Any) -> ZomeCallResponse:
        if not isinstance(body, dict):
            raise ProtocolError("a call request is a map")
        depth = body.get("depth", 1)
        if not isinstance(depth, int) or depth < 1:
            depth = 1
        try:
            params = self._authenticate(conn, body)
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

    def _authenticate(self, conn: Connection, body: dict[Any, Any]) -> ZomeCallParams:
        """A request's params (a call's or a signal's), proven by the provenance's binding to
        ``conn`` or by a signature over the received bytes; then expiry and replay (any
        thread)."""
        data, signature, binding = body.get("params"), body.get("signature"), body.get("binding")
        if not isinstance(data, bytes) or (signature is None and binding is None):
            raise AuthenticationFailed("params with a signature or a session binding are needed")
        if binding is not None:
            params = decode_call(data)
            self.bindings.check(conn, params.provenance, binding)
        elif isinstance(signature, bytes):
            params = verify_call(data, signature)
        else:
            raise AuthenticationFailed("the signature must be 64 bytes")
        self.conductor.check_replay(params)
        return params

    async def _on_message(self, conn: Connection, message: protocol.OneWay) -> None:
        if message.op == protocol.OP_AGENT_INFOS:
            new = self.gossip.received(conn, message.body)
            if conn is not None and any(r.info.transport_id == conn.remote_identity for r in new):
                self._spawn(self.gossip.push(conn))  # it runs DNAs we had not heard of
        elif message.op == protocol.OP_SIGNAL:
            await self._on_signal(conn, message.body)
        else:
            log.info("unknown message %r from %r ignored", message.op[:40], conn)

    async def _on_signal(self, conn: Connection, body: Any) -> None:
        if not isinstance(body, dict):
            return
        try:
            params = self._authenticate(conn, body)
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
    service = PeerService(
        runtime, config, load_transport_key(home), store_path=home / peer_store.PEER_STORE_NAME
    )
    await service.start()
    service.publish_endpoint()
    return service


__all__ = ["PeerService", "Runtime", "start_peer_service"]
