"""The network views both interfaces answer (an app interface for its own DNAs only)."""

from __future__ import annotations

from typing import Any

from zomehost.client.base import WsClient
from zomehost.core.hash import DnaHash


class NetworkViews(WsClient):
    async def agent_info(self, dna_hashes: list[DnaHash] | None = None) -> list[str]:
        """The signed agent infos the conductor knows (JSON text each)."""
        wire = None if dna_hashes is None else [h.raw for h in dna_hashes]
        infos: list[str] = await self.request("agent_info", {"dna_hashes": wire})
        return infos

    async def peer_meta_info(
        self, url: str, dna_hashes: list[DnaHash] | None = None
    ) -> dict[str, Any]:
        wire = None if dna_hashes is None else [h.raw for h in dna_hashes]
        meta: dict[str, Any] = await self.request(
            "peer_meta_info", {"url": url, "dna_hashes": wire}
        )
        return meta

    async def dump_network_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.request("dump_network_stats")
        return stats

    async def dump_network_metrics(
        self, dna_hash: DnaHash | None = None, *, include_dht_summary: bool = False
    ) -> dict[str, Any]:
        metrics: dict[str, Any] = await self.request(
            "dump_network_metrics",
            {
                "dna_hash": None if dna_hash is None else dna_hash.raw,
                "include_dht_summary": include_dht_summary,
            },
        )
        return metrics
