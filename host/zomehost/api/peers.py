"""The network as the conductor API shows it: agent infos, peer meta, transport stats.

Read from the peer service's directory and transport on the event loop (the directory is
loop-only). Holochain's shapes where the client's types define them; zomehost's agent
infos are its own signed records (``network.agent_info``), carried in a JSON string that
``add_agent_info`` takes back (docs/conductor-api.md §5.2).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from zomehost.api.registry import PeerNetwork
from zomehost.core.api_wire import b64_hash, deserialization, hash_from_wire, internal
from zomehost.core.hash import AgentPubKey, DnaHash, HashType
from zomehost.errors import ZomehostError
from zomehost.network.agent_info import SignedAgentInfo
from zomehost.network.directory import Directory

BACKEND = "zomehost-noise"


def dna_filter(value: Any) -> set[DnaHash] | None:
    """A request's optional ``dna_hashes``: None means every DNA."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise deserialization()
    return {DnaHash(hash_from_wire(v, HashType.DNA)) for v in value}


def agent_info_text(record: SignedAgentInfo) -> str:
    """One signed agent info as a JSON string (kitsune2's ``{agentInfo, signature}`` keys)."""
    info = record.info
    body = {
        "agent": b64_hash(info.agent),
        "space": b64_hash(info.dna_hash),
        "url": info.address,
        "transportId": base64.b64encode(info.transport_id).decode(),
        "createdAt": info.signed_at,
        "expiresAt": info.expires_at,
        "isTombstone": False,
    }
    return json.dumps(
        {
            "agentInfo": json.dumps(body),
            "signature": base64.b64encode(record.signature).decode(),
            "encoded": record.to_text(),
        }
    )


def agent_infos(directory: Directory, dnas: set[DnaHash] | None) -> list[str]:
    """The unexpired agent infos known (ours and peers'), of ``dnas`` or of every DNA."""
    return [agent_info_text(r) for r in directory.all() if dnas is None or r.info.dna_hash in dnas]


def parse_agent_infos(texts: list[Any]) -> list[SignedAgentInfo]:
    """Verify every text (as :func:`agent_info_text` writes it, or the bare ``encoded``
    form) before any is kept: one bad record refuses the whole request."""
    records: list[SignedAgentInfo] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise internal(f"agent info {i} is not a string")
        encoded: Any = text
        if text.lstrip().startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                raise internal(f"agent info {i} is not JSON") from None
            encoded = doc.get("encoded") if isinstance(doc, dict) else None
            if not isinstance(encoded, str):
                raise internal(f"agent info {i} carries no zomehost record (`encoded`)")
        try:
            records.append(SignedAgentInfo.from_text(encoded))
        except ZomehostError as exc:
            raise internal(f"agent info {i} refused: {exc.message}") from None
    return records


def add_agent_infos(directory: Directory, texts: list[Any]) -> int:
    """Keep verified agent infos in the directory; how many were new."""
    records = parse_agent_infos(texts)
    return sum(directory.put(r) for r in records)


def peer_meta_info(directory: Directory, url: str, dnas: set[DnaHash] | None) -> dict[str, Any]:
    """Per DNA, what is known of the peer at ``url``: one entry per agent reached there,
    its value the agent, valid until its agent info expires."""
    out: dict[str, dict[str, Any]] = {}
    for r in directory.all():
        info = r.info
        if info.address != url or (dnas is not None and info.dna_hash not in dnas):
            continue
        out.setdefault(b64_hash(info.dna_hash), {})[f"agent:{b64_hash(info.agent)}"] = {
            "meta_value": b64_hash(info.agent),
            "expires_at": info.expires_at,
        }
    return out


def network_stats(net: PeerNetwork | None) -> dict[str, Any]:
    """Holochain's ``ApiTransportStats``: per connection, the frames and bytes it carried
    each way since it opened (``network.transport.Traffic``)."""
    if net is None:
        return {
            "transport_stats": {"backend": BACKEND, "peer_urls": [], "connections": []},
            "blocked_message_counts": {},
        }
    connections = [
        {
            "pub_key": base64.b64encode(c.remote_identity).decode(),
            "send_message_count": c.traffic.sent_frames,
            "send_bytes": c.traffic.sent_bytes,
            "recv_message_count": c.traffic.received_frames,
            "recv_bytes": c.traffic.received_bytes,
            "opened_at_s": int(c.traffic.opened_at),
            "is_direct": True,
        }
        for c in net.transport.connections
    ]
    return {
        "transport_stats": {
            "backend": BACKEND,
            "peer_urls": [net.address] if net.address else [],
            "connections": connections,
        },
        "blocked_message_counts": {},
    }


def network_metrics(
    directory: Directory, local: list[tuple[DnaHash, AgentPubKey]], dnas: set[DnaHash] | None
) -> dict[str, Any]:
    """Holochain's ``NetworkMetrics`` per DNA of the running cells. zomehost has no gossip or
    DHT: fetch and gossip state are empty, every local agent's arc is the full ring."""
    out: dict[str, Any] = {}
    for dna, agent in local:
        if dnas is not None and dna not in dnas:
            continue
        entry = out.setdefault(
            b64_hash(dna),
            {
                "fetch_state_summary": {"pending_requests": {}, "peers_on_backoff": {}},
                "gossip_state_summary": {
                    "initiated_round": None,
                    "accepted_rounds": [],
                    "dht_summary": {},
                    "peer_meta": {},
                },
                "local_agents": [],
            },
        )
        full = [0, 0xFFFFFFFF]
        entry["local_agents"].append({"agent": agent.raw, "storage_arc": full, "target_arc": full})
    for dna_b64, entry in out.items():
        peers = entry["gossip_state_summary"]["peer_meta"]
        for r in directory.all():
            if b64_hash(r.info.dna_hash) == dna_b64:
                peers[r.info.address] = {}
    return out


def peer_dump(directory: Directory, dna: DnaHash, agent: AgentPubKey) -> dict[str, Any]:
    """Holochain's ``P2pAgentsDump`` for one cell."""
    records = [r for r in directory.all() if r.info.dna_hash == dna]
    mine = next((r for r in records if r.info.agent == agent), None)

    def dump(r: SignedAgentInfo) -> dict[str, Any]:
        return {
            "kitsune_agent": r.info.agent.raw,
            "kitsune_space": dna.raw,
            "dump": agent_info_text(r),
        }

    return {
        "this_agent_info": dump(mine) if mine else None,
        "this_dna": [dna.raw, dna.raw],
        "this_agent": [agent.raw, agent.raw],
        "peers": [dump(r) for r in records if r is not mine],
    }
