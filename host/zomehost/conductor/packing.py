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
from zomehost.core.web_bundle import (
    MAX_UI_FILE_BYTES,
    MAX_UI_FILES,
    UI_RESOURCE,
    UiFiles,
    WebAppBundle,
    WebAppManifest,
)
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
    name, data = read_app_dir(path)
    out = output or Path(f"{name}.happ")
    out.write_bytes(data)
    return out


def read_app_dir(path: Path) -> tuple[str, bytes]:
    """The app's name and its packed ``.happ`` bundle."""
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
    return manifest.name, Bundle(packed.to_doc(), resources).encode()


def _read_at_most(path: Path, limit: int, what: str) -> bytes:
    """A file's bytes, refused by its size before reading (no ``limit``-sized buffer)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BundleError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    if size > limit:
        raise BundleError(f"{what} {path}: over {limit} bytes")
    return read_bounded(path, size, BundleError, what)


def read_ui_dir(path: Path) -> UiFiles:
    """A UI folder (``index.html`` at its root) or a ``.zip`` of one, checked as at install.

    Symbolic links are refused: what is packed is exactly the folder's own files. Sizes
    and counts are checked before anything big is read."""
    path = path.expanduser()
    if path.is_file():
        return UiFiles.from_zip(_read_at_most(path, MAX_BUNDLE_BYTES, "ui zip"))
    if not path.is_dir():
        raise BundleError(f"no ui folder or .zip at {path}")
    files: dict[str, bytes] = {}
    for file in sorted(path.rglob("*")):
        if file.is_symlink():
            raise BundleError(f"ui file {file} is a symbolic link: refused")
        if file.is_file():
            if len(files) >= MAX_UI_FILES:
                raise BundleError(f"a ui has at most {MAX_UI_FILES} files")
            data = _read_at_most(file, MAX_UI_FILE_BYTES, "ui file")
            files[file.relative_to(path).as_posix()] = data
    return UiFiles.from_files(files)


def pack_web_app_dir(path: Path, output: Path | None) -> Path:
    """Pack ``web-happ.yaml`` (its hApp as a folder or a ``.happ``, its UI as a folder or a
    ``.zip``) into one ``.webhapp`` file."""
    manifest_path = _manifest_file(path, "web-happ.yaml")
    manifest = WebAppManifest.parse(yamldoc.read(manifest_path, BundleError))
    happ_path = (manifest_path.parent / manifest.happ_path).resolve()
    if happ_path.suffix == ".happ" and happ_path.is_file():
        happ = _read_at_most(happ_path, MAX_BUNDLE_BYTES, "happ")
    else:
        happ = read_app_dir(happ_path)[1]
    ui = read_ui_dir(manifest_path.parent / manifest.ui_path)
    packed = WebAppManifest(manifest.name, UI_RESOURCE, f"{manifest.name}.happ")
    data = Bundle(packed.to_doc(), {packed.happ_path: happ, UI_RESOURCE: ui.to_zip()}).encode()
    WebAppBundle.decode(data)  # refuse now what an install would refuse
    out = output or Path(f"{manifest.name}.webhapp")
    out.write_bytes(data)
    return out
