"""Signed, expiring agent-info records: where an agent of a DNA can be reached.

An :class:`AgentInfo` says "agent A, running DNA D, is reachable at address X behind the
transport identity T, from ``signed_at`` until ``expires_at``". The AGENT signs it, so a
record proves the agent itself put its cell at that conductor; nobody else (not the
bootstrap service, not a relaying peer) can forge or alter one. Pure: bytes in, bytes out.

Wire form (``SignedAgentInfo.to_wire``)::

    {"info": bin, "signature": bin(64)}
    info = canonical msgpack of {agent: bin(39), dna: bin(39), address: str,
                                 transport_id: bin(32), signed_at: int, expires_at: int,
                                 [relays: [str]]}
    signature = Ed25519(agent, b"zomehost-agent-info/1\\x00" ‖ info)

``relays`` (present only when not empty, at most 4 ``host:port``) are relay services the
conductor is registered with: callers that cannot reach ``address`` go through one of them.

The verifier checks the signature over the bytes it *received* (never a re-encoding), then
the times: expired, dated too far ahead, or valid for longer than ``MAX_TTL_US`` are refused.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import nacl.signing

from zomehost.core.action import verify_signature
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack, pack_canonical, unpack
from zomehost.core.hash import AgentPubKey, DnaHash, HashType, dht_location
from zomehost.errors import ZomehostError
from zomehost.network.errors import AgentInfoError

SIGNATURE_LABEL = b"zomehost-agent-info/1\x00"
MAX_INFO_BYTES = 1024
"""An encoded record is a few hundred bytes; anything much larger is refused unread."""
MAX_ADDRESS_LEN = 255
MAX_TTL_US = 24 * 3600 * 1_000_000
"""No record may claim to be valid for more than a day."""
MAX_CLOCK_SKEW_US = 5 * 60 * 1_000_000
"""A record may be signed at most this far in the verifier's future."""
DEFAULT_TTL_S = 20 * 60
MAX_RELAYS = 4


@dataclass(frozen=True, slots=True)
class AgentInfo:
    agent: AgentPubKey
    dna_hash: DnaHash
    address: str  # "host:port" of the conductor's peer listener
    transport_id: bytes  # the conductor's Ed25519 transport identity (32 bytes)
    signed_at: int  # µs since the epoch
    expires_at: int  # µs since the epoch
    relays: tuple[str, ...] = ()  # "host:port" of relay services it is registered with

    def encode(self) -> bytes:
        doc: dict[str, Any] = {
            "agent": self.agent.raw,
            "dna": self.dna_hash.raw,
            "address": self.address,
            "transport_id": self.transport_id,
            "signed_at": self.signed_at,
            "expires_at": self.expires_at,
        }
        if self.relays:
            doc["relays"] = list(self.relays)
        return pack_canonical(doc)

    @classmethod
    def decode(cls, data: bytes) -> AgentInfo:
        try:
            doc: Any = unpack(data, max_len=MAX_INFO_BYTES, what="agent info")
            if not isinstance(doc, dict):
                raise AgentInfoError("an agent info is a map")
            address, tid = doc["address"], doc["transport_id"]
            signed_at, expires_at = doc["signed_at"], doc["expires_at"]
            if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS_LEN:
                raise AgentInfoError("agent info: bad address")
            parse_address(address)
            if not isinstance(tid, bytes) or len(tid) != 32:
                raise AgentInfoError("agent info: the transport id is a 32-byte key")
            if not isinstance(signed_at, int) or not isinstance(expires_at, int):
                raise AgentInfoError("agent info: times are integers (µs)")
            return cls(
                AgentPubKey(bytes(doc["agent"])),
                DnaHash(bytes(doc["dna"])),
                address,
                tid,
                signed_at,
                expires_at,
                _relays(doc["relays"]) if "relays" in doc else (),
            )
        except AgentInfoError:
            raise
        except ZomehostError as exc:
            raise AgentInfoError(f"agent info: {exc.message}") from None
        except (KeyError, TypeError, ValueError):
            raise AgentInfoError("agent info: missing or malformed fields") from None

    def sign(self, key: nacl.signing.SigningKey) -> SignedAgentInfo:
        if bytes(key.verify_key) != self.agent.ed25519:
            raise AgentInfoError("an agent info is signed by its own agent's key")
        data = self.encode()
        return SignedAgentInfo(self, data, bytes(key.sign(SIGNATURE_LABEL + data).signature))

    @classmethod
    def create(
        cls,
        key: nacl.signing.SigningKey,
        dna_hash: DnaHash,
        address: str,
        transport_id: bytes,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        now: int | None = None,
        relays: tuple[str, ...] = (),
    ) -> SignedAgentInfo:
        t = now_micros() if now is None else now
        agent = AgentPubKey(
            HashType.AGENT.value + bytes(key.verify_key) + dht_location(bytes(key.verify_key))
        )
        info = cls(agent, dna_hash, address, transport_id, t, t + int(ttl_s * 1_000_000), relays)
        return info.sign(key)


