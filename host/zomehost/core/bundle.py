"""DNA and hApp manifests and their one-file bundles.

Manifests follow Holochain's ``dna.yaml`` / ``happ.yaml`` shape. A bundle is gzip of msgpack
``{manifest, resources}`` where resources maps the manifest's paths to bytes; a hApp bundle
holds its DNA bundles as resources. Unpacking is bounded: compressed size, inflated size
(read incrementally, so a decompression bomb stops at the limit, with one budget for a hApp
and the DNA bundles inside it), resource count and names, zomes per DNA, roles per app, the
wasm an install must compile. The limits are listed in docs/sandbox.md.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from zomehost.core.codec import pack, pack_canonical, unpack
from zomehost.core.hash import DnaHash, WasmHash
from zomehost.core.limits import Limits
from zomehost.errors import BundleError, DeserializeError, InvalidInput

MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_INFLATED_BYTES = 256 * 1024 * 1024
MAX_RESOURCES = 256
MAX_WASM_BYTES = 32 * 1024 * 1024
MAX_APP_WASM_BYTES = 64 * 1024 * 1024  # distinct wasm an install compiles, all DNAs together
MAX_ZOMES_PER_DNA = 64
MAX_ROLES_PER_APP = 32
NAME_MAX = 128
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# A resource is named, never a path: no separators, no leading dot (so no "." or "..").
_RESOURCE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > NAME_MAX:
        raise BundleError(f"{what} must be a non-empty string of at most {NAME_MAX} characters")
    if not _NAME.fullmatch(value):
        raise BundleError(f"{what} {value!r} may only hold ASCII letters, digits, '_' and '-'")
    return value


def resource_name(value: Any, what: str) -> str:
    """A resource key inside a bundle: 1-128 of ``A-Za-z0-9._-``, not starting with '.'."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= NAME_MAX
        or not _RESOURCE.fullmatch(value)
    ):
        raise BundleError(
            f"{what} {value!r:.80} is not a resource name (1-{NAME_MAX} of A-Z a-z 0-9 . _ -, "
            "not starting with '.': no paths)"
        )
    return value


def _bounded(items: list[Any], limit: int, what: str) -> list[Any]:
    if len(items) > limit:
        raise BundleError(f"{what}: {len(items)}, more than the limit of {limit}")
    return items


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BundleError(f"{what} must be a list")
    return value


@dataclass(frozen=True, slots=True)
class ZomeManifest:
    name: str
    path: str  # resource key (wasm) inside the bundle, or a file path before packing


@dataclass(frozen=True, slots=True)
class DnaManifest:
    name: str
    network_seed: str
    properties: Any
    zomes: tuple[ZomeManifest, ...]
    # Sandbox limits this DNA asks for (``limits:`` in dna.yaml). They can only narrow the
    # conductor's limits, and are local policy: not part of the DNA hash.
    limits: dict[str, Any] | None = None

    @classmethod
    def parse(cls, doc: Any) -> DnaManifest:
        """Read a ``dna.yaml`` document (Holochain's integrity/coordinator shape, or flat)."""
        if not isinstance(doc, dict):
            raise BundleError("dna manifest must be a mapping")
        name = _name(doc.get("name"), "dna name")
        integrity = doc.get("integrity") or {}
        coordinator = doc.get("coordinator") or {}
        if not isinstance(integrity, dict) or not isinstance(coordinator, dict):
            raise BundleError("integrity and coordinator must be mappings")
        seed = integrity.get("network_seed", doc.get("network_seed")) or ""
        props = integrity.get("properties", doc.get("properties"))
        zome_docs = _list(integrity.get("zomes"), "integrity.zomes")
        zome_docs += _list(coordinator.get("zomes"), "coordinator.zomes")
        zome_docs += _list(doc.get("zomes"), "zomes")
        _bounded(zome_docs, MAX_ZOMES_PER_DNA, f"zomes in dna {name!r}")
        zomes: list[ZomeManifest] = []
        for z in zome_docs:
            if not isinstance(z, dict):
                raise BundleError("each zome is a mapping {name, path}")
            zname = _name(z.get("name"), "zome name")
            path = z.get("path") or z.get("bundled")
            if not isinstance(path, str) or not path:
                raise BundleError(f"zome {zname!r} needs a path to its wasm")
            zomes.append(ZomeManifest(zname, path))
        if not zomes:
            raise BundleError(f"dna {name!r} has no zomes")
        names = [z.name for z in zomes]
        if len(set(names)) != len(names):
            raise BundleError(f"dna {name!r} has duplicate zome names")
        if not isinstance(seed, str):
            raise BundleError("network_seed must be a string")
        limits = doc.get("limits")
        if limits is not None:
            try:
                Limits.from_config(limits)
            except InvalidInput as exc:
                raise BundleError(f"dna {name!r}: {exc.message}") from None
            limits = dict(limits)
        return cls(name, seed, props if props is not None else {}, tuple(zomes), limits)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "manifest_version": "1",
            "name": self.name,
            "integrity": {
                "network_seed": self.network_seed,
                "properties": self.properties,
                "zomes": [],
            },
            "coordinator": {"zomes": [{"name": z.name, "path": z.path} for z in self.zomes]},
        }
        if self.limits is not None:
            doc["limits"] = dict(self.limits)
        return doc


