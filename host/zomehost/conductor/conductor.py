"""The conductor: installs apps, runs genesis, and drives every zome call end to end.

One call: authenticate (done by the interface that received it) → authorize against the
callee's live grants → run ``init`` once per cell → run the function in a fresh instance
with its own workspace → commit in one transaction → ``post_commit`` and signals.
Nested calls (``call`` host function) come back here through :class:`HostServices`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from zomehost.chain.source_chain import SourceChain, Workspace, commit_all
from zomehost.chain.store import Store
from zomehost.conductor.app import (
    CLONE_ID_DELIMITER,
    MAX_CLONES_PER_ROLE,
    AppStatus,
    CloneCell,
    InstalledApp,
    check_clone_modifiers,
)
from zomehost.conductor.chain_lock import ChainLock
from zomehost.conductor.combining import Combiner
from zomehost.conductor.home import ConductorConfig, Home
from zomehost.core import on_loop
from zomehost.core.action import ActionType, Entry, Record, Signer, SystemEntryType
from zomehost.core.agent_crypto import AgentCrypto
from zomehost.core.bundle import DnaDef, DnaFile, DnaManifest, ZomeManifest
from zomehost.core.capability import AccessKind, Authorization, ZomeCallCapGrant, authorize
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash, WasmHash
from zomehost.core.keystore import Keystore
from zomehost.core.query import ChainQueryFilter
from zomehost.core.response import CallTarget, ZomeCallResponse
from zomehost.core.signal import Signal
from zomehost.core.web_bundle import UiFiles, decode_installable
from zomehost.core.zome_call import ReplayGuard, ZomeCall, ZomeCallParams
from zomehost.errors import (
    AgentKeyRevoked,
    AppNotEnabled,
    AppNotFound,
    CellStopped,
    ChainLocked,
    ConductorError,
    InitFailed,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    Timeout,
    Unauthorized,
    ZomeFunctionNotFound,
    ZomehostError,
)
from zomehost.ribosome.context import CallContext, ChainWorkspace, DnaInfo
from zomehost.ribosome.engine import WasmEngine, ZomeModule
from zomehost.ribosome.host_fns import TRACE_LEVELS
from zomehost.ribosome.ribosome import Ribosome

log = logging.getLogger("zomehost.conductor")
zome_log = logging.getLogger("zomehost.zome")
SignalListener = Callable[[Signal], None]
AppsListener = Callable[[], None]
RemoteCaller = Callable[
    [CallContext, AgentPubKey, str, str, bytes | None, bytes, int | None], ZomeCallResponse
]
RemoteSignaller = Callable[[CallContext, list[AgentPubKey], bytes], None]


CallListener = Callable[[ZomeCall, str], None]
OWNER_GRANT_PREFIX = "owner_grant/"
"""State key prefix marking the grants the conductor's owner wrote (``grant_capability``)."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Code:
    """A cell's zome code: swapped as one value by ``update_coordinators``."""

    dna: DnaDef
    info: DnaInfo
    zomes: dict[str, tuple[int, ZomeModule]]


@dataclass(slots=True)
class _Call:
    """A call authorized and ready to run on ``cell``."""

    cell: Cell
    zome: str
    fn: str
    payload: bytes
    auth: Authorization
    deadline: float
    depth: int = 0


@dataclass(slots=True)
class _Ran:
    """A call that ran: its value and workspace; what its commit wrote, once it did."""

    call: _Call
    value: Any
    ws: Workspace
    ctx: CallContext
    zm: ZomeModule
    committed: list[Record] = dataclasses.field(default_factory=list)


class _Owner(NamedTuple):
    """The app a cell runs in, as the cell index keeps it (not the whole app record)."""

    app_id: str
    name: str  # the role name, or a clone's clone id
    status: AppStatus
    revoked: bool


class Cell:
    """A running cell: its DNA's manifest and wasm hashes, its chain, its zome modules
    (loaded by hash on first use, shared by every cell running the same wasm)."""

    def __init__(self, conductor: Conductor, owner: _Owner, cell_id: CellId, dna: DnaDef) -> None:
        self.conductor = conductor
        self.app_id = owner.app_id
        self.role = owner.name
        self.id = cell_id
        self.chain = SourceChain(conductor.store, self.id)
        self._code = self._code_of(dna)
        self.revoked = owner.revoked
        self.stopped = False  # disabled while calls ran: they commit nothing (checked locked)
        self.lock = ChainLock()  # shared by commits, exclusive for bridge calls
        # calls from outside that reach this cell together run on one thread, one commit
        self.combiner: Combiner[_Call, _Ran] = Combiner(
            lambda call: conductor._run_call(call),
            lambda ran: conductor._commit_ran(self, ran),
            lambda ran: ran.ws.has_writes,
            lambda ran: ran.ws.strict_writes > 0,
        )
        self._init_lock = threading.Lock()
        self.init_thread: int | None = None  # the thread running this cell's init
        self.initialized = False
        # The conductor's limits, narrowed by the DNA's own (dna.yaml `limits:`).
        self.limits = conductor.config.limits.narrowed(dna.manifest.limits)

    def _code_of(self, dna: DnaDef) -> _Code:
        m = dna.manifest
        # the hash the cell was installed with: a coordinator update keeps it
        info = DnaInfo(
            self.id.dna_hash, m.name, m.properties, m.network_seed, tuple(z.name for z in m.zomes)
        )
        return _Code(dna, info, {})

    @property
    def dna(self) -> DnaDef:
        return self._code.dna

    @property
    def info(self) -> DnaInfo:
        return self._code.info

    def swap_code(self, dna: DnaDef) -> None:
        """Run ``dna``'s zomes from the next call on; a call already running keeps its own."""
        self._code = self._code_of(dna)

    def zome(self, name: str) -> tuple[int, ZomeModule]:
        """(index, compiled module) of zome ``name``, looked up once per cell."""
        code = self._code
        hit = code.zomes.get(name)
        if hit is None:
            for i, z in enumerate(code.dna.manifest.zomes):
                if z.name == name:
                    hit = (i, self.conductor.load_module(code.dna.wasm_hashes[i], z.name))
                    code.zomes[name] = hit
                    return hit
            raise ZomeFunctionNotFound(f"no zome {name!r} in dna {code.info.name!r}")
        return hit


