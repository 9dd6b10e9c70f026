"""The network's settings (``network:`` in conductor-config.yaml) and transport identity.

Every key is checked when the conductor starts, with an error naming the key; the meaning
of each is documented in docs/network.md.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nacl.signing

from zomehost.core.config_keys import bounds, bounds_of, check_keys, nested
from zomehost.core.json_form import shown
from zomehost.errors import ConductorError
from zomehost.network.agent_info import DEFAULT_TTL_S, MAX_RELAYS, MAX_TTL_US, parse_address
from zomehost.network.bootstrap import BootstrapClient
from zomehost.network.directory import MAX_PER_DNA, MAX_TOTAL
from zomehost.network.errors import AgentInfoError
from zomehost.network.gossip import DEFAULT_FANOUT
from zomehost.network.relay import RelayLimits
from zomehost.network.transport import DEFAULT_MAX_FRAME

TRANSPORT_KEY_NAME = "transport.key"
MAX_BOOTSTRAPS = 8
MAX_RELAY_ADDRESSES = 32


@dataclass
class RelayServerConfig:
    """``network.relay_server``: this conductor also relays for others (docs/network.md);
    its keys are ``listen`` and those of :class:`RelayLimits`, side by side."""

    listen: str = "0.0.0.0:0"
    limits: RelayLimits = field(
        default_factory=RelayLimits, metadata=nested(RelayLimits, inline=True)
    )

    @classmethod
    def from_doc(cls, doc: Any) -> RelayServerConfig:
        if not isinstance(doc, dict):
            raise ConductorError("network.relay_server must be a map")
        limit_fields = dataclasses.fields(RelayLimits)
        check_keys(doc, ["listen", *(f.name for f in limit_fields)], "network.relay_server.")
        cfg = cls()
        if doc.get("listen") is not None:
            cfg.listen = str(doc["listen"])
            listen_parts(cfg.listen)
        for f in limit_fields:
            if f.name in doc:
                bounds = bounds_of(f)
                assert bounds is not None  # every relay limit is bounded
                bounds.check(f"network.relay_server.{f.name}", doc[f.name], ConductorError)
                setattr(cfg.limits, f.name, doc[f.name])
        return cfg


@dataclass
class NetworkConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:0"
    advertise: str | None = None
    bootstrap_urls: list[str] = field(
        default_factory=list, metadata=bounds(0, MAX_BOOTSTRAPS, items=True)
    )
    peers: list[Any] = field(default_factory=list)
    call_timeout_ms: int = field(
        default=30_000, metadata=bounds(1, 1_800_000)
    )  # signed params expire in 50 min
    agent_info_ttl_s: int = field(
        default=DEFAULT_TTL_S, metadata=bounds(10, MAX_TTL_US // 1_000_000)
    )
    refresh_interval_s: float = field(default=5.0, metadata=bounds(0.1, 3600))
    max_frame_bytes: int = field(
        default=DEFAULT_MAX_FRAME, metadata=bounds(64 * 1024, 256 * 1024 * 1024)
    )
    inbound_workers: int = field(default=32, metadata=bounds(1, 1024))
    network_id: str = ""
    gossip_peers: int = field(default=DEFAULT_FANOUT, metadata=bounds(0, 64))
    max_agent_infos_per_dna: int = field(default=MAX_PER_DNA, metadata=bounds(10, MAX_TOTAL))
    relays: list[str] = field(
        default_factory=list, metadata=bounds(0, MAX_RELAY_ADDRESSES, items=True)
    )
    reachable: bool | Literal["auto"] = True
    """``auto``: register with ``relays`` and list them only if none of them can dial us."""
    relay_count: int = field(default=2, metadata=bounds(1, MAX_RELAYS))
    relay_server: RelayServerConfig | None = field(default=None, metadata=nested(RelayServerConfig))

    ALIASES = {"bootstrap_url": "the first of bootstrap_urls (the key of old configs)"}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> NetworkConfig:
        doc = dict(doc or {})
        check_keys(doc, [*(f.name for f in dataclasses.fields(cls)), *cls.ALIASES], "network.")
        for key, kind, what in (
            ("enabled", bool, "true or false"),
            ("listen", str, "host:port"),
            ("advertise", str, "host:port"),
            ("bootstrap_url", str, "http://host:port"),
            ("network_id", str, "a string"),
        ):
            if doc.get(key) is not None and not isinstance(doc[key], kind):
                raise ConductorError(f"network.{key} must be {what}, not {shown(doc[key], 60)}")
        cfg = cls()
        if "enabled" in doc:
            cfg.enabled = bool(doc["enabled"])
        if doc.get("listen") is not None:
            cfg.listen = str(doc["listen"])
            listen_parts(cfg.listen)
        if doc.get("advertise") is not None:
            cfg.advertise = str(doc["advertise"])
            try:
                parse_address(cfg.advertise)
            except AgentInfoError as exc:
                raise ConductorError(f"network.advertise: {exc.message}") from None
        lists = {
            "bootstrap_urls": doc.get("bootstrap_urls") or [],
            "relays": doc.get("relays") or [],
        }
        _check_bounds(cls, {**doc, **lists})  # every bounded key (null lists are empty)
        urls = lists["bootstrap_urls"]
        if doc.get("bootstrap_url"):
            urls = [doc["bootstrap_url"], *urls]
        for url in urls:
            if not isinstance(url, str):
                raise ConductorError(f"network.bootstrap_urls: {shown(url, 60)} is not a URL")
            try:
                BootstrapClient(str(url))
            except ValueError as exc:
                raise ConductorError(f"network.{exc}") from None
            if str(url) not in cfg.bootstrap_urls:
                cfg.bootstrap_urls.append(str(url))
        peers = doc.get("peers") or []
        if not isinstance(peers, list):
            raise ConductorError("network.peers must be a list")
        cfg.peers = peers
        for f in dataclasses.fields(cls):
            bounds = bounds_of(f)
            if bounds is not None and not bounds.items and f.name in doc:
                setattr(cfg, f.name, doc[f.name])
        cfg.refresh_interval_s = float(cfg.refresh_interval_s)
        relays = lists["relays"]
        for address in relays:
            if not isinstance(address, str):
                raise ConductorError(f"network.relays: {shown(address, 60)} is not host:port")
            try:
                parse_address(address)
            except AgentInfoError as exc:
                raise ConductorError(f"network.relays: {exc.message}") from None
        cfg.relays = [str(a) for a in relays]
        if "reachable" in doc:
            if not isinstance(doc["reachable"], bool) and doc["reachable"] != "auto":
                raise ConductorError("network.reachable must be true, false or auto")
            cfg.reachable = doc["reachable"]
        if cfg.reachable is not True and not cfg.relays:
            raise ConductorError("network.reachable: false or auto needs network.relays")
        if doc.get("relay_server") is not None:
            cfg.relay_server = RelayServerConfig.from_doc(doc["relay_server"])
        if "network_id" in doc:
            cfg.network_id = str(doc["network_id"])
        return cfg

    @property
    def bootstrap_url(self) -> str | None:
        """The first bootstrap service (the key of the same name, kept for old configs)."""
        return self.bootstrap_urls[0] if self.bootstrap_urls else None


def _check_bounds(cls: type, doc: dict[str, Any]) -> None:
    """Each bounded field of ``cls`` present in ``doc`` within its bounds."""
    for f in dataclasses.fields(cls):
        bounds = bounds_of(f)
        if bounds is not None and f.name in doc:
            bounds.check(f"network.{f.name}", doc[f.name], ConductorError)


def load_transport_key(home: Path) -> nacl.signing.SigningKey:
    """The conductor's transport identity: a 32-byte Ed25519 seed in ``home/transport.key``."""
    path = home / TRANSPORT_KEY_NAME
    try:
        seed = _read_seed(path)
    except FileNotFoundError:
        seed = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by someone else meanwhile
            seed = _read_seed(path)
        else:
            try:
                os.write(fd, seed)
                os.fsync(fd)
            finally:
                os.close(fd)
    if len(seed) != 32:
        raise ConductorError(f"{path} is damaged: expected a 32-byte key")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return nacl.signing.SigningKey(seed)


def _read_seed(path: Path) -> bytes:
    """At most one byte past a seed: a link to /dev/zero is refused, not read forever."""
    with path.open("rb") as f:
        return f.read(33)


def listen_parts(listen: str) -> tuple[str, int]:
    """``host:port`` to listen on; port 0 picks a free port."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConductorError(f"network.listen: expected host:port, got {shown(listen, 80)}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)
