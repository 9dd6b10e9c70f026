"""Conductor state as the conductor API shows it: AppInfo, statuses, grant infos.

Blocking (reads the store): call these on a worker thread (``runtime.in_worker``).
The shapes are Holochain's (docs/conductor-api.md §4.1, §5.1).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from zomehost.chain import schedules
from zomehost.conductor.app import (
    MAX_CLONES_PER_ROLE,
    AppStatus,
    CloneCell,
    InstalledApp,
    properties_bytes,
)
from zomehost.conductor.conductor import Conductor
from zomehost.core.action import ActionType, Record, SystemEntryType
from zomehost.core.api_wire import b64_hash, desensitized_grant, internal
from zomehost.core.bundle import DnaManifest
from zomehost.core.hash import CellId, DnaHash
from zomehost.core.query import ChainQueryFilter

# Why an app is disabled is API-level state (Holochain's DisabledAppReason); the conductor
# itself only knows enabled/disabled.
REASON_PREFIX = "api/disabled_reason/"
NEVER_STARTED = "never_started"
USER = "user"
AFTER_MEMPROOFS = "not_started_after_providing_memproofs"
SECRET_ENTRY_TYPES = frozenset({SystemEntryType.CAP_GRANT.value, SystemEntryType.CAP_CLAIM.value})


def set_disabled_reason(conductor: Conductor, app_id: str, reason: str | None) -> None:
    if reason is None:
        conductor.delete_setting(REASON_PREFIX + app_id)
    else:
        conductor.put_setting(REASON_PREFIX + app_id, reason)


def app_status(conductor: Conductor, app: InstalledApp) -> dict[str, Any]:
    if app.status is AppStatus.ENABLED:
        return {"type": "enabled"}
    if app.status is AppStatus.AWAITING_MEMPROOFS:
        return {"type": "awaiting_memproofs"}
    reason = conductor.setting(REASON_PREFIX + app.app_id) or USER
    if isinstance(reason, str) and reason.startswith("error:"):
        return {"type": "disabled", "value": {"type": "error", "value": reason[6:]}}
    return {"type": "disabled", "value": {"type": reason}}


def enable_app(conductor: Conductor, app_id: str) -> dict[str, Any]:
    """Enable an app and load every cell's DNA (a broken cell disables it again, with why)."""
    app = conductor.get_app(app_id)
    if app.status is AppStatus.AWAITING_MEMPROOFS:
        raise internal(f"app {app_id!r} is awaiting membrane proofs: provide them first")
    app = conductor.set_app_status(app_id, AppStatus.ENABLED)
    set_disabled_reason(conductor, app_id, None)
    try:
        for cid in app.cell_ids:
            conductor.cell(cid)
    except Exception as exc:
        conductor.set_app_status(app_id, AppStatus.DISABLED)
        set_disabled_reason(conductor, app_id, f"error:{exc}")
        raise internal(f"app {app_id!r} could not start: {exc}") from None
    return app_info(conductor, app)


def all_cell_ids(app: InstalledApp) -> list[CellId]:
    """Every cell the app has on disk: provisioned and clones, enabled or not."""
    if app.status is AppStatus.AWAITING_MEMPROOFS:
        return []
    return app.provisioned_cell_ids + [CellId(c.dna_hash, app.agent) for c in app.clones]