@dataclass(frozen=True, slots=True)
class RoleManifest:
    name: str
    dna_path: str
    network_seed: str | None = None
    properties: Any = None


@dataclass(frozen=True, slots=True)
class AppManifest:
    name: str
    description: str
    roles: tuple[RoleManifest, ...]
    allow_deferred_memproofs: bool = False
    """Installs may wait for membrane proofs (``provide_memproofs``) before genesis."""

    @classmethod
    def parse(cls, doc: Any) -> AppManifest:
        if not isinstance(doc, dict):
            raise BundleError("happ manifest must be a mapping")
        name = _name(doc.get("name"), "app name")
        roles: list[RoleManifest] = []
        for r in _bounded(
            _list(doc.get("roles"), "roles"), MAX_ROLES_PER_APP, f"roles in app {name!r}"
        ):
            if not isinstance(r, dict):
                raise BundleError("each role is a mapping {name, dna}")
            rname = _name(r.get("name"), "role name")
            dna = r.get("dna") or {}
            if not isinstance(dna, dict):
                raise BundleError(f"role {rname!r}: dna must be a mapping")
            path = dna.get("path") or dna.get("bundled")
            if not isinstance(path, str) or not path:
                raise BundleError(f"role {rname!r} needs dna.path")
            modifiers = dna.get("modifiers") or {}
            if not isinstance(modifiers, dict):
                raise BundleError(f"role {rname!r}: dna.modifiers must be a mapping")
            roles.append(
                RoleManifest(
                    rname, path, modifiers.get("network_seed"), modifiers.get("properties")
                )
            )
        if not roles:
            raise BundleError(f"app {name!r} has no roles")
        if len({r.name for r in roles}) != len(roles):
            raise BundleError(f"app {name!r} has duplicate role names")
        deferred = doc.get("allow_deferred_memproofs", False)
        if not isinstance(deferred, bool):
            raise BundleError("allow_deferred_memproofs must be true or false")
        return cls(name, str(doc.get("description") or ""), tuple(roles), deferred)

    def to_doc(self) -> dict[str, Any]:
        return {
            "manifest_version": "1",
            "name": self.name,
            "description": self.description,
            "roles": [
                {
                    "name": r.name,
                    "dna": {
                        "path": r.dna_path,
                        "modifiers": {"network_seed": r.network_seed, "properties": r.properties},
                    },
                }
                for r in self.roles
            ],
            "allow_deferred_memproofs": self.allow_deferred_memproofs,
        }


