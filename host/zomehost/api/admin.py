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
from typing import Any

from zomehost.api import views
from zomehost.api.registry import InterfaceRegistry, Runtime
from zomehost.conductor.app import AppStatus
from zomehost.core.api_wire import (
    UNIT,
    agent_from_wire,
    as_bytes,
    cell_id_from_wire,
    deserialization,
    field,
    grant_from_api,
    hash_from_wire,
    internal,
    payload_map,
)
from zomehost.core.bundle import MAX_BUNDLE_BYTES
from zomehost.core.files import read_bounded
from zomehost.core.hash import ActionHash, AgentPubKey, HashType
from zomehost.core.web_bundle import decode_installable
from zomehost.errors import BundleError

log = logging.getLogger("zomehost.api.admin")

Handler = Callable[[Any], Awaitable[tuple[str, Any]]]

# Admin requests Holochain has and zomehost does not implement: `internal_error`, not
# `deserialization` (the request is well formed, the feature is missing).
UNSUPPORTED = frozenset(
    {
        "add_admin_interfaces",
        "register_dna",
        "get_dna_definition",
        "update_coordinators",
        "delete_clone_cell",
        "dump_state",
        "dump_conductor_state",
        "dump_full_state",
        "dump_network_metrics",
        "dump_network_stats",
        "add_agent_info",
        "agent_info",
        "peer_meta_info",
        "get_compatible_cells",
        "revoke_agent_key",
        "storage_info",
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
        role_seeds = _role_seeds(roles_settings)
        links = field(doc, "linked_apps", list, required=False) or []
        if not all(isinstance(a, str) for a in links):
            raise deserialization()
        info = await self.runtime.in_worker(
            self._install, path, data, agent, app_id, seed, role_seeds, frozenset(links)
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
        links: frozenset[str],
    ) -> Any:
        if data is None:
            assert path is not None
            data = read_bounded(Path(path), MAX_BUNDLE_BYTES, BundleError, "the bundle at")
        parsed, _ = decode_installable(data)  # a .happ or a .webhapp
        roles = [r.name for r in parsed.manifest.roles]
        unknown = set(role_seeds) - set(roles)
        if unknown:
            raise internal(f"roles_settings names roles the app does not have: {sorted(unknown)}")
        if role_seeds:
            seeds = set(role_seeds.values())
            if len(seeds) > 1 or (len(roles) > 1 and set(role_seeds) != set(roles)):
                raise internal("per-role network seeds are not supported by zomehost")
            seed = seeds.pop()
        app_id = app_id or parsed.manifest.name
        c = self.conductor
        app = c.install_app(data, app_id, agent, seed, links)
        # Holochain's install does not enable: the app waits for enable_app.
        views.set_disabled_reason(c, app_id, views.NEVER_STARTED)
        app = c.set_app_status(app_id, AppStatus.DISABLED)
        log.info("installed app %s (agent %s)", app_id, app.agent)
        return views.app_info(c, app)

    async def enable_app(self, value: Any) -> tuple[str, Any]:
        app_id = field(payload_map(value), "installed_app_id", str)

        def enable() -> Any:
            c = self.conductor
            c.get_app(app_id)
            app = c.set_app_status(app_id, AppStatus.ENABLED)
            views.set_disabled_reason(c, app_id, None)
            try:
                for cid in app.cell_ids:
                    c.cell(cid)  # load each cell's DNA now: a broken cell fails here
            except Exception as exc:
                c.set_app_status(app_id, AppStatus.DISABLED)
                views.set_disabled_reason(c, app_id, f"error:{exc}")
                raise internal(f"app {app_id!r} could not start: {exc}") from None
            return views.app_info(c, app)

        info = await self.runtime.in_worker(enable)
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
                for cid in app.cell_ids
            ]

        return "capability_grants_info", await self.runtime.in_worker(grants)


def _role_seeds(roles_settings: dict[str, Any]) -> dict[str, str]:
    """Per-role network seeds from ``roles_settings`` (other modifiers are refused)."""
    seeds: dict[str, str] = {}
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
    return seeds