def cloned_cell(app: InstalledApp, clone: CloneCell) -> dict[str, Any]:
    """Holochain's ``ClonedCell``."""
    return clone.cloned_cell(app.agent)


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
                        "properties": properties_bytes(m.properties),
                    },
                    "name": m.name,
                },
            }
        ]
        cell_info[role] += [
            {"type": "cloned", "value": cloned_cell(app, c)} for c in app.clones if c.role == role
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
                    "clone_limit": MAX_CLONES_PER_ROLE,
                },
            }
        )
    return {
        "manifest_version": "0",
        "name": doc.get("name", app.app_id),
        "description": doc.get("description") or None,
        "roles": roles,
        "allow_deferred_memproofs": bool(doc.get("allow_deferred_memproofs", False)),
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


# -- state views (dump_state, dump_full_state, get_dna_definition, storage_info) -------------


def _chain_records(conductor: Conductor, cell_id: CellId) -> list[Record]:
    return conductor.source_chain(cell_id).records(ChainQueryFilter(include_entries=True))


def _entry(r: Record) -> dict[str, Any] | None:
    """A record's entry for a dump; capability entries hold secrets and are left out (their
    desensitized form is in ``grants`` / ``claims``)."""
    if r.entry is None or r.entry.entry_type in SECRET_ENTRY_TYPES:
        return None
    return {"entry_type": r.entry.entry_type, "entry": r.entry.content}


def source_chain_dump(conductor: Conductor, cell_id: CellId) -> dict[str, Any]:
    """Holochain's ``SourceChainJsonDump``: every record, oldest first, entries included."""
    records = [
        {
            "signature": r.signature,
            "action_address": r.action_hash.raw,
            "action": r.action.to_wire(),
            "entry": _entry(r),
        }
        for r in _chain_records(conductor, cell_id)
    ]
    return {"records": records, "published_ops_count": 0}


def full_state_dump(
    conductor: Conductor, cell_id: CellId, peer_dump: dict[str, Any]
) -> dict[str, Any]:
    """Holochain's ``FullStateDump``. zomehost has no DHT: the integration dump is empty."""
    return {
        "peer_dump": peer_dump,
        "source_chain_dump": source_chain_dump(conductor, cell_id),
        "integration_dump": {
            "validation_limbo": [],
            "integration_limbo": [],
            "integrated": [],
            "dht_ops_cursor": 0,
        },
    }


def state_dump_json(conductor: Conductor, cell_id: CellId, peer_dump: dict[str, Any]) -> str:
    """``dump_state``: JSON of ``[dump, summary]`` as Holochain sends it (the client parses it).

    Hashes are base64 strings, other bytes base64 too; the dump adds the cell's grants and
    claims, which a debug panel reads without decoding entries.
    """
    chain = conductor.source_chain(cell_id)
    dump = full_state_dump(conductor, cell_id, peer_dump)
    dump["grants"] = grant_infos(conductor, cell_id, include_revoked=True)
    dump["claims"] = [
        {"action_hash": h.raw, "tag": c.tag, "grantor": c.grantor.raw} for h, c in chain.claims()
    ]
    records = dump["source_chain_dump"]["records"]
    head = chain.head()
    summary = (
        f"cell {cell_id}: {len(records)} records, head "
        f"{head.action if head else None} at seq {head.seq if head else None}, "
        f"{len(dump['grants'])} grants, {len(dump['claims'])} claims"
    )
    return json.dumps([_jsonable(dump), summary])


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        if len(value) == 39 and value[:1] == b"\x84":
            return b64_hash(value)
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def dna_definition(conductor: Conductor, dna_hash: DnaHash) -> dict[str, Any]:
    """Holochain's ``DnaDef``. zomehost DNAs are not split: every zome is a coordinator (it
    can be replaced by ``update_coordinators``) and ``integrity_zomes`` is empty."""
    dna = conductor.dna_def(dna_hash)
    m = dna.manifest
    return {
        "name": m.name,
        "modifiers": {"network_seed": m.network_seed, "properties": properties_bytes(m.properties)},
        "lineage": [],
        "integrity_zomes": [],
        "coordinator_zomes": [
            [z.name, {"wasm_hash": h.raw, "dependencies": []}]
            for z, h in zip(m.zomes, dna.wasm_hashes)
        ],
    }


def storage_info(conductor: Conductor) -> dict[str, Any]:
    """Holochain's ``StorageInfo``: per DNA, the bytes of its cells' chains and the apps using
    it. zomehost keeps no DHT or cache store (those sizes are 0), and LMDB does not account
    disk per key: the ``_on_disk`` sizes are the stored bytes of the records."""
    sizes: dict[bytes, int] = {}
    used_by: dict[bytes, set[str]] = {}
    for app in conductor.list_apps():
        for cid in all_cell_ids(app):
            key = cid.dna_hash.raw
            used_by.setdefault(key, set()).add(app.app_id)
            sizes[key] = sizes.get(key, 0) + sum(
                len(r.action_bytes) + len(r.signature) + (len(r.entry.encode()) if r.entry else 0)
                for r in _chain_records(conductor, cid)
            )
    return {
        "blobs": [
            {
                "type": "dna",
                "value": {
                    "authored_data_size": sizes[key],
                    "authored_data_size_on_disk": sizes[key],
                    "dht_data_size": 0,
                    "dht_data_size_on_disk": 0,
                    "cache_data_size": 0,
                    "cache_data_size_on_disk": 0,
                    "used_by": sorted(used_by[key]),
                },
            }
            for key in sorted(sizes)
        ]
    }


def scheduled_functions(conductor: Conductor, cell_id: CellId) -> list[dict[str, Any]]:
    """A cell's scheduled functions, soonest first, as stored: ``{zome, fn, schedule,
    next_at}`` (``schedule``: what the function returned last, nil before its first run;
    ``next_at``: µs since the epoch). zomehost's own view: Holochain has none."""
    items = schedules.of_cell(conductor.store, cell_id.key)
    return [i.to_state() for i in sorted(items, key=lambda i: (i.next_at, i.zome, i.fn))]