@dataclass(frozen=True, slots=True)
class Bundle:
    manifest: dict[str, Any]
    resources: dict[str, bytes] = field(default_factory=dict)
    inflated_bytes: int = field(default=0, compare=False)  # what decoding it inflated

    def encode(self) -> bytes:
        body = pack({"manifest": self.manifest, "resources": self.resources})
        return zlib.compress(body, 6, wbits=31)  # gzip container

    @classmethod
    def decode(
        cls,
        data: bytes,
        *,
        max_bytes: int = MAX_BUNDLE_BYTES,
        max_inflated: int = MAX_INFLATED_BYTES,
    ) -> Bundle:
        if len(data) > max_bytes:
            raise BundleError(f"bundle is {len(data)} bytes, limit {max_bytes}")
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib
        try:
            body = inflater.decompress(data, max_inflated + 1)
        except zlib.error as exc:
            raise BundleError(f"bundle is not gzip data: {exc}") from None
        if len(body) > max_inflated or inflater.unconsumed_tail:
            raise BundleError(f"bundle inflates past {max_inflated} bytes: refused")
        if not inflater.eof:
            raise BundleError("bundle is truncated")
        if inflater.unused_data:
            raise BundleError("bundle has trailing bytes after its gzip stream")
        try:
            doc = unpack(body, what="bundle", unique_keys=True)
        except DeserializeError as exc:
            raise BundleError(str(exc)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("manifest"), dict):
            raise BundleError("bundle must hold {manifest, resources}")
        resources = doc.get("resources") or {}
        if not isinstance(resources, dict) or len(resources) > MAX_RESOURCES:
            raise BundleError("bundle resources must be a map of at most 256 entries")
        for key, value in resources.items():
            resource_name(key, "bundle resource")
            if not isinstance(value, bytes):
                raise BundleError(f"bundle resource {key!r} is not bytes")
        return cls(doc["manifest"], resources, len(body))


@dataclass(frozen=True, slots=True)
class DnaFile:
    """A DNA ready to install: manifest, zome wasm, and its hash."""

    manifest: DnaManifest
    wasm: tuple[bytes, ...]  # in zome order

    @property
    def wasm_hashes(self) -> tuple[WasmHash, ...]:
        return tuple(WasmHash.of_content(w) for w in self.wasm)

    @property
    def hash(self) -> DnaHash:
        """Derived from zome names and wasm hashes, properties and network seed (not the name)."""
        content = {
            "zomes": [[z.name, h.raw] for z, h in zip(self.manifest.zomes, self.wasm_hashes)],
            "properties": self.manifest.properties,
            "network_seed": self.manifest.network_seed,
        }
        return DnaHash.of_content(pack_canonical(content))

    def with_modifiers(self, network_seed: str | None, properties: Any) -> DnaFile:
        m = self.manifest
        return DnaFile(
            DnaManifest(
                m.name,
                m.network_seed if network_seed is None else network_seed,
                m.properties if properties is None else properties,
                m.zomes,
                m.limits,
            ),
            self.wasm,
        )

    def to_bundle(self) -> Bundle:
        return Bundle(
            self.manifest.to_doc(), {z.path: w for z, w in zip(self.manifest.zomes, self.wasm)}
        )

    def definition(self) -> DnaDef:
        """The manifest and the zomes' wasm hashes (hashes every zome's wasm once)."""
        return DnaDef(self.manifest, self.wasm_hashes)

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> DnaFile:
        manifest = DnaManifest.parse(bundle.manifest)
        wasm: list[bytes] = []
        for z in manifest.zomes:
            blob = bundle.resources.get(resource_name(z.path, f"zome {z.name!r}: path"))
            if blob is None:
                raise BundleError(f"zome {z.name!r}: resource {z.path!r} missing from bundle")
            if len(blob) > MAX_WASM_BYTES:
                raise BundleError(f"zome {z.name!r}: wasm is larger than {MAX_WASM_BYTES} bytes")
            wasm.append(blob)
        return cls(manifest, tuple(wasm))


