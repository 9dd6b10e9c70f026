"""The ``network:`` config section and the conductor's transport key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from zomehost.errors import ConductorError
from zomehost.network.config import NetworkConfig, load_transport_key


def test_defaults() -> None:
    cfg = NetworkConfig.from_doc(None)
    assert cfg.enabled and cfg.listen == "127.0.0.1:0"
    assert cfg.bootstrap_url is None and cfg.peers == []
    assert cfg.call_timeout_ms == 30_000


def test_a_full_config_is_accepted() -> None:
    cfg = NetworkConfig.from_doc(
        {
            "enabled": True,
            "listen": "0.0.0.0:7000",
            "advertise": "192.0.2.1:7000",
            "bootstrap_url": "http://127.0.0.1:8888",
            "peers": ["127.0.0.1:7001", {"address": "[::1]:7002"}],
            "call_timeout_ms": 5000,
            "agent_info_ttl_s": 600,
            "refresh_interval_s": 2.5,
            "max_frame_bytes": 8 * 1024 * 1024,
            "inbound_workers": 8,
            "network_id": "test-net",
        }
    )
    assert cfg.advertise == "192.0.2.1:7000" and cfg.inbound_workers == 8


def test_several_bootstraps_relays_and_a_relay_server() -> None:
    cfg = NetworkConfig.from_doc(
        {
            "bootstrap_url": "http://127.0.0.1:1",
            "bootstrap_urls": ["http://127.0.0.1:2", "http://127.0.0.1:1"],
            "reachable": False,
            "relays": ["127.0.0.1:3", "[::1]:4"],
            "relay_count": 1,
            "relay_server": {"listen": "127.0.0.1:0", "bytes_per_s": 1000, "max_clients": 3},
        }
    )
    assert cfg.bootstrap_urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert cfg.bootstrap_url == "http://127.0.0.1:1"
    assert not cfg.reachable and cfg.relays == ["127.0.0.1:3", "[::1]:4"]
    assert cfg.relay_server is not None and cfg.relay_server.limits.bytes_per_s == 1000
    assert cfg.relay_server.limits.max_clients == 3
    auto = NetworkConfig.from_doc({"reachable": "auto", "relays": ["127.0.0.1:3"]})
    assert auto.reachable == "auto"


@pytest.mark.parametrize(
    "doc",
    [
        {"listen_on": "x"},
        {"listen": "nohost"},
        {"listen": "127.0.0.1:70000"},
        {"advertise": "127.0.0.1"},
        {"bootstrap_url": "ftp://x"},
        {"peers": "127.0.0.1:1"},
        {"call_timeout_ms": 0},
        {"call_timeout_ms": "5s"},
        {"agent_info_ttl_s": 10**9},
        {"refresh_interval_s": 0},
        {"inbound_workers": True},
        {"bootstrap_urls": "http://127.0.0.1:1"},
        {"bootstrap_urls": ["http://127.0.0.1:1", "udp://x"]},
        {"bootstrap_urls": [f"http://127.0.0.1:{p}" for p in range(1, 10)]},
        {"relays": ["nohost"]},
        {"relays": "127.0.0.1:1"},
        {"relays": [7000]},
        {"bootstrap_urls": [8888]},
        {"reachable": False},
        {"reachable": "no", "relays": ["127.0.0.1:1"]},
        {"reachable": "auto"},
        {"relay_count": 0},
        {"relay_count": 5},
        {"gossip_peers": -1},
        {"max_agent_infos_per_dna": 1},
        {"relay_server": "0.0.0.0:1"},
        {"relay_server": {"listen": "x"}},
        {"relay_server": {"bytes_per_s": 0}},
        {"relay_server": {"max_clients": True}},
        {"relay_server": {"open_to_all": True}},
    ],
)
def test_bad_configs_are_refused_with_the_key_named(doc: dict[str, Any]) -> None:
    with pytest.raises(ConductorError, match="network"):
        NetworkConfig.from_doc(doc)


def test_transport_key_is_made_once_private_and_stable(tmp_path: Path) -> None:
    key = load_transport_key(tmp_path)
    path = tmp_path / "transport.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert bytes(load_transport_key(tmp_path)) == bytes(key)
    os.chmod(path, 0o644)
    load_transport_key(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"short")
    with pytest.raises(ConductorError, match="damaged"):
        load_transport_key(tmp_path)
    path.unlink()
    path.symlink_to("/dev/zero")  # read up to one byte past a seed, not forever
    with pytest.raises(ConductorError, match="damaged"):
        load_transport_key(tmp_path)
