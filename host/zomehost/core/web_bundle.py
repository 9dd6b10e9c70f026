"""Web-app bundles (``.webhapp``): a hApp plus the UI that a conductor serves for it.

The manifest follows Holochain's ``web-happ.yaml``::

    manifest_version: "1"
    name: ghostwriter
    ui: {bundled: ui.zip}                  # a zip of the UI folder (index.html at its root)
    happ_manifest: {bundled: ghostwriter.happ}

Packed, it is the same container as every bundle (:class:`~zomehost.core.bundle.Bundle`:
gzip of msgpack ``{manifest, resources}``, with the same size limits); its resources are the
``.happ`` bundle and the UI zip. The UI zip is unpacked into memory, bounded (file count,
each file's and the total inflated size, read incrementally so a lying header stops at the
limit) and its paths are checked one by one: the files a UI server serves are exactly the
ones named here, never a path a request makes up.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

from zomehost.core.bundle import MAX_INFLATED_BYTES, AppBundle, Bundle, _name, resource_name
from zomehost.errors import BundleError, InvalidInput

MAX_UI_FILES = 2048
MAX_UI_FILE_BYTES = 32 * 1024 * 1024
MAX_UI_BYTES = 64 * 1024 * 1024
MAX_UI_PATH = 255
UI_INDEX = "index.html"
UI_RESOURCE = "ui.zip"


def is_web_app_manifest(doc: Any) -> bool:
    """A ``web-happ.yaml`` document (it names a hApp), as opposed to a ``happ.yaml``."""
    return isinstance(doc, dict) and "happ_manifest" in doc


def _resource_path(doc: Any, what: str) -> str:
    if not isinstance(doc, dict):
        raise BundleError(f"{what} must be a mapping {{bundled: PATH}}")
    path = doc.get("bundled") or doc.get("path")
    if not isinstance(path, str) or not path:
        raise BundleError(f"{what} needs `bundled: PATH`")
    return path


@dataclass(frozen=True, slots=True)
class WebAppManifest:
    name: str
    ui_path: str  # resource key of the UI zip (or, before packing, a folder or .zip on disk)
    happ_path: str  # resource key of the .happ (or, before packing, a folder or .happ)

    @classmethod
    def parse(cls, doc: Any) -> WebAppManifest:
        if not isinstance(doc, dict):
            raise BundleError("web-happ manifest must be a mapping")
        name = _name(doc.get("name"), "web app name")
        return cls(
            name,
            _resource_path(doc.get("ui"), "ui"),
            _resource_path(doc.get("happ_manifest"), "happ_manifest"),
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "manifest_version": "1",
            "name": self.name,
            "ui": {"bundled": self.ui_path},
            "happ_manifest": {"bundled": self.happ_path},
        }


def ui_path(name: Any) -> str:
    """Check one file name of a UI: relative, ``/``-separated, no ``.``/``..``/empty parts,
    printable, at most :data:`MAX_UI_PATH` characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_UI_PATH:
        raise BundleError(f"ui file names are 1-{MAX_UI_PATH} characters")
    if name.startswith("/") or "\\" in name or not name.isprintable():
        raise BundleError(f"ui file name {name!r} must be a relative path with '/' separators")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise BundleError(f"ui file name {name!r} has an empty, '.' or '..' part")
    return name


