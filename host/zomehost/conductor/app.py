"""Installed apps and the cells they run, as the conductor keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.errors import ConductorError, ZomehostError


class AppStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class InstalledApp:
    app_id: str
    agent: AgentPubKey
    status: AppStatus
    roles: dict[str, DnaHash]
    manifest: dict[str, Any]
    installed_at: int
    linked_apps: frozenset[str] = frozenset()
    """Apps whose cells this app's zomes may call as their author (declared at install)."""

    def cell_id(self, role: str) -> CellId:
        return CellId(self.roles[role], self.agent)

    @property
    def cell_ids(self) -> list[CellId]:
        return [CellId(d, self.agent) for d in self.roles.values()]

    def to_state(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "agent": self.agent.raw,
            "status": self.status.value,
            "roles": {r: h.raw for r, h in self.roles.items()},
            "manifest": self.manifest,
            "installed_at": self.installed_at,
            "linked_apps": sorted(self.linked_apps),
        }

    @classmethod
    def from_state(cls, doc: Any) -> InstalledApp:
        """An app as stored; a damaged record is a ConductorError, never a KeyError."""
        try:
            if not isinstance(doc, dict):
                raise TypeError("not a mapping")
            app_id, roles, manifest = doc["app_id"], doc["roles"], doc["manifest"]
            installed_at, linked = doc["installed_at"], doc.get("linked_apps", ())
            if not isinstance(app_id, str) or not isinstance(manifest, dict):
                raise TypeError("app_id or manifest of the wrong type")
            if not isinstance(roles, dict) or not all(isinstance(r, str) for r in roles):
                raise TypeError("roles is not a mapping of role names")
            if not isinstance(installed_at, int) or isinstance(installed_at, bool):
                raise TypeError("installed_at is not an integer")
            if not isinstance(linked, list | tuple) or not all(isinstance(a, str) for a in linked):
                raise TypeError("linked_apps is not a list of app ids")
            return cls(
                app_id=app_id,
                agent=AgentPubKey(doc["agent"]),
                status=AppStatus(doc["status"]),
                roles={r: DnaHash(h) for r, h in roles.items()},
                manifest=manifest,
                installed_at=installed_at,
                linked_apps=frozenset(linked),
            )
        except (KeyError, TypeError, ValueError, ZomehostError) as exc:
            what = doc.get("app_id") if isinstance(doc, dict) else None
            detail = exc.message if isinstance(exc, ZomehostError) else str(exc)
            raise ConductorError(
                f"the stored record of app {what!r:.80} is damaged: {detail}"
            ) from None
