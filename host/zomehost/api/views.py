"""Conductor state as the conductor API shows it: AppInfo, statuses, grant infos.

Blocking (reads the store): call these on a worker thread (``runtime.in_worker``).
The shapes are Holochain's (docs/conductor-api.md §4.1, §5.1).
"""

from __future__ import annotations

from typing import Any

from zomehost.conductor.app import AppStatus, InstalledApp
from zomehost.conductor.conductor import Conductor
from zomehost.core.action import ActionType
from zomehost.core.api_wire import b64_hash, desensitized_grant
from zomehost.core.bundle import DnaManifest
from zomehost.core.codec import pack
from zomehost.core.hash import CellId
from zomehost.core.query import ChainQueryFilter

# Why an app is disabled is API-level state (Holochain's DisabledAppReason); the conductor
# itself only knows enabled/disabled.
REASON_PREFIX = "api/disabled_reason/"
NEVER_STARTED = "never_started"
USER = "user"


def set_disabled_reason(conductor: Conductor, app_id: str, reason: str | None) -> None:
    if reason is None:
        conductor.delete_setting(REASON_PREFIX + app_id)
    else:
        conductor.put_setting(REASON_PREFIX + app_id, reason)


def app_status(conductor: Conductor, app: InstalledApp) -> dict[str, Any]:
    if app.status is AppStatus.ENABLED:
        return {"type": "enabled"}
    reason = conductor.setting(REASON_PREFIX + app.app_id) or USER
    if isinstance(reason, str) and reason.startswith("error:"):
        return {"type": "disabled", "value": {"type": "error", "value": reason[6:]}}
    return {"type": "disabled", "value": {"type": reason}}


def _properties(value: Any) -> bytes:
    return pack(None if value in (None, {}) else value)


def app_info(conductor: Conductor, app: InstalledApp) -> dict[str, Any]:
    cell_info: dict[str, list[dict[str, Any]]] = {}
    manifests: dict[str, DnaManifest] = {}
    for role, dna_hash in app.roles.items():
        m = manifests[role] = conductor.dna_manifest(dna_hash)
        cell_info[role] = [
            {
                "type": "provisioned",
                "value": {
                    "cell_id": app.cell_id(role).to_wire(),
                    "dna_modifiers": {
                        "network_seed": m.network_seed,
                        "properties": _properties(m.properties),
                    },
                    "name": m.name,
                },
            }
        ]
    return {
        "installed_app_id": app.app_id,
        "cell_info": cell_info,
        "status": app_status(conductor, app),
        "agent_pub_key": app.agent.raw,
        "manifest": app_manifest(app, manifests),
        "installed_at": app.installed_at,
        "linked_apps": sorted(app.linked_apps),  # zomehost: apps it may call as their author
    }


def app_manifest(app: InstalledApp, manifests: dict[str, DnaManifest]) -> dict[str, Any]:
    doc = app.manifest
    roles: list[dict[str, Any]] = []
    for r in doc.get("roles") or []:
        name = r.get("name")
        dna = r.get("dna") or {}
        modifiers = dna.get("modifiers") or {}
        dna_hash = app.roles.get(name)
        roles.append(
            {
                "name": name,
                "provisioning": {"strategy": "create", "deferred": False},
                "dna": {
                    "path": dna.get("path"),
                    "modifiers": {
                        "network_seed": modifiers.get("network_seed"),
                        "properties": modifiers.get("properties"),
                    },
                    "installed_hash": b64_hash(dna_hash) if dna_hash is not None else None,
                    "clone_limit": 0,
                },
            }
        )
    return {
        "manifest_version": "0",
        "name": doc.get("name", app.app_id),
        "description": doc.get("description") or None,
        "roles": roles,
        "allow_deferred_memproofs": False,
        "bootstrap_url": None,
        "relay_url": None,
    }


def grant_infos(conductor: Conductor, cell_id: CellId, include_revoked: bool) -> list[Any]:
    """One cell's grants as ``CapGrantInfo`` (secrets never included)."""
    chain = conductor.source_chain(cell_id)
    stored = chain.grants(include_revoked=include_revoked)
    if not stored:
        return []
    created: dict[bytes, int] = {}
    revoked_at: dict[bytes, int] = {}
    for r in chain.records(ChainQueryFilter()):
        a = r.action
        created[r.action_hash.raw] = a.timestamp
        if a.type is ActionType.DELETE and a.deletes_address is not None:
            revoked_at.setdefault(a.deletes_address.raw, a.timestamp)
        if a.type is ActionType.UPDATE and a.original_action_address is not None:
            revoked_at.setdefault(a.original_action_address.raw, a.timestamp)
    return [
        {
            "cap_grant": desensitized_grant(g.grant),
            "action_hash": g.action_hash.raw,
            "created_at": created.get(g.action_hash.raw, 0),
            "revoked_at": revoked_at.get(g.action_hash.raw) if g.revoked else None,
        }
        for g in stored
    ]