@dataclass(frozen=True, slots=True)
class UiFiles:
    """A web UI: file name (``dir/file.js``) -> content. Has ``index.html`` at its root."""

    files: dict[str, bytes]

    def get(self, path: str) -> bytes | None:
        return self.files.get(path)

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> UiFiles:
        if len(files) > MAX_UI_FILES:
            raise BundleError(f"a ui has at most {MAX_UI_FILES} files")
        total = 0
        for name, content in files.items():
            ui_path(name)
            if len(content) > MAX_UI_FILE_BYTES:
                raise BundleError(f"ui file {name!r} is larger than {MAX_UI_FILE_BYTES} bytes")
            total += len(content)
        if total > MAX_UI_BYTES:
            raise BundleError(f"the ui is larger than {MAX_UI_BYTES} bytes")
        if UI_INDEX not in files:
            raise BundleError(f"the ui has no {UI_INDEX} at its root")
        return cls(dict(files))

    @classmethod
    def from_zip(cls, data: bytes) -> UiFiles:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise BundleError(f"the ui is not a zip archive: {exc}") from None
        with archive:
            entries = [i for i in archive.infolist() if not i.filename.endswith("/")]
            if len(entries) > MAX_UI_FILES:
                raise BundleError(f"a ui has at most {MAX_UI_FILES} files")
            files: dict[str, bytes] = {}
            total = 0
            for info in entries:
                name = ui_path(info.filename)
                if name in files:
                    raise BundleError(f"ui file {name!r} appears twice")
                if info.flag_bits & 0x1:
                    raise BundleError(f"ui file {name!r} is encrypted")
                try:
                    with archive.open(info) as f:
                        content = f.read(MAX_UI_FILE_BYTES + 1)
                except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError) as exc:
                    raise BundleError(f"ui file {name!r} cannot be unpacked: {exc}") from None
                except EOFError:
                    raise BundleError(f"ui file {name!r} is truncated") from None
                if len(content) > MAX_UI_FILE_BYTES:
                    raise BundleError(f"ui file {name!r} inflates past {MAX_UI_FILE_BYTES} bytes")
                total += len(content)
                if total > MAX_UI_BYTES:
                    raise BundleError(f"the ui inflates past {MAX_UI_BYTES} bytes: refused")
                files[name] = content
        return cls.from_files(files)

    def to_zip(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(self.files):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, self.files[name])
        return out.getvalue()


@dataclass(frozen=True, slots=True)
class WebAppBundle:
    """A decoded, checked ``.webhapp``: its manifest, the hApp bundle bytes and the UI."""

    manifest: WebAppManifest
    happ: bytes
    app: AppBundle
    ui: UiFiles
    ui_zip: bytes

    def encode(self) -> bytes:
        return Bundle(
            self.manifest.to_doc(),
            {self.manifest.happ_path: self.happ, self.manifest.ui_path: self.ui_zip},
        ).encode()

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> WebAppBundle:
        """The web app of a decoded bundle: its hApp inflates within what the outer bundle
        left of the one inflation budget; the UI has its own bounds (above)."""
        manifest = WebAppManifest.parse(bundle.manifest)
        happ = bundle.resources.get(resource_name(manifest.happ_path, "happ path"))
        if happ is None:
            raise BundleError(f"happ {manifest.happ_path!r} missing from the web app bundle")
        ui_zip = bundle.resources.get(resource_name(manifest.ui_path, "ui path"))
        if ui_zip is None:
            raise BundleError(f"ui {manifest.ui_path!r} missing from the web app bundle")
        try:
            app = AppBundle.decode(happ, max_inflated=MAX_INFLATED_BYTES - bundle.inflated_bytes)
        except (BundleError, InvalidInput) as exc:
            raise BundleError(f"happ {manifest.happ_path!r}: {exc.message}") from None
        return cls(manifest, happ, app, UiFiles.from_zip(ui_zip), ui_zip)

    @classmethod
    def decode(cls, data: bytes) -> WebAppBundle:
        return cls.from_bundle(Bundle.decode(data))


def decode_installable(data: bytes) -> tuple[AppBundle, WebAppBundle | None]:
    """What ``app install`` takes: a ``.happ``, or a ``.webhapp`` (then also its web app).

    Either is decoded once and checked whole, UI included, before anything is installed."""
    bundle = Bundle.decode(data)
    if not is_web_app_manifest(bundle.manifest):
        return AppBundle.from_bundle(bundle, MAX_INFLATED_BYTES - bundle.inflated_bytes), None
    web = WebAppBundle.from_bundle(bundle)
    return web.app, web


__all__ = [
    "MAX_UI_BYTES",
    "MAX_UI_FILES",
    "MAX_UI_FILE_BYTES",
    "UiFiles",
    "WebAppBundle",
    "WebAppManifest",
    "decode_installable",
]
