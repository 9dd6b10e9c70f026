"""A conductor's home directory: config, sealed keystore, LMDB store, module cache, lock."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import yaml

from zomehost.chain.store import DEFAULT_MAP_SIZE, MIN_MAP_SIZE
from zomehost.core import yamldoc
from zomehost.core.config_keys import bounds, bounds_of, check_keys, nested
from zomehost.core.files import read_bounded
from zomehost.core.json_form import shown
from zomehost.core.keystore import MAX_FILE_BYTES as MAX_KEYSTORE_BYTES
from zomehost.core.keystore import Keystore
from zomehost.core.limits import Admission, Limits, MemoryBudgets
from zomehost.errors import (
    ConductorError,
    HomeInUse,
    InvalidInput,
    KeystoreError,
    UnknownConfigKey,
)
from zomehost.network.config import NetworkConfig

CONFIG_NAME = "conductor-config.yaml"
KEYSTORE_NAME = "keystore.bin"
PASSPHRASE_ENV = "ZOMEHOST_PASSPHRASE"


def default_home() -> Path:
    return Path(os.environ.get("ZOMEHOST_HOME", Path.home() / ".zomehost"))


@dataclass(frozen=True)
class DashboardConfig:
    """``dashboard: {enabled: true, allow: []}``: served or not, and what it may do beyond
    reading (``apps``: enable and disable apps)."""

    enabled: bool = True
    allow: frozenset[str] = frozenset()

    ACTIONS = frozenset({"apps"})

    @classmethod
    def parse(cls, doc: Any) -> DashboardConfig:
        if not isinstance(doc, dict):
            raise ConductorError("dashboard: must be a mapping {enabled, allow}")
        check_keys(doc, ("enabled", "allow"), "dashboard.")
        enabled = doc.get("enabled", True)
        allow = doc.get("allow") or []
        if not isinstance(enabled, bool):
            raise ConductorError("dashboard.enabled must be true or false")
        if not isinstance(allow, list) or not all(
            isinstance(a, str) and a in cls.ACTIONS for a in allow
        ):
            raise ConductorError(f"dashboard.allow lists actions among {sorted(cls.ACTIONS)}")
        return cls(enabled, frozenset(allow))


@dataclass
class ConductorConfig:
    """``conductor-config.yaml``; every key is in docs/config.md (checked by a test that reads
    these fields, their bounds and their nested sections)."""

    admin_port: int = field(default=0, metadata=bounds(0, 65535))
    bind_address: str = "127.0.0.1"
    allowed_origins: list[str] = field(default_factory=lambda: ["*"])
    limits: Limits = field(default_factory=Limits, metadata=nested(Limits))
    # linear memory of all running calls, and what a worker thread keeps between calls
    memory_budget: MemoryBudgets = field(
        default_factory=MemoryBudgets, metadata=nested(MemoryBudgets)
    )
    # client calls waiting for or running on a worker, per cell and per connection
    admission: Admission = field(default_factory=Admission, metadata=nested(Admission))
    durable: bool = True
    # checked (and read by the peer service) as a NetworkConfig
    network: dict[str, Any] = field(default_factory=dict, metadata=nested(NetworkConfig))
    # the wasm boundary: "native", "fast" or "public" (None: $ZOMEHOST_BOUNDARY, else "native")
    boundary: str | None = None
    # the chain store (LMDB) map: its first size, grown before it fills, up to the maximum
    # (None: as far as the disk allows)
    map_size: int = field(default=DEFAULT_MAP_SIZE, metadata=bounds(MIN_MAP_SIZE))
    max_map_size: int | None = field(default=None, metadata=bounds(MIN_MAP_SIZE))
    # the web dashboard (docs/web-ui.md)
    dashboard: DashboardConfig = field(
        default_factory=DashboardConfig, metadata=nested(DashboardConfig)
    )

    @classmethod
    def load(cls, path: Path) -> ConductorConfig:
        """The config at ``path``; a wrong key or value is a ConductorError naming both."""
        if not path.exists():
            return cls()
        doc = yamldoc.read(path, ConductorError) or {}
        if not isinstance(doc, dict):
            raise ConductorError(f"{path}: the config must be a mapping")
        try:
            check_keys(doc, (f.name for f in fields(cls)))
            return cls._parse(doc, path)
        except UnknownConfigKey as exc:
            raise exc.in_file(path) from None

    @classmethod
    def _parse(cls, doc: dict[str, Any], path: Path) -> ConductorConfig:
        def value_of(key: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
            value = doc.get(key, default)
            if value is None and default is None:
                return None
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ConductorError(f"{path}: {key} must be {what}, not {shown(value, 60)}")
            return value

        for f in fields(cls):
            limit = bounds_of(f)
            if limit is not None and doc.get(f.name) is not None:
                try:
                    limit.check(f.name, doc[f.name], ConductorError)
                except ConductorError as exc:
                    raise ConductorError(f"{path}: {exc.message}") from None
        port = value_of("admin_port", (int,), 0, "a port number")
        origins = value_of("allowed_origins", (str, list), ["*"], "a string or a list of strings")
        origins = [origins] if isinstance(origins, str) else origins
        if not all(isinstance(o, str) for o in origins):
            raise ConductorError(f"{path}: allowed_origins must be a list of strings")
        boundary = value_of("boundary", (str,), None, "'native', 'fast' or 'public'")
        if boundary not in (None, "native", "fast", "public"):
            raise ConductorError(
                f"{path}: boundary must be 'native', 'fast' or 'public', not {shown(boundary)}"
            )
        try:
            limits = Limits.from_config(doc.get("limits"))
            memory_budget = MemoryBudgets.from_config(doc.get("memory_budget"))
            admission = Admission.from_config(doc.get("admission"))
        except UnknownConfigKey:
            raise
        except InvalidInput as exc:
            raise ConductorError(f"{path}: {exc.message}") from None
        network = value_of("network", (dict,), {}, "a mapping") or {}
        dashboard_doc = value_of("dashboard", (dict,), {}, "a mapping") or {}
        try:  # checked now, before anything starts, and named with its file
            NetworkConfig.from_doc(network)
            dashboard = DashboardConfig.parse(dashboard_doc)
        except UnknownConfigKey:
            raise
        except ConductorError as exc:
            raise ConductorError(f"{path}: {exc.message}") from None
        map_size = value_of("map_size", (int,), DEFAULT_MAP_SIZE, "a size in bytes")
        max_map_size = value_of("max_map_size", (int,), None, "a size in bytes")
        return cls(
            admin_port=port,
            bind_address=value_of("bind_address", (str,), "127.0.0.1", "a host name or address"),
            allowed_origins=list(origins),
            limits=limits,
            memory_budget=memory_budget,
            admission=admission,
            durable=value_of("durable", (bool,), True, "true or false"),
            network=dict(network),
            boundary=boundary,
            map_size=map_size,
            max_map_size=max_map_size,
            dashboard=dashboard,
        )

    def dump(self) -> str:
        doc = {
            "admin_port": self.admin_port,
            "bind_address": self.bind_address,
            "allowed_origins": self.allowed_origins,
            "durable": self.durable,
            "limits": {},
            "memory_budget": {},
            "admission": {},
            "network": self.network,
        }
        header = "# zomehost conductor config (see docs/config.md)\n"
        return header + yaml.safe_dump(doc, sort_keys=False)


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().resolve()
        self._lock_file: IO[str] | None = None

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def keystore_path(self) -> Path:
        return self.path / KEYSTORE_NAME

    @property
    def data_path(self) -> Path:
        return self.path / "data"

    @property
    def cache_path(self) -> Path:
        return self.path / "cache" / "wasm"

    def exists(self) -> bool:
        return self.keystore_path.exists()

    def init(self, passphrase: str, config: ConductorConfig | None = None) -> Keystore:
        if self.exists():
            raise ConductorError(f"{self.path} is already a zomehost home")
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        if not self.config_path.exists():
            self.config_path.write_text((config or ConductorConfig()).dump())
        ks = Keystore.create(passphrase)
        self.save_keystore(ks)
        return ks

    def config(self) -> ConductorConfig:
        return ConductorConfig.load(self.config_path)

    def open_keystore(self, passphrase: str) -> Keystore:
        if not self.exists():
            raise ConductorError(f"{self.path} is not a zomehost home: run `zomehost init` first")
        path = self.keystore_path
        data = read_bounded(path, MAX_KEYSTORE_BYTES, KeystoreError)
        try:
            return Keystore.unseal(data, passphrase)
        except KeystoreError as exc:  # the same kind, naming the file
            raise type(exc)(f"{path}: {exc.message}") from None

    def save_keystore(self, ks: Keystore) -> None:
        tmp = self.keystore_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, ks.seal())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.keystore_path)

    def lock(self) -> None:
        """Take the home's run lock: one conductor process per home."""
        if not self.exists():
            raise ConductorError(f"{self.path} is not a zomehost home: run `zomehost init` first")
        f = open(self.path / "conductor.lock", "a+")  # noqa: SIM115 - held for the process
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip()
            f.close()
            url = self._admin_url(pid)
            raise HomeInUse(
                f"a conductor (pid {pid or '?'}) is running on {self.path}", pid, url
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def _admin_url(self, pid: str) -> str | None:
        """Where the process holding the home listens for admin calls, if it says so."""
        try:
            run = json.loads((self.path / "run.json").read_text())
        except (OSError, ValueError):
            return None
        if str(run.get("pid")) == pid and isinstance(run.get("admin_port"), int):
            return f"ws://127.0.0.1:{run['admin_port']}"
        return None

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def passphrase_from_env() -> str | None:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is not None and not value:
        raise KeystoreError(f"{PASSPHRASE_ENV} is set but empty")
    return value