@dataclass(frozen=True, slots=True)
class SignedAgentInfo:
    info: AgentInfo
    data: bytes  # the exact signed bytes
    signature: bytes

    def to_wire(self) -> dict[str, bytes]:
        return {"info": self.data, "signature": self.signature}

    def to_text(self) -> str:
        """One line for configs and logs: base64url of the msgpack wire form."""
        return base64.urlsafe_b64encode(pack(self.to_wire())).rstrip(b"=").decode()

    @classmethod
    def from_text(cls, text: str, *, now: int | None = None) -> SignedAgentInfo:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (ValueError, TypeError):
            raise AgentInfoError("agent info text is not base64url") from None
        try:
            doc = unpack(raw, max_len=2 * MAX_INFO_BYTES, what="agent info")
        except ZomehostError as exc:
            raise AgentInfoError(exc.message) from None
        return verify_agent_info(doc, now=now)

    def expired(self, now: int | None = None) -> bool:
        return self.info.expires_at <= (now_micros() if now is None else now)


def verify_agent_info(wire: Any, *, now: int | None = None) -> SignedAgentInfo:
    """Check a received record: shape, the agent's signature, then its validity window."""
    if not isinstance(wire, dict):
        raise AgentInfoError("a signed agent info is a map {info, signature}")
    data, signature = wire.get("info"), wire.get("signature")
    if not isinstance(data, bytes) or len(data) > MAX_INFO_BYTES:
        raise AgentInfoError("signed agent info: info must be bytes")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise AgentInfoError("signed agent info: unsigned or malformed signature")
    info = AgentInfo.decode(data)
    if not verify_signature(info.agent, signature, SIGNATURE_LABEL + data):
        raise AgentInfoError(f"agent info for {info.agent} is not signed by that agent")
    t = now_micros() if now is None else now
    if info.expires_at <= t:
        raise AgentInfoError(f"agent info for {info.agent} has expired")
    if info.signed_at > t + MAX_CLOCK_SKEW_US:
        raise AgentInfoError(f"agent info for {info.agent} is dated in the future")
    if not info.signed_at < info.expires_at <= info.signed_at + MAX_TTL_US:
        raise AgentInfoError(f"agent info for {info.agent} has a bad validity window")
    return SignedAgentInfo(info, data, signature)


def _relays(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_RELAYS:
        raise AgentInfoError(f"agent info: relays are a list of 1 to {MAX_RELAYS} addresses")
    for address in value:
        if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS_LEN:
            raise AgentInfoError("agent info: bad relay address")
        parse_address(address)
    return tuple(value)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) → (host, port)."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise AgentInfoError(f"bad address {address!r:.80}: expected host:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise AgentInfoError(f"bad port in address {address!r:.80}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = [
    "AgentInfo",
    "SignedAgentInfo",
    "format_address",
    "parse_address",
    "verify_agent_info",
]
