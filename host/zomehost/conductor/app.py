"""Installed apps and the cells they run, as the conductor keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zomehost.core.hash import AgentPubKey, CellId, DnaHash


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
    def from_state(cls, doc: dict[str, Any]) -> InstalledApp:
        return cls(
            app_id=doc["app_id"],
            agent=AgentPubKey(doc["agent"]),
            status=AppStatus(doc["status"]),
            roles={r: DnaHash(h) for r, h in doc["roles"].items()},
            manifest=doc["manifest"],
            installed_at=int(doc["installed_at"]),
            linked_apps=frozenset(doc.get("linked_apps", ())),
        )
