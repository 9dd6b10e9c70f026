"""A conductor on a temporary home with zomes built from source: for the sandbox tests,
the fuzz targets, the latency benchmark and the crash-safety writer.

Zomes come from WAT files (``zomes/hostile/*.wat``), compiled with ``wasmtime.wat2wasm``,
so nothing here needs a Rust or AssemblyScript toolchain.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import wasmtime

from zomehost.conductor.app import InstalledApp
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.bundle import (
    AppManifest,
    Bundle,
    DnaFile,
    DnaManifest,
    RoleManifest,
)
from zomehost.core.codec import pack
from zomehost.core.hash import CellId
from zomehost.core.limits import Limits
from zomehost.core.zome_call import ZomeCall
from zomehost.ribosome.ribosome import Ribosome
from zomehost.testing.process import make_home as testing_home

REPO = Path(__file__).resolve().parents[3]
HOSTILE_DIR = REPO / "zomes" / "hostile"
PASSPHRASE = "sandbox-test-passphrase"
# The ways into a guest, by name: (boundary, instance reuse). Hostile suites run on each.
BOUNDARY_PATHS: dict[str, tuple[str, bool | None]] = {
    "native": ("native", True),  # the call in C (the default), reset instances reused
    "native-fresh": ("native", False),  # the same, a fresh instance per call
    "fast": ("fast", True),  # the C-API path through ctypes, reset instances reused
    "fast-fresh": ("fast", False),  # the C-API path, a fresh instance per call
    "public": ("public", None),  # wasmtime-py's public API (the fallback)
}


@functools.cache
def wat(name: str) -> bytes:
    """The wasm of ``zomes/hostile/<name>.wat`` (``name`` may hold a subdirectory)."""
    return bytes(wasmtime.wat2wasm((HOSTILE_DIR / f"{name}.wat").read_text()))


def dna(
    zomes: Mapping[str, bytes],
    *,
    name: str = "sandbox",
    seed: str = "",
    limits: Mapping[str, Any] | None = None,
) -> DnaFile:
    """A DNA of the given ``{zome name: wasm}``, with optional per-DNA ``limits``."""
    doc: dict[str, Any] = {
        "name": name,
        "integrity": {"network_seed": seed, "properties": {}, "zomes": []},
        "coordinator": {"zomes": [{"name": z, "path": f"{z}.wasm"} for z in zomes]},
    }
    if limits is not None:
        doc["limits"] = limits
    manifest = DnaManifest.parse(doc)
    return DnaFile(manifest, tuple(zomes.values()))


def app_bundle(roles: Mapping[str, DnaFile], name: str = "sandbox") -> bytes:
    manifest = AppManifest(name, "", tuple(RoleManifest(r, f"{r}.dna") for r in roles))
    resources = {f"{r}.dna": d.to_bundle().encode() for r, d in roles.items()}
    return Bundle(manifest.to_doc(), resources).encode()


def make_home(path: Path, limits: Mapping[str, Any] | None = None, durable: bool = False) -> Home:
    """A home with a cheap keystore (Argon2id's minimum cost) and the given conductor
    ``limits`` (``zomehost.testing.make_home`` with the fuzzers' passphrase)."""
    return Home(
        testing_home(
            path, passphrase=PASSPHRASE, network={}, limits=dict(limits or {}), durable=durable
        )
    )


class TestBed:
    """One conductor, and helpers to install WAT zomes and call them as the cell's author."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        path: Path,
        limits: Mapping[str, Any] | None = None,
        durable: bool = False,
        boundary: str | None = None,
    ) -> None:
        self.home = make_home(path, limits, durable)
        self.boundary = boundary
        self.conductor = self.open()
        self._apps = 0

    def open(self) -> Conductor:
        """Open (or re-open) the conductor on this home, on the chosen wasm boundary."""
        conductor = Conductor.open(self.home, PASSPHRASE)
        if self.boundary is not None:  # a BOUNDARY_PATHS name (default: the conductor's)
            kind, reuse = BOUNDARY_PATHS[self.boundary]
            conductor.ribosome = Ribosome(conductor.engine, kind, reuse)
        return conductor

    @property
    def limits(self) -> Limits:
        return self.conductor.config.limits

    def close(self) -> None:
        self.conductor.close()

    def install(
        self,
        zomes: Mapping[str, bytes],
        *,
        limits: Mapping[str, Any] | None = None,
        app_id: str | None = None,
        role: str = "main",
    ) -> CellId:
        """Install a one-role app of ``zomes`` (a fresh DNA each time); return its cell."""
        self._apps += 1
        app_id = app_id or f"app{self._apps}"
        d = dna(zomes, seed=app_id, limits=limits)
        app: InstalledApp = self.conductor.install_app(app_bundle({role: d}), app_id)
        return app.cell_id(role)

    def call(
        self,
        cell: CellId,
        zome: str,
        fn: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        timeout_ms: int | None = None,
    ) -> Any:
        data = raw if raw is not None else pack(payload)
        call = ZomeCall(cell, zome, fn, data, cell.agent, timeout_ms=timeout_ms)
        return self.conductor.call_zome(call)

    def chain_len(self, cell: CellId) -> int:
        return len(self.conductor.cell(cell).chain.records())
