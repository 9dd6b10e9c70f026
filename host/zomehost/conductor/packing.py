"""Packing bundle directories from disk: read manifests and wasm, write one-file bundles."""

from __future__ import annotations

from pathlib import Path

from zomehost.core import yamldoc
from zomehost.core.bundle import (
    MAX_BUNDLE_BYTES,
    MAX_WASM_BYTES,
    AppManifest,
    Bundle,
    DnaFile,
    DnaManifest,
)
from zomehost.core.files import read_bounded
from zomehost.core.hash import DnaHash
from zomehost.errors import BundleError


def _manifest_file(path: Path, name: str) -> Path:
    path = path.expanduser()
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise BundleError(f"no {name} at {path}")
    return path


def read_dna_dir(path: Path) -> DnaFile:
    manifest_path = _manifest_file(path, "dna.yaml")
    manifest = DnaManifest.parse(yamldoc.read(manifest_path, BundleError))
    wasm: list[bytes] = []
    for z in manifest.zomes:
        wasm_path = (manifest_path.parent / z.path).resolve()
        if not wasm_path.is_file():
            raise BundleError(
                f"zome {z.name!r}: wasm not found at {wasm_path} "
                "(build the zomes first: `just zomes`)"
            )
        wasm.append(read_bounded(wasm_path, MAX_WASM_BYTES, BundleError, f"zome {z.name!r}:"))
    # Inside the bundle, resources are keyed by zome name, not by local paths.
    zomes = tuple(type(z)(z.name, f"{z.name}.wasm") for z in manifest.zomes)
    return DnaFile(
        DnaManifest(
            manifest.name, manifest.network_seed, manifest.properties, zomes, manifest.limits
        ),
        tuple(wasm),
    )


def pack_dna_dir(path: Path, output: Path | None) -> tuple[Path, DnaHash]:
    dna = read_dna_dir(path)
    out = output or Path(f"{dna.manifest.name}.dna")
    out.write_bytes(dna.to_bundle().encode())
    return out, dna.hash


def pack_app_dir(path: Path, output: Path | None) -> Path:
    manifest_path = _manifest_file(path, "happ.yaml")
    manifest = AppManifest.parse(yamldoc.read(manifest_path, BundleError))
    resources: dict[str, bytes] = {}
    roles = []
    for role in manifest.roles:
        dna_path = (manifest_path.parent / role.dna_path).resolve()
        if dna_path.suffix == ".dna" and dna_path.is_file():
            blob = read_bounded(dna_path, MAX_BUNDLE_BYTES, BundleError, f"role {role.name!r}:")
            DnaFile.from_bundle(Bundle.decode(blob))  # refuse a broken bundle now, not at install
        else:
            blob = read_dna_dir(dna_path).to_bundle().encode()
        key = f"{role.name}.dna"
        resources[key] = blob
        roles.append(type(role)(role.name, key, role.network_seed, role.properties))
    packed = AppManifest(manifest.name, manifest.description, tuple(roles))
    out = output or Path(f"{manifest.name}.happ")
    out.write_bytes(Bundle(packed.to_doc(), resources).encode())
    return out
