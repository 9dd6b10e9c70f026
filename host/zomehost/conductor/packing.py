"""Packing bundle directories from disk (read manifests and wasm, write one-file bundles)
and unpacking bundles back into directories that pack to the same bytes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from zomehost.core import yamldoc
from zomehost.core.bundle import (
    MAX_BUNDLE_BYTES,
    MAX_INFLATED_BYTES,
    MAX_WASM_BYTES,
    AppBundle,
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
from zomehost.errors import BundleError, InvalidInput


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
        roles.append(dataclasses.replace(role, dna_path=key))
    packed = dataclasses.replace(manifest, roles=tuple(roles))
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


def unpack_dna(bundle: Path, directory: Path, *, force: bool = False) -> Path:
    """Write a ``.dna`` bundle as ``dna.yaml`` and one ``ZOME.wasm`` per zome in
    ``directory``; ``pack_dna_dir`` of it gives the same bundle bytes."""
    dna = DnaFile.from_bundle(_decoded(bundle))
    zomes = tuple(dataclasses.replace(z, path=f"{z.name}.wasm") for z in dna.manifest.zomes)
    manifest = dataclasses.replace(dna.manifest, zomes=zomes)
    files = {"dna.yaml": _yaml(manifest.to_doc())}
    files.update({z.path: w for z, w in zip(zomes, dna.wasm)})
    return _write_dir(files, directory, force)


def unpack_app(bundle: Path, directory: Path, *, force: bool = False) -> Path:
    """Write a ``.happ`` bundle as ``happ.yaml`` and one ``ROLE.dna`` bundle per role in
    ``directory``; ``pack_app_dir`` of it gives the same bundle bytes."""
    decoded = _decoded(bundle)
    app = AppBundle.from_bundle(decoded, MAX_INFLATED_BYTES - decoded.inflated_bytes)
    roles = tuple(dataclasses.replace(r, dna_path=f"{r.name}.dna") for r in app.manifest.roles)
    files = {"happ.yaml": _yaml(dataclasses.replace(app.manifest, roles=roles).to_doc())}
    for old, new in zip(app.manifest.roles, roles):
        files[new.dna_path] = decoded.resources[old.dna_path]  # checked by AppBundle
    return _write_dir(files, directory, force)


def unpack_web_app(bundle: Path, directory: Path, *, force: bool = False) -> Path:
    """Write a ``.webhapp`` bundle as ``web-happ.yaml``, its hApp as ``NAME.happ`` and its
    UI as ``ui.zip`` in ``directory``, each checked as an install checks it;
    ``pack_web_app_dir`` of it gives the same bundle bytes (``app unpack`` opens the .happ)."""
    web = WebAppBundle.from_bundle(_decoded(bundle))
    happ_name = f"{web.manifest.name}.happ"
    manifest = WebAppManifest(web.manifest.name, UI_RESOURCE, happ_name)
    files = {"web-happ.yaml": _yaml(manifest.to_doc()), happ_name: web.happ}
    files[UI_RESOURCE] = web.ui.to_zip()
    return _write_dir(files, directory, force)


def _decoded(path: Path) -> Bundle:
    return Bundle.decode(read_bounded(path.expanduser(), MAX_BUNDLE_BYTES, BundleError))


def _yaml(doc: dict[str, object]) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


def _write_dir(files: dict[str, bytes], directory: Path, force: bool) -> Path:
    """All of ``files`` in ``directory`` or none: they are written into a fresh directory
    beside it, then moved in. File names are zome and role names (``[A-Za-z0-9_-]``, checked
    by the manifests) plus a suffix, never a name taken from the bundle's resources."""
    directory = directory.expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory} exists and is not a directory")
    clashes = [n for n in files if (directory / n).exists() or (directory / n).is_symlink()]
    if any((directory / n).is_dir() and not (directory / n).is_symlink() for n in clashes):
        raise InvalidInput(f"{directory}: a directory is in the way of {', '.join(clashes)}")
    if clashes and not force:
        raise InvalidInput(
            f"{directory} already holds {', '.join(sorted(clashes))}: pass --force to overwrite"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for name, data in files.items():
            assert os.sep not in name and not name.startswith(".")  # names, not paths
            (staging / name).write_bytes(data)
        if not directory.exists():
            staging.rename(directory)
            return directory
        for name in files:  # each replaces a file (or a link) in place: never writes through
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