class Conductor:
    def __init__(
        self, home: Home, keystore: Keystore, *, on_compile: Callable[[str], None] | None = None
    ) -> None:
        self.home = home
        self.config: ConductorConfig = home.config()
        self.keystore = keystore
        self.store = Store(
            home.data_path,
            sync=self.config.durable,
            map_size=self.config.map_size,
            max_map_size=self.config.max_map_size,
        )
        self.engine = WasmEngine(
            home.cache_path,
            fuel=self.config.limits.fuel is not None,
            memory=self.config.memory_budget,
        )
        self.ribosome = Ribosome(self.engine, self.config.boundary)
        self.on_compile = on_compile
        self._cells: dict[bytes, Cell] = {}
        self._apps_lock = threading.RLock()
        self.apps_version = 0  # bumped after every stored change to an app (for callers' caches)
        # what calls ask of every app, rebuilt only after an app changed (1,000 apps: a
        # scan of every app per cell opened or per signature was quadratic)
        self._running = _AppsView(_running_cells)
        self._cell_owners = _AppsView(_cell_owners)
        self._agent_apps = _AppsView(_apps_by_agent)
        self._app_cache: dict[str, tuple[int, InstalledApp]] = {}  # app id -> (version, app)
        self._signal_listeners: list[SignalListener] = []
        self._apps_listeners: list[AppsListener] = []
        self._call_listeners: list[CallListener] = []
        self.remote_caller: RemoteCaller | None = None
        self.remote_signaller: RemoteSignaller | None = None
        self._keystore_lock = threading.Lock()
        self.replay_guard = ReplayGuard()

    @classmethod
    def open(cls, home: Path | Home, passphrase: str, **kw: Any) -> Conductor:
        h = home if isinstance(home, Home) else Home(home)
        return cls(h, h.open_keystore(passphrase), **kw)

    def close(self) -> None:
        self.engine.close()
        self.store.close()

    # -- keys -------------------------------------------------------------------------
    def generate_agent(self) -> AgentPubKey:
        with self._keystore_lock:
            agent = self.keystore.generate()
            self.home.save_keystore(self.keystore)
        return agent

    def agents(self) -> list[AgentPubKey]:
        return list(self.keystore.keys)

    def sign(self, agent: AgentPubKey, data: bytes) -> bytes:
        return self.keystore.sign(agent, data)

    def signer(self, agent: AgentPubKey) -> Signer:
        return functools.partial(self.sign, agent)

    # -- dnas and modules -------------------------------------------------------------
    def load_module(self, wasm_hash: WasmHash, zome_name: str) -> ZomeModule:
        """The compiled module of a stored wasm: read (and its hash checked) only when this
        conductor has not loaded it yet; the engine keeps one per hash for every cell."""
        return self.engine.load(
            wasm_hash, functools.partial(self.stored_wasm, wasm_hash, zome_name), zome_name,
            self.on_compile,
        )  # fmt: skip

    def stored_wasm(self, wasm_hash: WasmHash, zome_name: str) -> bytes:
        """A zome's stored wasm, checked against its hash: damaged bytes never compile (or
        borrow a cached module compiled from the intact ones)."""
        blob = self.store.get_state(f"wasm/{wasm_hash.raw.hex()}")
        if blob is None:
            raise NotFound(f"wasm {wasm_hash} of zome {zome_name!r} is not stored")
        if not isinstance(blob, bytes) or WasmHash.of_content(blob) != wasm_hash:
            raise IntegrityError(
                f"the stored wasm {wasm_hash} of zome {zome_name!r} does not match its hash"
            )
        return blob

    def dna_def(self, dna_hash: DnaHash) -> DnaDef:
        """A stored DNA's manifest and wasm hashes; the wasm is checked to be there, not read."""
        doc = self.store.get_state(f"dna/{dna_hash.raw.hex()}")
        if doc is None:
            raise NotFound(f"dna {dna_hash} is not installed")
        try:
            manifest = DnaManifest.parse(doc["manifest"])
            hashes = tuple(WasmHash(bytes(h)) for h in doc["wasm_hashes"])
            if len(hashes) != len(manifest.zomes):
                raise InvalidInput(f"{len(hashes)} wasm hashes for {len(manifest.zomes)} zomes")
            for h, z in zip(hashes, manifest.zomes):
                if not self.store.has_state(f"wasm/{h.raw.hex()}"):
                    raise InvalidInput(f"the wasm of zome {z.name!r} is missing")
            return DnaDef(manifest, hashes)
        except (KeyError, TypeError, ValueError, ZomehostError) as exc:  # a damaged store
            detail = exc.message if isinstance(exc, ZomehostError) else type(exc).__name__
            raise ConductorError(f"the stored dna {dna_hash} is damaged: {detail}") from None

    def dna_file(self, dna_hash: DnaHash) -> DnaFile:
        """A stored DNA with its wasm (to clone or update it), each wasm checked."""
        d = self.dna_def(dna_hash)
        wasm = (self.stored_wasm(h, z.name) for h, z in zip(d.wasm_hashes, d.manifest.zomes))
        return DnaFile(d.manifest, tuple(wasm))

    def dna_manifest(self, dna_hash: DnaHash) -> DnaManifest:
        doc = self.store.get_state(f"dna/{dna_hash.raw.hex()}")
        if doc is None:
            raise NotFound(f"dna {dna_hash} is not installed")
        return DnaManifest.parse(doc["manifest"])

    def source_chain(self, cell_id: CellId) -> SourceChain:
        """Read access to a cell's chain (running or not): for views and verification."""
        return SourceChain(self.store, cell_id)

    # -- settings the services keep in the conductor's state (interfaces, reasons) ------
    def setting(self, name: str) -> Any:
        return self.store.get_state(name)

    def put_setting(self, name: str, value: Any) -> None:
        self.store.put_state(name, value)

    def delete_setting(self, name: str) -> None:
        self.store.delete_state(name)

    def setting_names(self, prefix: str) -> list[str]:
        return list(self.store.state_names(prefix))

    def list_dnas(self) -> list[DnaHash]:
        return [DnaHash(bytes.fromhex(n.split("/", 1)[1])) for n in self.store.state_names("dna/")]

    # -- apps -------------------------------------------------------------------------
    def _save_app(self, app: InstalledApp) -> None:
        self.store.put_state(f"app/{app.app_id}", app.to_state())
        self.apps_version += 1

    def get_app(self, app_id: str) -> InstalledApp:
        """The app as stored, parsed once per change of any app (``apps_version``): calls
        read their app often, and an app with hundreds of clone cells is slow to parse."""
        version = self.apps_version  # read first: a change after it shows next time
        hit = self._app_cache.get(app_id)
        if hit is not None and hit[0] == version:
            return hit[1]
        doc = self.store.get_state(f"app/{app_id}")
        if doc is None:
            self._app_cache.pop(app_id, None)
            raise AppNotFound(f"no app {app_id!r} is installed")
        app = InstalledApp.from_state(doc)
        self._app_cache[app_id] = (version, app)
        return app

    def list_apps(self) -> list[InstalledApp]:
        return [self.get_app(n.split("/", 1)[1]) for n in self.store.state_names("app/")]

    def install_app(
        self,
        bundle: bytes,
        app_id: str,
        agent: AgentPubKey | None = None,
        network_seed: str | None = None,
        linked_apps: frozenset[str] = frozenset(),
        *,
        membrane_proofs: dict[str, bytes] | None = None,
        defer_memproofs: bool = False,
    ) -> InstalledApp:
        """Check every zome, store the DNAs, run genesis for every cell; all or nothing.

        ``bundle`` is a ``.happ`` or a ``.webhapp`` (its UI is kept with the app).
        ``linked_apps``: installed apps whose cells this app's zomes may call as their
        author; without a link, another app's cells answer only to grants.
        ``defer_memproofs``: the app waits for :meth:`provide_memproofs` before genesis
        (its manifest must allow it: ``allow_deferred_memproofs``).
        """
        if not app_id or len(app_id) > 128 or "/" in app_id:
            raise InvalidInput("an app id is 1-128 characters without '/'")
        parsed, web = decode_installable(bundle)  # a .happ or a .webhapp
        if defer_memproofs and not parsed.manifest.allow_deferred_memproofs:
            raise InvalidInput("this app's manifest does not allow deferred membrane proofs")
        dnas = {
            role: dna.with_modifiers(network_seed, None) if network_seed is not None else dna
            for role, dna in parsed.dnas.items()
        }
        # Compile and check before writing anything, outside the apps lock: a long compile
        # does not hold up other installs (the engine locks per module).
        for dna in dnas.values():
            for z, wasm, wasm_hash in zip(dna.manifest.zomes, dna.wasm, dna.wasm_hashes):
                self.engine.load(wasm_hash, functools.partial(bytes, wasm), z.name, self.on_compile)
        with self._apps_lock:
            if self.store.get_state(f"app/{app_id}") is not None:
                raise ConductorError(f"an app with id {app_id!r} is already installed")
            for linked in sorted(linked_apps):
                self.get_app(linked)  # AppNotFound names a link to nothing
            if len({d.hash for d in dnas.values()}) != len(dnas):  # before a key is made
                raise ConductorError(
                    "two roles of this app resolve to the same DNA for one agent: "
                    "give them different network seeds or properties"
                )
            if agent is None:
                agent = self.generate_agent()
            elif agent not in self.keystore.keys:
                raise NotFound(f"agent {agent} has no key in this conductor's keystore")
            app = InstalledApp(
                app_id,
                agent,
                AppStatus.AWAITING_MEMPROOFS if defer_memproofs else AppStatus.ENABLED,
                {r: d.hash for r, d in dnas.items()},
                parsed.manifest.to_doc(),
                now_micros(),
                linked_apps,
            )
            workspaces = (
                []
                if defer_memproofs
                else [
                    self._genesis(app.cell_id(role), dna.hash, (membrane_proofs or {}).get(role))
                    for role, dna in dnas.items()
                ]
            )
            # DNAs, wasm, every cell's genesis and the app itself: one transaction.
            ui_zip = web.ui_zip if web is not None else None
            self._store_app(app, workspaces, list(dnas.values()), ui_zip)
            log.info("installed app %s for agent %s", app_id, agent)
        self._apps_changed()
        return app

    def _genesis(
        self, cell_id: CellId, dna_hash: DnaHash, membrane_proof: bytes | None
    ) -> Workspace:
        """A new cell's first three records, not yet written."""
        chain = SourceChain(self.store, cell_id)
        if chain.head() is not None:
            raise ConductorError(f"cell {cell_id} already exists (same agent and dna)")
        ws = Workspace(chain, self.signer(cell_id.agent))
        now = now_micros()
        ws.append(ActionType.DNA, now, dna_hash=dna_hash)
        ws.append(ActionType.AGENT_VALIDATION_PKG, now, membrane_proof=membrane_proof)
        ws.create(Entry(SystemEntryType.AGENT.value, pack(cell_id.agent.raw)), now)
        return ws

    def _store_app(
        self,
        app: InstalledApp,
        workspaces: list[Workspace],
        dnas: list[DnaFile],
        ui_zip: bytes | None = None,
    ) -> None:
        """Store DNAs, genesis records, the app (and its UI) in one transaction."""
        state = self.store.db["state"]
        with self.store.write() as txn:
            for dna in dnas:
                self._put_dna(txn, dna.hash, dna)
            for ws in workspaces:
                ws.write_into(txn)
            txn.put(f"app/{app.app_id}".encode(), pack(app.to_state()), db=state)
            if ui_zip is not None:
                txn.put(f"ui/{app.app_id}".encode(), pack(ui_zip), db=state)
        self.apps_version += 1
        for ws in workspaces:
            ws.committed()

    def _put_dna(self, txn: Any, dna_hash: DnaHash, dna: DnaFile) -> DnaDef:
        state = self.store.db["state"]
        definition = dna.definition()
        hashes = definition.wasm_hashes
        doc = {"manifest": dna.manifest.to_doc(), "wasm_hashes": [h.raw for h in hashes]}
        txn.put(f"dna/{dna_hash.raw.hex()}".encode(), pack(doc), db=state)
        for wasm, h in zip(dna.wasm, hashes):
            txn.put(f"wasm/{h.raw.hex()}".encode(), pack(wasm), db=state)
        return definition

    def provide_memproofs(self, app_id: str, proofs: dict[str, bytes]) -> InstalledApp:
        """Genesis of an app installed with deferred proofs; it is then disabled until enabled."""
        with self._apps_lock:
            app = self.get_app(app_id)
            if app.status is not AppStatus.AWAITING_MEMPROOFS:
                raise InvalidInput(f"app {app_id!r} is not awaiting membrane proofs")
            unknown = set(proofs) - set(app.roles)
            if unknown:
                raise InvalidInput(f"membrane proofs name roles the app lacks: {sorted(unknown)}")
            workspaces = [
                self._genesis(app.cell_id(role), dna_hash, proofs.get(role))
                for role, dna_hash in app.roles.items()
            ]
            updated = dataclasses.replace(app, status=AppStatus.DISABLED)
            self._store_app(updated, workspaces, [])
        self._apps_changed()
        return updated

    # -- clone cells ------------------------------------------------------------------
    def create_clone_cell(
        self,
        app_id: str,
        role: str,
        network_seed: str | None,
        properties: Any,
        name: str | None,
        membrane_proof: bytes | None = None,
    ) -> CloneCell:
        """A new cell of ``role``'s DNA with other modifiers, for the app's agent, with genesis."""
        check_clone_modifiers(network_seed, properties, name, membrane_proof)
        with self._apps_lock:
            app = self.get_app(app_id)
            if role not in app.roles:
                raise NotFound(f"app {app_id!r} has no role {role!r} to clone")
            self._check_writable(app)
            if sum(c.role == role for c in app.clones) >= MAX_CLONES_PER_ROLE:
                raise LimitExceeded(f"role {role!r} has {MAX_CLONES_PER_ROLE} clones already")
            original = app.roles[role]
            dna = self.dna_file(original).with_modifiers(network_seed, properties)
            if dna.hash == original or app.clone(dna.hash) is not None:
                raise ConductorError(
                    f"a cell of role {role!r} with these modifiers exists already in {app_id!r}"
                )
            clone = CloneCell(
                f"{role}{CLONE_ID_DELIMITER}{app.clones_created}",
                role,
                dna.hash,
                original,
                name or dna.manifest.name,
                dna.manifest.network_seed,
                dna.manifest.properties,
            )
            updated = dataclasses.replace(
                app, clones=(*app.clones, clone), clones_created=app.clones_created + 1
            )
            genesis = self._genesis(CellId(dna.hash, app.agent), dna.hash, membrane_proof)
            self._store_app(updated, [genesis], [dna])
            log.info("created clone cell %s of app %s", clone.clone_id, app_id)
        self._apps_changed()  # the peer service publishes the clone's agent info at once
        return clone

    def set_clone_enabled(self, app_id: str, ref: str | DnaHash, enabled: bool) -> CloneCell:
        """Enable or disable a clone. Disabling stops its running cell: the commits in flight
        land first (the chain lock, taken exclusively for up to a call's timeout), calls still
        running commit nothing (``CellStopped``) — so a disabled clone can be deleted."""
        with self._apps_lock:
            app = self.get_app(app_id)
            clone = _clone_of(app, ref)
            changed = dataclasses.replace(clone, enabled=enabled)
            clones = tuple(changed if c is clone else c for c in app.clones)
            running = None if enabled else self._cells.get(CellId(clone.dna_hash, app.agent).key)
            if running is not None and not running.lock.acquire(
                timeout=running.limits.timeout_ms / 1000 + 1
            ):
                raise ChainLocked(f"chain of cell {running.id} stayed locked by a bridge call")
            try:
                self._save_app(dataclasses.replace(app, clones=clones))
                if running is not None:
                    self._cells.pop(running.id.key, None)
                    running.stopped = True
            finally:
                if running is not None:
                    running.lock.release()
        self._apps_changed()
        return changed

    def delete_clone_cell(self, app_id: str, ref: str | DnaHash) -> None:
        """Forget a disabled clone and erase its chain: the one place chain data is destroyed."""
        with self._apps_lock:
            app = self.get_app(app_id)
            clone = _clone_of(app, ref)
            if clone.enabled:
                raise ConductorError(f"clone {clone.clone_id} is enabled: disable it first")
            updated = dataclasses.replace(
                app, clones=tuple(c for c in app.clones if c is not clone)
            )
            chain = SourceChain(self.store, CellId(clone.dna_hash, app.agent))
            with self.store.write() as txn:
                chain.erase(txn)
                txn.put(
                    f"app/{app_id}".encode(), pack(updated.to_state()), db=self.store.db["state"]
                )
            self.apps_version += 1
            log.info("deleted clone cell %s of app %s", clone.clone_id, app_id)
        self._apps_changed()

    # -- coordinator updates ----------------------------------------------------------
    def update_coordinators(self, dna_hash: DnaHash, zomes: dict[str, bytes]) -> DnaFile:
        """Replace (or add) zomes of an installed DNA; its hash and every chain stay as they are.

        All zomes count as coordinators. The new wasm is compiled before anything changes;
        then the DNA is stored and every running cell of it switches code between calls.
        """
        if not zomes:
            raise InvalidInput("update_coordinators needs at least one zome")
        for zname, wasm in zomes.items():
            self.engine.load(
                WasmHash.of_content(wasm), functools.partial(bytes, wasm), zname, self.on_compile
            )
        with self._apps_lock:
            old = self.dna_file(dna_hash)
            manifest_zomes = list(old.manifest.zomes)
            wasm_list = list(old.wasm)
            for zname, wasm in zomes.items():
                index = next((i for i, z in enumerate(manifest_zomes) if z.name == zname), None)
                if index is None:
                    manifest_zomes.append(ZomeManifest(zname, f"{zname}.wasm"))
                    wasm_list.append(wasm)
                else:
                    wasm_list[index] = wasm
            new = DnaFile(
                dataclasses.replace(old.manifest, zomes=tuple(manifest_zomes)), tuple(wasm_list)
            )
            with self.store.write() as txn:
                code = self._put_dna(txn, dna_hash, new)
            for cell in list(self._cells.values()):
                if cell.id.dna_hash == dna_hash:
                    cell.swap_code(code)
            self.apps_version += 1
            log.info("updated zomes %s of dna %s", sorted(zomes), dna_hash)
            return new

    # -- agent keys ---------------------------------------------------------------------
    def revoke_agent_key(self, app_id: str, agent: AgentPubKey) -> list[tuple[CellId, str]]:
        """Delete the agent key's entry on each of the app's chains; the cells then refuse
        every write. Returns the cells where that failed (Holochain's shape)."""
        with self._apps_lock:
            app = self.get_app(app_id)
            if app.agent != agent:
                raise InvalidInput(f"agent {agent} is not the agent of app {app_id!r}")
            self._check_writable(app)
            failed: list[tuple[CellId, str]] = []
            cells = app.provisioned_cell_ids + [CellId(c.dna_hash, agent) for c in app.clones]
            # Running cells stop writing first: no call commits after its chain's delete.
            # (A cell loads only under this lock, from the app saved below.)
            for cid in cells:
                cached = self._cells.get(cid.key)
                if cached is not None:
                    cached.revoked = True
            if app.status is not AppStatus.AWAITING_MEMPROOFS:
                for cid in cells:
                    try:
                        self._delete_agent_entry(cid)
                    except ZomehostError as exc:
                        failed.append((cid, exc.message))
            self._save_app(dataclasses.replace(app, agent_key_revoked=True))
            log.info("revoked agent key %s of app %s", agent, app_id)
        self._apps_changed()
        return failed

    def _delete_agent_entry(self, cell_id: CellId) -> None:
        chain = SourceChain(self.store, cell_id)
        key_record = next(
            (
                r
                for r in chain.records(ChainQueryFilter())
                if r.action.type is ActionType.CREATE
                and r.action.entry_type == SystemEntryType.AGENT.value
            ),
            None,
        )
        if key_record is None:
            raise NotFound(f"cell {cell_id} has no agent key entry")
        running = self._cells.get(cell_id.key)

        def delete() -> None:
            ws = Workspace(running.chain if running else chain, self.signer(cell_id.agent))
            ws.delete(key_record.action_hash, now_micros())
            ws.commit()

        if running is None:
            return delete()
        # exclusive, and the delete made on the head found under it: the commits in
        # flight land first, later ones see ``revoked`` and write nothing
        if not running.lock.acquire(timeout=running.limits.timeout_ms / 1000 + 1):
            raise ChainLocked(f"chain of cell {cell_id} stayed locked by a bridge call")
        try:
            delete()
        finally:
            running.lock.release()

    @staticmethod
    def _check_writable(app: InstalledApp) -> None:
        if app.agent_key_revoked:
            raise AgentKeyRevoked(f"the agent key of app {app.app_id!r} is revoked")

    def set_app_status(self, app_id: str, status: AppStatus) -> InstalledApp:
        with self._apps_lock:
            app = self.get_app(app_id)
            updated = dataclasses.replace(app, status=status)
            self._save_app(updated)
            if status is AppStatus.DISABLED:
                for cid in app.cell_ids:
                    self._cells.pop(cid.key, None)
        self._apps_changed()
        return updated

    def uninstall_app(self, app_id: str) -> None:
        """Forget the app; its chains stay in the store (data is never silently destroyed)."""
        with self._apps_lock:
            app = self.get_app(app_id)
            for cid in app.cell_ids:
                self._cells.pop(cid.key, None)
            self.store.delete_state(f"app/{app_id}")
            self.store.delete_state(f"ui/{app_id}")
            self.apps_version += 1
        self._apps_changed()

    def add_apps_listener(self, listener: AppsListener) -> Callable[[], None]:
        """Call ``listener`` after every stored app change (install, enable, disable,
        uninstall, clone cells, membrane proofs, key revocation), on the thread that made it
        and outside the apps lock: the peer service publishes the new cells' agent infos at
        once instead of at its next refresh."""
        self._apps_listeners.append(listener)
        return lambda: self._apps_listeners.remove(listener)

    def _apps_changed(self) -> None:
        for listener in list(self._apps_listeners):
            try:
                listener()
            except Exception:
                log.exception("apps listener failed")

    def apps_with_ui(self) -> set[str]:
        """The ids of the apps installed with a UI (keys only: no UI is read)."""
        return {name.split("/", 1)[1] for name in self.store.state_names("ui/")}

    def app_ui(self, app_id: str) -> UiFiles | None:
        """The UI installed with the app (from its ``.webhapp``), or ``None``."""
        blob = self.store.get_state(f"ui/{app_id}")
        return UiFiles.from_zip(blob) if isinstance(blob, bytes) else None

    # -- admin-side capabilities ------------------------------------------------------
    def grant_capability(self, cell_id: CellId, grant: ZomeCallCapGrant) -> ActionHash:
        """Write a capability grant on a cell's chain (the admin's `grant_zome_call_capability`)."""
        action = self._admin_write(
            cell_id,
            lambda ws: ws.create(
                Entry(SystemEntryType.CAP_GRANT.value, pack(grant.to_wire())), now_micros()
            ),
        )
        self.store.put_state(OWNER_GRANT_PREFIX + action.raw.hex(), True)
        return action

    def owner_granted(self, grant_action: ActionHash) -> bool:
        """Whether the conductor's owner wrote this grant (the admin API or CLI), not a zome."""
        return self.store.get_state(OWNER_GRANT_PREFIX + grant_action.raw.hex()) is not None

    def revoke_capability(self, cell_id: CellId, grant_action: ActionHash) -> ActionHash:
        cell = self.cell(cell_id)
        if grant_action not in {g.action_hash for g in cell.chain.grants(include_revoked=True)}:
            raise NotFound(f"no capability grant {grant_action} on cell {cell_id}")
        if grant_action not in {g.action_hash for g in cell.chain.grants()}:
            raise InvalidInput(f"grant {grant_action} is already revoked")
        return self._admin_write(cell_id, lambda ws: ws.delete(grant_action, now_micros()))

    def _admin_write(self, cell_id: CellId, write: Callable[[Workspace], Record]) -> ActionHash:
        cell = self.cell(cell_id)
        deadline = time.monotonic() + cell.limits.timeout_ms / 1000
        self._ensure_init(cell, deadline)
        ws = Workspace(cell.chain, self.signer(cell.id.agent))
        record = write(ws)
        self._commit(cell, ws, deadline)
        return record.action_hash

    # -- cells ------------------------------------------------------------------------
    def open_cell(self, cell_id: CellId) -> Cell | None:
        """The cell if it is open (nothing is read or opened)."""
        return self._cells.get(cell_id.key)

    def cell(self, cell_id: CellId) -> Cell:
        cell = self.open_cell(cell_id)
        if cell is not None:
            return cell
        with self._apps_lock:
            cell = self._cells.get(cell_id.key)  # opened while this thread waited
            if cell is not None:
                return cell
            owner = self._cell_owners.get(self).get(cell_id.key)
            if owner is None:
                raise NotFound(f"no running cell {cell_id}")
            if owner.status is not AppStatus.ENABLED:
                raise AppNotEnabled(f"app {owner.app_id!r} is {owner.status.value}")
            cell = Cell(self, owner, cell_id, self.dna_def(cell_id.dna_hash))
            cell.chain.check_head()
            self._cells[cell_id.key] = cell
            return cell

    def apps_of_agent(self, agent: AgentPubKey) -> tuple[str, ...]:
        """The ids of the installed apps that run as ``agent``."""
        return self._agent_apps.get(self).get(agent.raw, ())

    def cell_for(self, app_id: str, role: str) -> Cell:
        return self.cell(self.cell_id_for(app_id, role))

    def cell_id_for(self, app_id: str, role: str) -> CellId:
        """The cell of an app's role (or enabled clone), whether or not the app runs."""
        app = self.get_app(app_id)
        try:
            return app.cell_id(role)
        except KeyError:
            raise NotFound(
                f"app {app_id!r} has no role or enabled clone {role!r} "
                f"(roles: {', '.join(app.roles)})"
            ) from None

    def find_cells(self, agent: AgentPubKey, dna_hash: DnaHash | None = None) -> list[CellId]:
        return [
            cid
            for cid in self.running_cells()
            if cid.agent == agent and (dna_hash is None or cid.dna_hash == dna_hash)
        ]

    def running_cells(self) -> tuple[CellId, ...]:
        """The cells of enabled apps: every ``call_remote`` asks whether its agent is local."""
        return self._running.get(self)

    # -- signals ----------------------------------------------------------------------
    def add_signal_listener(self, listener: SignalListener) -> Callable[[], None]:
        self._signal_listeners.append(listener)
        return lambda: self._signal_listeners.remove(listener)

    def _deliver(self, signals: list[Signal]) -> None:
        for s in signals:
            for listener in list(self._signal_listeners):
                try:
                    listener(s)
                except Exception:
                    log.exception("signal listener failed")

    # -- the call pipeline --------------------------------------------------------------
    def add_call_listener(self, listener: CallListener) -> Callable[[], None]:
        """``listener(call, outcome_kind)`` after every call from outside (the dashboard's
        live view); called on the worker thread, so it must only hand the event on."""
        self._call_listeners.append(listener)
        return lambda: self._call_listeners.remove(listener)

    def call_zome(self, call: ZomeCall) -> Any:
        """Run a call from outside (client, CLI, remote peer); return the ``Ok`` value."""
        if not self._call_listeners:
            return self._call_zome(call)
        outcome = "Ok"
        try:
            return self._call_zome(call)
        except on_loop.Moved:  # not an outcome: the call runs again, on a worker
            outcome = ""
            raise
        except BaseException as exc:
            outcome = exc.kind if isinstance(exc, ZomehostError) else "Internal"
            raise
        finally:
            for listener in list(self._call_listeners) if outcome else ():
                try:
                    listener(call, outcome)
                except Exception:
                    log.exception("call listener failed")

    def _call_zome(self, call: ZomeCall) -> Any:
        cell = self.cell(call.cell_id)
        limits = cell.limits
        if call.depth > limits.max_call_depth:
            raise LimitExceeded(f"call depth limit of {limits.max_call_depth} reached")
        # a caller may ask for less time than the cell's limit, never for more
        wanted_ms = min(call.timeout_ms or limits.timeout_ms, limits.timeout_ms)
        deadline = time.monotonic() + wanted_ms / 1000
        auth = self._authorize_with_init(cell, call, deadline)
        if call.depth:  # part of a call tree: it runs on its caller's thread
            value, _ = self._run_new(
                cell, call.zome_name, call.fn_name, call.payload, auth, deadline, call.depth
            )
            return value
        job = _Call(cell, call.zome_name, call.fn_name, call.payload, auth, deadline)
        ran = cell.combiner.run(job, (call.zome_name, call.fn_name))
        self._finish(cell, ran)
        return ran.value

    def respond(self, call: ZomeCall) -> ZomeCallResponse:
        """:meth:`call_zome` with its outcome as a value: what a peer or a guest receives."""
        try:
            return ZomeCallResponse.ok(pack(self.call_zome(call)))
        except ZomehostError as exc:
            return ZomeCallResponse.from_error(exc, _target(call))

    def check_replay(self, params: ZomeCallParams) -> None:
        """Expiry and replay of a signed call, in the one window its cell has (any channel)."""
        self.replay_guard.check(params, now_micros())

    @staticmethod
    def _require_function(cell: Cell, zome: str, fn: str) -> None:
        _, zm = cell.zome(zome)
        if fn not in zm.functions:
            raise ZomeFunctionNotFound(f"zome {zome!r} has no function {fn!r}")

    def _authorize_with_init(
        self, cell: Cell, call: ZomeCall, deadline: float, *, as_author: bool = True
    ) -> Authorization:
        """Authorize, with the cell initialised before the call runs.

        A denied call never runs the function it named. If the cell was never initialised,
        its ``init`` runs before the final decision, because the grants ``init`` writes (an
        unrestricted grant "given at install time") must count for the very first caller.
        """
        try:
            auth = self._authorize(cell, call, as_author)
        except Unauthorized:
            if cell.initialized:
                raise
            self._ensure_init(cell, deadline)
            return self._authorize(cell, call, as_author)
        self._ensure_init(cell, deadline)
        return auth

    def _authorize(self, cell: Cell, call: ZomeCall, as_author: bool) -> Authorization:
        self._require_function(cell, call.zome_name, call.fn_name)
        auth = authorize(
            cell.id.agent,
            call.provenance,
            call.zome_name,
            call.fn_name,
            call.cap_secret,
            cell.chain.grants(),
            as_author=as_author,
        )
        if auth is None:
            raise Unauthorized(
                f"{call.provenance} may not call {call.zome_name}.{call.fn_name} on cell {cell.id}"
            )
        return auth

    def _context(
        self,
        cell: Cell,
        zome: str,
        fn: str,
        auth: Authorization,
        ws: ChainWorkspace,
        deadline: float,
        depth: int,
        *,
        writable: bool = True,
    ) -> tuple[CallContext, ZomeModule]:
        idx, zm = cell.zome(zome)
        ctx = CallContext(
            cell=cell.id,
            dna=cell.info,
            zome_name=zome,
            zome_index=idx,
            function_name=fn,
            function_names=zm.functions,
            authorization=auth,
            workspace=ws,
            limits=cell.limits,
            deadline=deadline,
            depth=depth,
            services=_Services(self, cell),
            writable=writable,
            role_name=cell.role,
            app_id=cell.app_id,
            schedulable=zm.schedulable,
        )
        return ctx, zm

    def _run_new(
        self,
        cell: Cell,
        zome: str,
        fn: str,
        payload: bytes,
        auth: Authorization,
        deadline: float,
        depth: int,
        before_commit: Callable[[Any, Workspace], None] | None = None,
    ) -> tuple[Any, list[Record]]:
        """Run a call with its own workspace, commit it, then post_commit and signals.
        ``before_commit(value, workspace)`` may add to the commit (a scheduled run's next
        schedule, conductor/scheduling.py)."""
        ran = self._run_call(_Call(cell, zome, fn, payload, auth, deadline, depth))
        if before_commit is not None:
            before_commit(ran.value, ran.ws)
        ran.committed = self._commit(cell, ran.ws, deadline)
        self._finish(cell, ran)
        return ran.value, ran.committed

    def _run_call(self, call: _Call) -> _Ran:
        """Run a call's function with a workspace of its own (nothing committed yet)."""
        cell = call.cell
        grant = call.auth.grant
        ws = Workspace(
            cell.chain,
            self.signer(cell.id.agent),
            None if grant is None else grant.action_hash,
        )
        ctx, zm = self._context(cell, call.zome, call.fn, call.auth, ws, call.deadline, call.depth)
        value = self.ribosome.run(ctx, zm, call.fn, call.payload)
        return _Ran(call, value, ws, ctx, zm)

    def _finish(self, cell: Cell, ran: _Ran) -> None:
        """After the commit, on the caller's thread: ``post_commit``, then the signals."""
        if ran.committed and "post_commit" in ran.zm.callbacks:
            self._post_commit(
                cell, ran.call.zome, ran.committed, ran.call.deadline, ran.ctx.signals
            )
        self._deliver(ran.ctx.signals)

    def _commit_ran(self, cell: Cell, batch: list[_Ran]) -> list[BaseException | None]:
        """Commit a combiner's batch of calls on ``cell`` in one group (conductor/combining.py):
        per call, the error its commit raised, or None."""
        writing = [r for r in batch if r.ws.has_writes]
        if not writing:
            return [None] * len(batch)
        deadline = max(r.call.deadline for r in writing)
        try:
            with self._commit_lock(cell, deadline):
                outcomes = commit_all([r.ws for r in writing])
        except ZomehostError as exc:
            outcomes = [exc] * len(writing)
        errors: dict[int, BaseException] = {}
        for r, outcome in zip(writing, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                errors[id(r)] = outcome
            else:
                r.committed = outcome
        return [errors.get(id(r)) for r in batch]

    def _commit(self, cell: Cell, ws: Workspace, deadline: float) -> list[Record]:
        """Commit a call's writes, the chain lock held shared: concurrent commits to one
        chain share a transaction and its sync (conductor/chain_lock.py)."""
        if not ws.has_writes:
            return []
        with self._commit_lock(cell, deadline):
            return ws.commit()

    @staticmethod
    @contextmanager
    def _commit_lock(cell: Cell, deadline: float) -> Iterator[None]:
        """The chain lock, shared, for a commit; refused if the cell's agent key was revoked
        or the cell disabled meanwhile (checked under the lock: those wait for commits)."""
        if not cell.lock.acquire(timeout=max(0.0, deadline - time.monotonic()), shared=True):
            raise ChainLocked(
                f"chain of cell {cell.id} stayed locked by a bridge call past the deadline"
            )
        try:
            if cell.revoked:
                raise AgentKeyRevoked(
                    f"the agent key of cell {cell.id} was revoked: the cell writes nothing more"
                )
            if cell.stopped:
                raise CellStopped(
                    f"cell {cell.id} was disabled while the call ran: its writes were not committed"
                )
            yield
        finally:
            cell.lock.release()

    def _post_commit(
        self, cell: Cell, zome: str, records: list[Record], deadline: float, signals: list[Signal]
    ) -> None:
        ws = Workspace(cell.chain, self.signer(cell.id.agent))
        ctx, zm = self._context(
            cell,
            zome,
            "post_commit",
            Authorization(cell.id.agent),
            ws,
            max(deadline, time.monotonic() + 1),
            0,
            writable=False,
        )
        try:
            self.ribosome.run(ctx, zm, "post_commit", pack([r.to_wire() for r in records]))
            signals.extend(ctx.signals)
        except ZomehostError as exc:
            log.warning("post_commit of %s.%s failed: %s", cell.info.name, zome, exc.message)

    def _ensure_init(self, cell: Cell, deadline: float) -> None:
        if cell.initialized:
            return
        if cell.init_thread == threading.get_ident():  # init called back into its own cell
            raise InitFailed(
                f"cell {cell.id} was called while its own init is running: "
                "re-entrant calls into an initialising cell are refused"
            )
        if not cell._init_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise Timeout(f"init of cell {cell.id} is still running (another call started it)")
        try:
            cell.init_thread = threading.get_ident()
            if cell.initialized:
                return
            if cell.chain.first(ActionType.INIT_ZOMES_COMPLETE) is not None:
                cell.initialized = True
                return
            ws = Workspace(cell.chain, self.signer(cell.id.agent))
            signals: list[Signal] = []
            for zname in cell.info.zome_names:
                _, zm = cell.zome(zname)
                if "init" not in zm.callbacks:
                    continue
                ctx, _ = self._context(
                    cell, zname, "init", Authorization(cell.id.agent), ws, deadline, 0
                )
                try:
                    result = self.ribosome.run(ctx, zm, "init", pack(None))
                except ZomehostError as exc:
                    raise InitFailed(f"init of zome {zname!r} failed: {exc.message}") from None
                if result != "Pass":
                    reason = result.get("Fail") if isinstance(result, dict) else result
                    raise InitFailed(f"init of zome {zname!r} refused: {reason}")
                signals.extend(ctx.signals)
            ws.append(ActionType.INIT_ZOMES_COMPLETE, now_micros())
            self._commit(cell, ws, deadline)
            cell.initialized = True
            self._deliver(signals)
        finally:
            cell.init_thread = None
            cell._init_lock.release()

    def deliver_remote_signal(
        self, cell_id: CellId, zome: str, sender: AgentPubKey, payload: bytes
    ) -> bool:
        """Run a cell's ``recv_remote_signal``; it needs a grant (unrestricted, as in Holochain)."""
        try:
            cell = self.cell(cell_id)
            _, zm = cell.zome(zome)
        except ZomehostError as exc:
            log.info("remote signal to %s dropped: %s", cell_id, exc.message)
            return False
        if "recv_remote_signal" not in zm.callbacks:
            return False
        deadline = time.monotonic() + cell.limits.timeout_ms / 1000

        def check() -> Authorization | None:
            grants = cell.chain.grants()
            return authorize(cell.id.agent, sender, zome, "recv_remote_signal", None, grants)

        auth = check()
        try:
            if auth is None and not cell.initialized:
                self._ensure_init(cell, deadline)
                auth = check()
            else:
                self._ensure_init(cell, deadline)
        except ZomehostError as exc:
            log.warning("remote signal to %s dropped: %s", cell_id, exc.message)
            return False
        if auth is None:
            log.info(
                "remote signal from %s to %s refused: no grant for recv_remote_signal",
                sender,
                cell_id,
            )
            return False
        try:
            self._run_new(cell, zome, "recv_remote_signal", pack(payload), auth, deadline, 0)
        except ZomehostError as exc:
            log.warning("recv_remote_signal in %s failed: %s", cell_id, exc.message)
            return False
        return True

    # -- nested calls (host function `call`) -----------------------------------------------
    def nested_call(
        self,
        ctx: CallContext,
        target: Any,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
    ) -> ZomeCallResponse:
        """Inter-zome, bridge and same-conductor cross-agent calls, answered as a value.

        A limit that ends the whole call tree (its deadline, its depth) is raised, not
        answered: the caller's call fails with it.
        """
        if ctx.depth + 1 > ctx.limits.max_call_depth:
            raise LimitExceeded(
                f"call depth limit of {ctx.limits.max_call_depth} reached calling {zome}.{fn}: "
                "runaway recursion?"
            )
        caller_cell = self.cell(ctx.cell)
        callee_id = self._resolve_target(ctx, target)
        call = ZomeCall(callee_id, zome, fn, payload, ctx.cell.agent, secret, ctx.depth + 1)
        if callee_id == ctx.cell:
            return self._local_call(ctx, caller_cell, call)
        try:
            callee = self.cell(callee_id)
            auth = self._authorize_with_init(
                callee, call, ctx.deadline, as_author=self._linked(caller_cell, callee)
            )
        except (NotFound, AppNotEnabled, Unauthorized, ZomeFunctionNotFound, InitFailed) as exc:
            return ZomeCallResponse.from_error(exc, _target(call))
        if callee_id.agent != ctx.cell.agent:  # another agent on this conductor: like a remote call
            return self._respond(call, lambda: self._run_guarded(callee, call, auth, ctx))
        return self._bridge(ctx, caller_cell, callee, call, auth)

    def _linked(self, caller: Cell, callee: Cell) -> bool:
        """Whether the caller's zomes act as the callee's author: same app, or a declared link.

        Two apps may share an agent key; that alone gives neither the other's author
        capability (docs/capabilities.md, "App isolation").
        """
        if caller.app_id == callee.app_id:
            return True
        try:
            return callee.app_id in self.get_app(caller.app_id).linked_apps
        except AppNotFound:
            return False

    def _resolve_target(self, ctx: CallContext, target: Any) -> CellId:
        if target is None or target == "Local" or (isinstance(target, dict) and "Local" in target):
            return ctx.cell
        if isinstance(target, dict) and "Role" in target:
            if ctx.app_id is None:
                raise InvalidInput("this call has no app to find a role in")
            app = self.get_app(ctx.app_id)
            role = target["Role"]
            try:
                return app.cell_id(role)
            except (KeyError, TypeError):
                raise NotFound(
                    f"app {ctx.app_id!r} has no role or enabled clone {role!r}"
                ) from None
        if isinstance(target, dict) and "Cell" in target:
            return CellId.from_wire(target["Cell"])
        raise InvalidInput(f"unknown call target {target!r:.80}")

    def _local_call(self, ctx: CallContext, cell: Cell, call: ZomeCall) -> ZomeCallResponse:
        """Inter-zome call: same cell, shares the caller's workspace, commits with it."""
        ws = ctx.workspace
        savepoint, schedule_savepoint = len(ws.pending), len(ws.schedule_writes)

        def run() -> Any:
            self._require_function(cell, call.zome_name, call.fn_name)
            _, zm = cell.zome(call.zome_name)
            inner, _ = self._context(
                cell, call.zome_name, call.fn_name, Authorization(ctx.cell.agent), ws,
                ctx.deadline, call.depth,
            )  # fmt: skip
            try:
                value = self.ribosome.run(inner, zm, call.fn_name, call.payload)
            except ZomehostError:
                del ws.pending[savepoint:]  # the callee's writes go with its failure
                del ws.schedule_writes[schedule_savepoint:]
                raise
            ctx.signals.extend(inner.signals)
            return value

        return self._respond(call, run)

    def _bridge(
        self, ctx: CallContext, caller: Cell, callee: Cell, call: ZomeCall, auth: Authorization
    ) -> ZomeCallResponse:
        """Bridge call: both chains locked (in a fixed order, so crossed calls cannot deadlock)."""
        first, second = sorted((caller, callee), key=lambda c: c.id.key)
        timeout = max(0.0, ctx.deadline - time.monotonic())
        if not first.lock.acquire(timeout=timeout):
            raise ChainLocked(f"chain of cell {first.id} is locked by another bridge call")
        try:
            if not second.lock.acquire(timeout=max(0.0, ctx.deadline - time.monotonic())):
                raise ChainLocked(f"chain of cell {second.id} is locked by another bridge call")
            try:
                return self._respond(call, lambda: self._run_guarded(callee, call, auth, ctx))
            finally:
                second.lock.release()
        finally:
            first.lock.release()

    def _run_guarded(
        self, callee: Cell, call: ZomeCall, auth: Authorization, ctx: CallContext
    ) -> Any:
        self._ensure_init(callee, ctx.deadline)
        value, _ = self._run_new(
            callee, call.zome_name, call.fn_name, call.payload, auth, ctx.deadline, call.depth
        )
        return value

    @staticmethod
    def _respond(call: ZomeCall, run: Callable[[], Any]) -> ZomeCallResponse:
        """A nested call's outcome as a value; its tree's deadline and depth still end it."""
        try:
            return ZomeCallResponse.ok(pack(run()))
        except (Timeout, LimitExceeded):
            raise
        except ZomehostError as exc:
            return ZomeCallResponse.from_error(exc, _target(call))


class _AppsView(Generic[T]):
    """A value derived from every stored app, rebuilt only after an app changed."""

    def __init__(self, build: Callable[[list[InstalledApp]], T]) -> None:
        self._build = build
        self._cached: tuple[int, T] | None = None

    def get(self, conductor: Conductor) -> T:
        version = conductor.apps_version  # read first: a change after it shows next time
        cached = self._cached
        if cached is None or cached[0] != version:
            cached = self._cached = (version, self._build(conductor.list_apps()))
        return cached[1]


def _running_cells(apps: list[InstalledApp]) -> tuple[CellId, ...]:
    return tuple(cid for app in apps if app.status is AppStatus.ENABLED for cid in app.cell_ids)


def _cell_owners(apps: list[InstalledApp]) -> dict[bytes, _Owner]:
    """The app each cell runs in: the first app listing it, as a scan of every app would
    find it (a cell opens without reading every app)."""
    index: dict[bytes, _Owner] = {}
    for app in apps:
        for cid, name in app.named_cells():
            index.setdefault(cid.key, _Owner(app.app_id, name, app.status, app.agent_key_revoked))
    return index


def _apps_by_agent(apps: list[InstalledApp]) -> dict[bytes, tuple[str, ...]]:
    index: dict[bytes, tuple[str, ...]] = {}
    for app in apps:
        index[app.agent.raw] = (*index.get(app.agent.raw, ()), app.app_id)
    return index


def _clone_of(app: InstalledApp, ref: str | DnaHash) -> CloneCell:
    clone = app.clone(ref)
    if clone is None:
        raise NotFound(f"app {app.app_id!r} has no clone cell {ref}")
    return clone


def _target(call: ZomeCall) -> CallTarget:
    return CallTarget(call.cell_id, call.zome_name, call.fn_name, call.provenance)


class _Services:
    """The conductor as the ribosome sees it (HostServices)."""

    def __init__(self, conductor: Conductor, cell: Cell) -> None:
        self.conductor = conductor
        self.cell = cell

    def sign(self, agent: AgentPubKey, data: bytes) -> bytes:
        """Sign as the cell's agent (``host_fns.sign`` allows no other key)."""
        self._own_key(agent)
        return self.conductor.sign(agent, data)

    def crypto(self, agent: AgentPubKey) -> AgentCrypto:
        """Encrypt and decrypt as the cell's agent, under the same rule as :meth:`sign`."""
        self._own_key(agent)
        return self.conductor.keystore.crypto(agent)

    def _own_key(self, agent: AgentPubKey) -> None:
        """Refuse a key shared with an app this one is not linked to: a signature by the
        shared key would let this app forge calls that the other app takes from its
        author, and a decryption would read what was sent to the other app."""
        c = self.conductor
        strangers = [a for a in c.apps_of_agent(agent) if a != self.cell.app_id]
        if strangers:
            linked = c.get_app(self.cell.app_id).linked_apps
            strangers = [a for a in strangers if a not in linked]
        if strangers:
            raise Unauthorized(
                f"agent key {agent} is shared with app(s) {', '.join(sorted(strangers))}, "
                f"which app {self.cell.app_id!r} is not linked to: it may not use it"
            )

    def call(
        self,
        ctx: CallContext,
        target: Any,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
    ) -> ZomeCallResponse:
        return self.conductor.nested_call(ctx, target, zome, fn, secret, payload)

    def call_remote(
        self,
        ctx: CallContext,
        agent: AgentPubKey,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
        timeout_ms: int | None,
    ) -> ZomeCallResponse:
        c = self.conductor
        local = c.find_cells(agent, ctx.cell.dna_hash)
        if local:  # an agent on this conductor: no network needed
            return c.nested_call(ctx, {"Cell": local[0].to_wire()}, zome, fn, secret, payload)
        if c.remote_caller is None:
            return ZomeCallResponse.network_error(
                f"agent {agent} is not on this conductor and no network is running"
            )
        return c.remote_caller(ctx, agent, zome, fn, secret, payload, timeout_ms)

    def send_remote_signal(
        self, ctx: CallContext, agents: list[AgentPubKey], payload: bytes
    ) -> None:
        c = self.conductor
        remote: list[AgentPubKey] = []
        for agent in agents:
            local = c.find_cells(agent, ctx.cell.dna_hash)
            if local:
                c.deliver_remote_signal(local[0], ctx.zome_name, ctx.cell.agent, payload)
            else:
                remote.append(agent)
        if remote and c.remote_signaller is not None:
            c.remote_signaller(ctx, remote, payload)

    def acts_for_agent(self, ctx: CallContext) -> bool:
        """Whether the call runs for the cell's own agent: its author capability, or an
        assigned grant the conductor's owner wrote (a local UI's signing credentials) —
        not a grant a zome gave others (docs/abi.md, "Clone cells")."""
        auth = ctx.authorization
        if auth.grant is None:
            return auth.provenance == self.cell.id.agent
        return auth.grant.grant.access.kind is AccessKind.ASSIGNED and self.conductor.owner_granted(
            auth.grant.action_hash
        )

    # -- clone cells, for a zome of this cell's app only (docs/abi.md, "Clone cells") ----
    def create_clone_cell(
        self,
        ctx: CallContext,
        of: CellId,
        network_seed: str | None,
        properties: Any,
        name: str | None,
        membrane_proof: bytes | None,
    ) -> dict[str, Any]:
        app = self.conductor.get_app(self.cell.app_id)
        role = app.cell_name(of)
        if role is None:
            raise NotFound(
                f"cell {of} is not an enabled cell of app {app.app_id!r}: "
                "a zome clones only its own app's cells"
            )
        clone = app.clone(of.dna_hash)
        made = self.conductor.create_clone_cell(
            app.app_id,
            clone.role if clone is not None else role,
            network_seed,
            properties,
            name,
            membrane_proof,
        )
        return made.cloned_cell(app.agent)

    def set_clone_enabled(
        self, ctx: CallContext, ref: str | CellId, enabled: bool
    ) -> dict[str, Any]:
        app, clone = self._own_clone(ref)
        changed = self.conductor.set_clone_enabled(app.app_id, clone.dna_hash, enabled)
        return changed.cloned_cell(app.agent)

    def delete_clone_cell(self, ctx: CallContext, ref: str | CellId) -> None:
        app, clone = self._own_clone(ref)
        self.conductor.delete_clone_cell(app.app_id, clone.dna_hash)

    def _own_clone(self, ref: str | CellId) -> tuple[InstalledApp, CloneCell]:
        """A clone of this cell's app (by clone id or cell id), never the calling cell."""
        app = self.conductor.get_app(self.cell.app_id)
        clone = None
        if isinstance(ref, str):
            clone = app.clone(ref)
        elif ref.agent == app.agent:
            clone = app.clone(ref.dna_hash)
        if clone is None:
            raise NotFound(f"app {app.app_id!r} has no clone cell {ref}")
        if clone.dna_hash == self.cell.id.dna_hash:
            raise InvalidInput(
                f"clone {clone.clone_id} is the calling cell: it may not change itself"
            )
        return app, clone

    def trace(self, ctx: CallContext, level: str, msg: str) -> None:
        zome_log.log(
            TRACE_LEVELS.get(level, logging.INFO), "[%s.%s] %s", ctx.dna.name, ctx.zome_name, msg
        )
