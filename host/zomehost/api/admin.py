"""The admin interface's requests (docs/conductor-api.md §5).

Each handler validates the payload on the event loop (shape errors are ``deserialization``),
then does the conductor work on a worker thread: the store, the keystore and genesis block.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from zomehost.api import peers as peer_views
from zomehost.api import views
from zomehost.api.registry import InterfaceRegistry, Runtime
from zomehost.conductor.app import AppStatus
from zomehost.core.api_wire import (
    UNIT,
    agent_from_wire,
    as_bytes,
    cell_id_from_wire,
    clone_ref_from_wire,
    deserialization,
    field,
    grant_from_api,
    hash_from_wire,
    internal,
    payload_map,
)
from zomehost.core.bundle import MAX_BUNDLE_BYTES, Bundle, coordinator_zomes
from zomehost.core.files import read_bounded
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash, HashType
from zomehost.core.web_bundle import decode_installable
from zomehost.errors import BundleError

log = logging.getLogger("zomehost.api.admin")

T = TypeVar("T")
Handler = Callable[[Any], Awaitable[tuple[str, Any]]]

# Admin requests Holochain has and zomehost does not implement: `internal_error`, not
# `deserialization` (the request is well formed, the feature is missing).
UNSUPPORTED = frozenset(
    {
        "add_admin_interfaces",
        "register_dna",
        "dump_conductor_state",
        "get_compatible_cells",
        "issue_app_auth_token",
    }
)

STATUS_FILTERS = {"enabled", "disabled", "awaiting_memproofs", "awaiting_restore", "unrecoverable"}


class AdminApi:
    def __init__(self, runtime: Runtime, ifaces: InterfaceRegistry) -> None:
        self.ifaces = ifaces
        self.runtime = runtime
        self.conductor = runtime.conductor
        self.handlers: dict[str, Handler] = {
            "generate_agent_pub_key": self.generate_agent_pub_key,
            "install_app": self.install_app,
            "enable_app": self.enable_app,
            "disable_app": self.disable_app,
            "uninstall_app": self.uninstall_app,
            "list_apps": self.list_apps,
            "list_cell_ids": self.list_cell_ids,
            "list_dnas": self.list_dnas,
            "attach_app_interface": self.attach_app_interface,
            "list_app_interfaces": self.list_app_interfaces,
            "issue_app_authentication_token": self.issue_app_authentication_token,
            "revoke_app_authentication_token": self.revoke_app_authentication_token,
            "grant_zome_call_capability": self.grant_zome_call_capability,
            "revoke_zome_call_capability": self.revoke_zome_call_capability,
            "list_capability_grants": self.list_capability_grants,
            "dump_state": self.dump_state,
            "dump_full_state": self.dump_full_state,
            "get_dna_definition": self.get_dna_definition,
            "storage_info": self.storage_info,
            "list_scheduled_functions": self.list_scheduled_functions,
            "agent_info": self.agent_info,
            "add_agent_info": self.add_agent_info,
            "peer_meta_info": self.peer_meta_info,
            "dump_network_stats": self.dump_network_stats,
            "dump_network_metrics": self.dump_network_metrics,
            "update_coordinators": self.update_coordinators,
            "delete_clone_cell": self.delete_clone_cell,
            "revoke_agent_key": self.revoke_agent_key,
        }

    async def handle(self, tag: str, value: Any) -> tuple[str, Any]:
        handler = self.handlers.get(tag)
        if handler is None:
            if tag in UNSUPPORTED:
                raise internal(f"{tag} is not supported by zomehost")
            raise deserialization()
        return await handler(value)

    # -- keys and apps ----------------------------------------------------------------------
    async def generate_agent_pub_key(self, value: Any) -> tuple[str, Any]:
        agent = await self.runtime.in_worker(self.conductor.generate_agent)
        return "agent_pub_key_generated", agent.raw

    async def install_app(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        source = payload_map(doc.get("source"))
        stype = source.get("type")
        path: str | None = None
        data: bytes | None = None
        if stype == "path":
            path = field(source, "value", str)
        elif stype == "bytes":
            data = as_bytes(source.get("value"))
        else:
            raise deserialization()
        agent = agent_from_wire(doc["agent_key"]) if doc.get("agent_key") is not None else None
        app_id = field(doc, "installed_app_id", str, required=False)
        seed = field(doc, "network_seed", str, required=False)
        roles_settings = field(doc, "roles_settings", dict, required=False) or {}
        role_seeds, proofs = _role_settings(roles_settings)
        links = field(doc, "linked_apps", list, required=False) or []
        if not all(isinstance(a, str) for a in links):
            raise deserialization()
        info = await self.runtime.in_worker(
            self._install, path, data, agent, app_id, seed, role_seeds, proofs, frozenset(links)
        )
        return "app_installed", info

    def _install(
        self,
        path: str | None,
        data: bytes | None,
        agent: AgentPubKey | None,
        app_id: str | None,
        seed: str | None,
        role_seeds: dict[str, str],
        proofs: dict[str, bytes],
        links: frozenset[str],
    ) -> Any:
        if data is None:
            assert path is not None
            data = read_bounded(Path(path), MAX_BUNDLE_BYTES, BundleError, "the bundle at")
        parsed, _ = decode_installable(data)  # a .happ or a .webhapp
        roles = [r.name for r in parsed.manifest.roles]
        unknown = (set(role_seeds) | set(proofs)) - set(roles)
        if unknown:
            raise internal(f"roles_settings names roles the app does not have: {sorted(unknown)}")
        if role_seeds:
            seeds = set(role_seeds.values())
            if len(seeds) > 1 or (len(roles) > 1 and set(role_seeds) != set(roles)):
                raise internal("per-role network seeds are not supported by zomehost")
            seed = seeds.pop()
        app_id = app_id or parsed.manifest.name
        c = self.conductor
        # Holochain defers genesis when the manifest allows it and no proof came with install.
        defer = parsed.manifest.allow_deferred_memproofs and not proofs
        app = c.install_app(
            data, app_id, agent, seed, links, membrane_proofs=proofs, defer_memproofs=defer
        )
        if not defer:  # Holochain's install does not enable: the app waits for enable_app.
            views.set_disabled_reason(c, app_id, views.NEVER_STARTED)
            app = c.set_app_status(app_id, AppStatus.DISABLED)
        log.info("installed app %s (agent %s)", app_id, app.agent)
        return views.app_info(c, app)

    async def enable_app(self, value: Any) -> tuple[str, Any]:
        app_id = field(payload_map(value), "installed_app_id", str)

        info = await self.runtime.in_worker(views.enable_app, self.conductor, app_id)
        log.info("enabled app %s", app_id)
        return "app_enabled", info

    async def disable_app(self, value: Any) -> tuple[str, Any]:
        app_id = field(payload_map(value), "installed_app_id", str)

        def disable() -> None:
            c = self.conductor
            c.get_app(app_id)
            views.set_disabled_reason(c, app_id, views.USER)
            c.set_app_status(app_id, AppStatus.DISABLED)

        await self.runtime.in_worker(disable)
        log.info("disabled app %s", app_id)
        return "app_disabled", UNIT

    async def uninstall_app(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        app_id = field(doc, "installed_app_id", str)
        field(doc, "force", bool, required=False)

        def uninstall() -> None:
            self.conductor.uninstall_app(app_id)
            views.set_disabled_reason(self.conductor, app_id, None)

        await self.runtime.in_worker(uninstall)
        self.ifaces.app_uninstalled(app_id)
        log.info("uninstalled app %s", app_id)
        return "app_uninstalled", UNIT

    async def list_apps(self, value: Any) -> tuple[str, Any]:
        status = field(payload_map(value, optional=True), "status_filter", str, required=False)
        if status is not None and status not in STATUS_FILTERS:
            raise deserialization()

        def list_() -> list[Any]:
            c = self.conductor
            return [
                views.app_info(c, a)
                for a in c.list_apps()
                if status is None or a.status.value == status
            ]

        return "apps_listed", await self.runtime.in_worker(list_)

    async def list_cell_ids(self, value: Any) -> tuple[str, Any]:
        def cells() -> list[Any]:
            return [
                cid.to_wire()
                for a in self.conductor.list_apps()
                if a.status is AppStatus.ENABLED
                for cid in a.cell_ids
            ]

        return "cell_ids_listed", await self.runtime.in_worker(cells)

    async def list_dnas(self, value: Any) -> tuple[str, Any]:
        dnas = await self.runtime.in_worker(self.conductor.list_dnas)
        return "dnas_listed", [d.raw for d in dnas]

    # -- app interfaces and tokens --------------------------------------------------------------
    async def attach_app_interface(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        port = field(doc, "port", int, required=False) or 0
        origins = doc.get("allowed_origins")
        if isinstance(origins, (list, tuple)) and all(isinstance(o, str) for o in origins):
            origins = ",".join(origins)
        if not isinstance(origins, str):
            raise deserialization()
        app_id = field(doc, "installed_app_id", str, required=False)
        bind = field(doc, "danger_bind_addr", str, required=False)
        if not 0 <= port <= 65535:
            raise deserialization()
        real_port = await self.ifaces.attach_app_interface(port, origins, app_id, bind)
        return "app_interface_attached", {"port": real_port}

    async def list_app_interfaces(self, value: Any) -> tuple[str, Any]:
        return "app_interfaces_listed", [
            {
                "port": i.port,
                "allowed_origins": i.origins.text,
                "installed_app_id": i.installed_app_id,
            }
            for i in self.ifaces.app_interfaces.values()
        ]

    async def issue_app_authentication_token(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        app_id = field(doc, "installed_app_id", str)
        expiry = field(doc, "expiry_seconds", int, required=False)
        single_use = field(doc, "single_use", bool, required=False)
        expiry = 30 if expiry is None else expiry
        if expiry < 0:
            raise deserialization()
        await self.runtime.in_worker(self.conductor.get_app, app_id)
        token = os.urandom(64)
        expires_at = None if expiry == 0 else time.time_ns() // 1000 + expiry * 1_000_000
        single_use = True if single_use is None else single_use
        self.ifaces.tokens.issue(token, app_id, expires_at, single_use)
        return "app_authentication_token_issued", {"token": list(token), "expires_at": expires_at}

    async def revoke_app_authentication_token(self, value: Any) -> tuple[str, Any]:
        if isinstance(value, dict):  # tolerate {"token": ...}
            value = value.get("token")
        self.ifaces.tokens.revoke(as_bytes(value))
        return "app_authentication_token_revoked", UNIT

    # -- capabilities ---------------------------------------------------------------------------
    async def grant_zome_call_capability(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        cell_id = cell_id_from_wire(doc.get("cell_id"))
        grant = grant_from_api(doc.get("cap_grant"))
        action = await self.runtime.in_worker(self.conductor.grant_capability, cell_id, grant)
        log.info("granted %s access (tag %s) on %s", grant.access.kind.value, grant.tag, cell_id)
        return "zome_call_capability_granted", action.raw

    async def revoke_zome_call_capability(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        cell_id = cell_id_from_wire(doc.get("cell_id"))
        action = ActionHash(hash_from_wire(doc.get("action_hash"), HashType.ACTION))
        await self.runtime.in_worker(self.conductor.revoke_capability, cell_id, action)
        log.info("revoked grant %s on cell %s", action, cell_id)
        return "zome_call_capability_revoked", UNIT

    async def list_capability_grants(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        app_id = field(doc, "installed_app_id", str)
        include_revoked = bool(field(doc, "include_revoked", bool, required=False))

        def grants() -> list[Any]:
            app = self.conductor.get_app(app_id)
            return [
                [cid.to_wire(), views.grant_infos(self.conductor, cid, include_revoked)]
                for cid in views.all_cell_ids(app)
            ]

        return "capability_grants_info", await self.runtime.in_worker(grants)

    # -- state views ----------------------------------------------------------------------------
    def _cell_of_request(self, value: Any) -> CellId:
        return cell_id_from_wire(payload_map(value).get("cell_id"))

    async def dump_state(self, value: Any) -> tuple[str, Any]:
        cell_id = self._cell_of_request(value)
        peers = peer_views.peer_dump(self.runtime.agent_directory, cell_id.dna_hash, cell_id.agent)
        text = await self.runtime.in_worker(self._dump, views.state_dump_json, cell_id, peers)
        return "state_dumped", text

    async def dump_full_state(self, value: Any) -> tuple[str, Any]:
        cell_id = self._cell_of_request(value)
        field(payload_map(value), "dht_ops_cursor", int, required=False)
        peers = peer_views.peer_dump(self.runtime.agent_directory, cell_id.dna_hash, cell_id.agent)
        dump = await self.runtime.in_worker(self._dump, views.full_state_dump, cell_id, peers)
        return "full_state_dumped", dump

    def _dump(self, view: Callable[..., T], cell_id: CellId, peers: dict[str, Any]) -> T:
        self._require_cell(cell_id)
        return view(self.conductor, cell_id, peers)

    def _require_cell(self, cell_id: CellId) -> None:
        if not any(cell_id in views.all_cell_ids(a) for a in self.conductor.list_apps()):
            raise internal(f"no cell {cell_id} is installed")

    async def list_scheduled_functions(self, value: Any) -> tuple[str, Any]:
        cell_id = self._cell_of_request(value)

        def listed() -> list[dict[str, Any]]:
            self._require_cell(cell_id)
            return views.scheduled_functions(self.conductor, cell_id)

        return "scheduled_functions", await self.runtime.in_worker(listed)

    async def get_dna_definition(self, value: Any) -> tuple[str, Any]:
        # 0.21 sends a CellId; older clients sent the DnaHash alone
        if isinstance(value, list | tuple):
            dna_hash = cell_id_from_wire(value).dna_hash
        else:
            dna_hash = DnaHash(hash_from_wire(value, HashType.DNA))
        definition = await self.runtime.in_worker(views.dna_definition, self.conductor, dna_hash)
        return "dna_definition_returned", definition

    async def storage_info(self, value: Any) -> tuple[str, Any]:
        return "storage_info", await self.runtime.in_worker(views.storage_info, self.conductor)

    # -- network views ----------------------------------------------------------------------------
    async def agent_info(self, value: Any) -> tuple[str, Any]:
        dnas = peer_views.dna_filter(payload_map(value, optional=True).get("dna_hashes"))
        return "agent_info", peer_views.agent_infos(self.runtime.agent_directory, dnas)

    async def add_agent_info(self, value: Any) -> tuple[str, Any]:
        infos = field(payload_map(value), "agent_infos", list)
        added = peer_views.add_agent_infos(self.runtime.agent_directory, infos)
        log.info("added %d agent info(s)", added)
        return "agent_info_added", UNIT

    async def peer_meta_info(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        url = field(doc, "url", str)
        dnas = peer_views.dna_filter(doc.get("dna_hashes"))
        return "peer_meta_info", peer_views.peer_meta_info(self.runtime.agent_directory, url, dnas)

    async def dump_network_stats(self, value: Any) -> tuple[str, Any]:
        return "network_stats_dumped", peer_views.network_stats(self.runtime.peer_network)

    async def dump_network_metrics(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value, optional=True)
        field(doc, "include_dht_summary", bool, required=False)
        dna = doc.get("dna_hash")
        dnas = None if dna is None else {DnaHash(hash_from_wire(dna, HashType.DNA))}
        cells = await self.runtime.in_worker(self.conductor.running_cells)
        local = [(c.dna_hash, c.agent) for c in cells]
        metrics = peer_views.network_metrics(self.runtime.agent_directory, local, dnas)
        return "network_metrics_dumped", metrics

    # -- code updates, clones, agent keys -------------------------------------------------------
    async def update_coordinators(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        cell_id = cell_id_from_wire(doc.get("cell_id"))
        source = payload_map(doc.get("source"))

        def update() -> None:
            zomes = _coordinators_from_source(source)
            if not any(cell_id in views.all_cell_ids(a) for a in self.conductor.list_apps()):
                raise internal(f"no cell {cell_id} is installed")
            self.conductor.update_coordinators(cell_id.dna_hash, zomes)

        await self.runtime.in_worker(update)
        log.info("updated the coordinators of %s", cell_id)
        return "coordinators_updated", UNIT

    async def delete_clone_cell(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        app_id = field(doc, "app_id", str)
        ref = clone_ref_from_wire(doc.get("clone_cell_id"))
        await self.runtime.in_worker(self.conductor.delete_clone_cell, app_id, ref)
        return "clone_cell_deleted", UNIT

    async def revoke_agent_key(self, value: Any) -> tuple[str, Any]:
        doc = payload_map(value)
        agent = agent_from_wire(doc.get("agent_key"))
        app_id = field(doc, "app_id", str)
        failed = await self.runtime.in_worker(self.conductor.revoke_agent_key, app_id, agent)
        log.info("revoked the agent key of app %s", app_id)
        return "agent_key_revoked", [[cid.to_wire(), reason] for cid, reason in failed]


def _role_settings(roles_settings: dict[str, Any]) -> tuple[dict[str, str], dict[str, bytes]]:
    """Per-role network seeds and membrane proofs from ``roles_settings`` (properties and
    existing cells are refused)."""
    seeds: dict[str, str] = {}
    proofs: dict[str, bytes] = {}
    for role, setting in roles_settings.items():
        s = payload_map(setting)
        if s.get("type") == "use_existing":
            raise internal("use_existing roles are not supported by zomehost")
        if s.get("type") != "provisioned":
            raise deserialization()
        body = payload_map(s.get("value"), optional=True)
        modifiers = payload_map(body.get("modifiers"), optional=True)
        if modifiers.get("properties") is not None:
            raise internal("per-role DNA properties are not supported by zomehost")
        seed = field(modifiers, "network_seed", str, required=False)
        if seed is not None:
            seeds[str(role)] = seed
        if body.get("membrane_proof") is not None:
            proofs[str(role)] = as_bytes(body["membrane_proof"])
    return seeds, proofs


def _coordinators_from_source(source: dict[str, Any]) -> dict[str, bytes]:
    """``CoordinatorSource``: a packed coordinator bundle on disk, or the bundle inline."""
    stype = source.get("type")
    if stype == "path":
        path = Path(field(source, "value", str))
        bundle = Bundle.decode(
            read_bounded(path, MAX_BUNDLE_BYTES, BundleError, "the coordinator bundle at")
        )
        return coordinator_zomes(bundle.manifest, bundle.resources)
    if stype == "bundle":
        doc = payload_map(source.get("value"))
        resources = {
            k: as_bytes(v) for k, v in payload_map(doc.get("resources"), optional=True).items()
        }
        return coordinator_zomes(doc.get("manifest"), resources)
    raise deserialization()