@dataclass(frozen=True, slots=True)
class DnaDef:
    """A DNA as a running cell needs it: the manifest and each zome's wasm hash, in zome
    order, without the wasm. Modules are loaded by hash (once per conductor), so an idle
    cell holds no copy of its code and a cell's first call hashes no wasm."""

    manifest: DnaManifest
    wasm_hashes: tuple[WasmHash, ...]


def coordinator_zomes(manifest: Any, resources: Any) -> dict[str, bytes]:
    """The zomes of a coordinator bundle (``update_coordinators``): name -> wasm.

    The manifest is ``{zomes: [{name, path | bundled}, ...]}``, or a DNA manifest (its
    ``coordinator`` zomes); each path names a resource holding the zome's wasm.
    """
    if not isinstance(manifest, dict) or not isinstance(resources, dict):
        raise BundleError("a coordinator bundle is {manifest: {zomes}, resources}")
    if isinstance(manifest.get("coordinator"), dict):  # a whole DNA bundle: its zomes
        manifest = manifest["coordinator"]
    zomes: dict[str, bytes] = {}
    for z in _bounded(_list(manifest.get("zomes"), "zomes"), MAX_ZOMES_PER_DNA, "zomes"):
        if not isinstance(z, dict):
            raise BundleError("each zome is a mapping {name, path}")
        zname = _name(z.get("name"), "zome name")
        path = resource_name(z.get("path") or z.get("bundled"), f"zome {zname!r}: path")
        blob = resources.get(path)
        if not isinstance(blob, bytes):
            raise BundleError(f"zome {zname!r}: resource {path!r} missing from bundle")
        if len(blob) > MAX_WASM_BYTES:
            raise BundleError(f"zome {zname!r}: wasm is larger than {MAX_WASM_BYTES} bytes")
        if zname in zomes:
            raise BundleError(f"zome {zname!r} is named twice")
        zomes[zname] = blob
    if not zomes:
        raise BundleError("a coordinator bundle names at least one zome")
    return zomes


@dataclass(frozen=True, slots=True)
class AppBundle:
    manifest: AppManifest
    dnas: dict[str, DnaFile]  # role name -> DNA, modifiers applied

    @classmethod
    def decode(cls, data: bytes, *, max_inflated: int = MAX_INFLATED_BYTES) -> AppBundle:
        """Decode a hApp and its DNAs under one inflation budget; each DNA bundle is decoded
        once however many roles name it, and the distinct wasm is bounded."""
        bundle = Bundle.decode(data, max_inflated=max_inflated)
        return cls.from_bundle(bundle, max_inflated - bundle.inflated_bytes)

    @classmethod
    def from_bundle(cls, bundle: Bundle, budget: int) -> AppBundle:
        """The hApp of an already decoded bundle; its DNAs inflate at most ``budget`` bytes."""
        manifest = AppManifest.parse(bundle.manifest)
        decoded: dict[str, DnaFile] = {}
        dnas: dict[str, DnaFile] = {}
        for role in manifest.roles:
            path = role.dna_path
            try:
                if path not in decoded:
                    blob = bundle.resources.get(resource_name(path, "dna path"))
                    if blob is None:
                        raise BundleError(f"dna {path!r} missing from bundle")
                    inner = Bundle.decode(blob, max_inflated=budget)
                    budget -= inner.inflated_bytes
                    decoded[path] = DnaFile.from_bundle(inner)
            except (BundleError, InvalidInput) as exc:
                raise BundleError(f"role {role.name!r}: {exc.message}") from None
            dnas[role.name] = decoded[path].with_modifiers(role.network_seed, role.properties)
        wasm = {h: len(w) for d in decoded.values() for h, w in zip(d.wasm_hashes, d.wasm)}
        if sum(wasm.values()) > MAX_APP_WASM_BYTES:
            raise BundleError(
                f"app {manifest.name!r} holds {sum(wasm.values())} bytes of distinct wasm, "
                f"more than the {MAX_APP_WASM_BYTES} an install may compile"
            )
        return cls(manifest, dnas)
