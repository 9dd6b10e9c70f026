"""``AdminClient``: the conductor's admin interface from Python (asyncio)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zomehost.client.base import DEFAULT_ORIGIN, DEFAULT_TIMEOUT, WsClient
from zomehost.client.network_views import NetworkViews
from zomehost.client.signing import (
    SIGNING_KEY_TAG,
    SigningCredentials,
    set_signing_credentials,
)
from zomehost.core.api_wire import ADMIN_MAX_MESSAGE, clone_ref_to_wire, grant_to_api
from zomehost.core.capability import AccessKind, CapAccess, GrantedFunctions, ZomeCallCapGrant
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash


class AdminClient(NetworkViews, WsClient):
    """``async with await AdminClient.connect("ws://127.0.0.1:PORT") as admin: ...``

    Every method sends one request and returns the response value as decoded msgpack
    (hashes as 39-byte ``bytes``; AppInfo as a dict, docs/conductor-api.md §4.1). Failures
    raise :class:`~zomehost.client.ConductorApiError` with the wire ``kind``.
    """

    @classmethod
    async def connect(
        cls, url: str, *, origin: str | None = DEFAULT_ORIGIN, timeout: float = DEFAULT_TIMEOUT
    ) -> AdminClient:
        client = cls(url, timeout)
        await client.open(origin, ADMIN_MAX_MESSAGE)
        return client

    # -- keys and apps ------------------------------------------------------------------------
    async def generate_agent_pub_key(self) -> AgentPubKey:
        return AgentPubKey(await self.request("generate_agent_pub_key"))

    async def install_app(
        self,
        *,
        path: str | Path | None = None,
        bundle: bytes | None = None,
        installed_app_id: str | None = None,
        agent_key: AgentPubKey | None = None,
        network_seed: str | None = None,
    ) -> dict[str, Any]:
        """Install from a .happ path on the conductor's machine, or from the bundle's bytes."""
        if (path is None) == (bundle is None):
            raise ValueError("give exactly one of path= and bundle=")
        source = (
            {"type": "path", "value": str(path)}
            if path is not None
            else {"type": "bytes", "value": bundle}
        )
        payload: dict[str, Any] = {"source": source}
        if installed_app_id is not None:
            payload["installed_app_id"] = installed_app_id
        if agent_key is not None:
            payload["agent_key"] = agent_key.raw
        if network_seed is not None:
            payload["network_seed"] = network_seed
        info: dict[str, Any] = await self.request("install_app", payload)
        return info

    async def enable_app(self, installed_app_id: str) -> dict[str, Any]:
        info: dict[str, Any] = await self.request(
            "enable_app", {"installed_app_id": installed_app_id}
        )
        return info

    async def disable_app(self, installed_app_id: str) -> None:
        await self.request("disable_app", {"installed_app_id": installed_app_id})

    async def uninstall_app(self, installed_app_id: str, *, force: bool = False) -> None:
        await self.request("uninstall_app", {"installed_app_id": installed_app_id, "force": force})

    async def list_apps(self, status_filter: str | None = None) -> list[dict[str, Any]]:
        value = {"status_filter": status_filter} if status_filter else {}
        apps: list[dict[str, Any]] = await self.request("list_apps", value)
        return apps

    async def list_cell_ids(self) -> list[CellId]:
        return [CellId.from_wire(c) for c in await self.request("list_cell_ids")]

    async def list_dnas(self) -> list[DnaHash]:
        return [DnaHash(h) for h in await self.request("list_dnas")]

    # -- app interfaces and tokens ------------------------------------------------------------
    async def attach_app_interface(
        self,
        *,
        port: int = 0,
        allowed_origins: str = "*",
        installed_app_id: str | None = None,
    ) -> int:
        payload: dict[str, Any] = {"port": port, "allowed_origins": allowed_origins}
        if installed_app_id is not None:
            payload["installed_app_id"] = installed_app_id
        return int((await self.request("attach_app_interface", payload))["port"])

    async def list_app_interfaces(self) -> list[dict[str, Any]]:
        ifaces: list[dict[str, Any]] = await self.request("list_app_interfaces")
        return ifaces

    async def issue_app_authentication_token(
        self, installed_app_id: str, *, expiry_seconds: int = 30, single_use: bool = True
    ) -> bytes:
        issued = await self.request(
            "issue_app_authentication_token",
            {
                "installed_app_id": installed_app_id,
                "expiry_seconds": expiry_seconds,
                "single_use": single_use,
            },
        )
        return bytes(issued["token"])

    async def revoke_app_authentication_token(self, token: bytes) -> None:
        await self.request("revoke_app_authentication_token", list(token))

    # -- capabilities -------------------------------------------------------------------------
    async def grant_zome_call_capability(
        self, cell_id: CellId, grant: ZomeCallCapGrant
    ) -> ActionHash:
        raw = await self.request(
            "grant_zome_call_capability",
            {"cell_id": cell_id.to_wire(), "cap_grant": grant_to_api(grant)},
        )
        return ActionHash(raw)

    async def revoke_zome_call_capability(self, cell_id: CellId, action_hash: ActionHash) -> None:
        await self.request(
            "revoke_zome_call_capability",
            {"cell_id": cell_id.to_wire(), "action_hash": action_hash.raw},
        )

    async def list_capability_grants(
        self, installed_app_id: str, *, include_revoked: bool = False
    ) -> list[Any]:
        grants: list[Any] = await self.request(
            "list_capability_grants",
            {"installed_app_id": installed_app_id, "include_revoked": include_revoked},
        )
        return grants

    async def authorize_signing_credentials(
        self, cell_id: CellId, functions: GrantedFunctions | None = None
    ) -> SigningCredentials:
        """What ``authorizeSigningCredentials`` does: new key + secret, one assigned grant.

        The credentials are also remembered for the cell in this process, so an
        :class:`AppClient` signs calls to it without being told (like the JS client).
        """
        creds = SigningCredentials.generate()
        grant = ZomeCallCapGrant(
            SIGNING_KEY_TAG,
            CapAccess(AccessKind.ASSIGNED, creds.cap_secret, frozenset({creds.provenance})),
            functions or GrantedFunctions(None),
        )
        await self.grant_zome_call_capability(cell_id, grant)
        set_signing_credentials(cell_id, creds)
        return creds

    # -- state views (issue 19) -------------------------------------------------------------
    async def dump_state(self, cell_id: CellId) -> str:
        """JSON text of ``[dump, summary]``: the cell's records, grants and claims."""
        text: str = await self.request("dump_state", {"cell_id": cell_id.to_wire()})
        return text

    async def dump_full_state(self, cell_id: CellId) -> dict[str, Any]:
        dump: dict[str, Any] = await self.request("dump_full_state", {"cell_id": cell_id.to_wire()})
        return dump

    async def get_dna_definition(self, cell_id: CellId) -> dict[str, Any]:
        definition: dict[str, Any] = await self.request("get_dna_definition", cell_id.to_wire())
        return definition

    async def storage_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await self.request("storage_info")
        return info

    async def list_scheduled_functions(self, cell_id: CellId) -> list[dict[str, Any]]:
        """The cell's scheduled functions, soonest first: ``{zome, fn, schedule, next_at}``
        (``next_at`` in µs since the epoch; ``schedule`` what the function returned last)."""
        listed: list[dict[str, Any]] = await self.request(
            "list_scheduled_functions", {"cell_id": cell_id.to_wire()}
        )
        return listed

    # -- network views (agent_info, peer_meta_info, stats: NetworkViews) ----------------
    async def add_agent_info(self, agent_infos: list[str]) -> None:
        await self.request("add_agent_info", {"agent_infos": agent_infos})

    # -- code updates, clones, agent keys ---------------------------------------------------
    async def update_coordinators(
        self, cell_id: CellId, zomes: dict[str, bytes] | None = None, *, path: str | None = None
    ) -> None:
        """Swap zomes (name -> wasm) of the cell's DNA in place, or from a packed bundle file."""
        if (zomes is None) == (path is None):
            raise ValueError("give exactly one of zomes and path=")
        if path is not None:
            source: dict[str, Any] = {"type": "path", "value": str(path)}
        else:
            assert zomes is not None
            source = {
                "type": "bundle",
                "value": {
                    "manifest": {"zomes": [{"name": n, "path": f"{n}.wasm"} for n in zomes]},
                    "resources": {f"{n}.wasm": w for n, w in zomes.items()},
                },
            }
        await self.request("update_coordinators", {"cell_id": cell_id.to_wire(), "source": source})

    async def delete_clone_cell(self, app_id: str, clone: str | DnaHash) -> None:
        """Erase a disabled clone cell and its chain (by clone id or DNA hash)."""
        await self.request(
            "delete_clone_cell", {"app_id": app_id, "clone_cell_id": clone_ref_to_wire(clone)}
        )

    async def revoke_agent_key(self, agent_key: AgentPubKey, app_id: str) -> list[Any]:
        """Revoke the app's agent key; returns ``[cell_id, error]`` for cells where it failed."""
        failed: list[Any] = await self.request(
            "revoke_agent_key", {"agent_key": agent_key.raw, "app_id": app_id}
        )
        return failed
