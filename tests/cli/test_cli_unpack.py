"""`zomehost dna unpack` / `zomehost app unpack`: the inverse of pack.

Unpacking writes the manifest (YAML) and the wasm / DNA files into a directory; packing that
directory again gives the same bytes (so the same DNA hash). A directory that already holds
those files is left alone without --force. Crafted bundles (names that are paths, absolute
paths, duplicate names, huge declared sizes, inflation bombs, oversized wasm) are a typed
BundleError and write nothing anywhere: not in the target, not beside it, not outside it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import yaml

from zomehost.conductor.packing import unpack_app, unpack_dna
from zomehost.core.bundle import MAX_INFLATED_BYTES, MAX_WASM_BYTES, Bundle
from zomehost.errors import BundleError, InvalidInput

Run = Callable[..., Any]


def ok(result: Any) -> str:
    assert result.returncode == 0, f"stdout={result.stdout}\nstderr={result.stderr}"
    assert "Traceback" not in result.stderr
    return str(result.stdout)


def one_line_error(result: Any) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "[Errno" not in lines[0]
    return lines[0]


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file and link under ``root`` (links by their target)."""
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = f"-> {p.readlink()}"
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


@pytest.fixture
def dna_file(app_bundle: Any, tmp_path: Path, zomehost_inproc: Run) -> Path:
    """A .dna packed by the CLI: two zomes, properties (with bytes), a seed and limits."""
    app_dir = app_bundle.write_dir(
        {"main": [("a", "probe"), ("b", "probe")]},
        properties={"answer": 42, "blob": b"\x00\xff", "nested": {"list": [1, "x"]}},
        seeds={"main": "seed"},
    )
    dna_dir = app_dir / "dna_main"
    doc = yaml.safe_load((dna_dir / "dna.yaml").read_text())
    doc["limits"] = {"timeout_ms": 2000, "fuel": 1000000}
    (dna_dir / "dna.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "first.dna"
    ok(zomehost_inproc(tmp_path, "dna", "pack", str(dna_dir), "-o", str(out)))
    return out


def test_dna_unpack_then_pack_gives_the_same_bundle(
    dna_file: Path, tmp_path: Path, zomehost_inproc: Run
) -> None:
    target = tmp_path / "unpacked"
    printed = ok(zomehost_inproc(tmp_path, "dna", "unpack", str(dna_file), "-o", str(target)))
    assert printed.strip() == str(target)
    assert sorted(tree(target)) == ["a.wasm", "b.wasm", "dna.yaml"]
    manifest = yaml.safe_load((target / "dna.yaml").read_text())
    assert manifest["limits"] == {"timeout_ms": 2000, "fuel": 1000000}
    assert manifest["integrity"]["properties"]["blob"] == b"\x00\xff"
    again = tmp_path / "again.dna"
    packed = zomehost_inproc(tmp_path, "dna", "pack", str(target), "-o", str(again))
    ok(packed)
    assert again.read_bytes() == dna_file.read_bytes()
    first = ok(zomehost_inproc(tmp_path, "dna", "pack", str(target), "-o", str(again)))
    assert first.strip() == str(again)


def test_app_unpack_then_pack_gives_the_same_bundle(
    app_bundle: Any, tmp_path: Path, zomehost_inproc: Run
) -> None:
    app_dir = app_bundle.write_dir(
        {"r1": [("a", "probe")], "r2": [("a", "probe"), ("b", "probe")]},
        name="tworoles",
        seeds={"r1": "s1", "r2": "s2"},
        role_modifiers={"r2": {"network_seed": "over", "properties": {"k": [1, 2]}}},
    )
    happ = yaml.safe_load((app_dir / "happ.yaml").read_text())
    happ["allow_deferred_memproofs"] = True  # pack kept it? (it used to drop it)
    happ["description"] = "two roles, one with modifiers"
    (app_dir / "happ.yaml").write_text(yaml.safe_dump(happ))
    first = tmp_path / "first.happ"
    ok(zomehost_inproc(tmp_path, "app", "pack", str(app_dir), "-o", str(first)))
    assert Bundle.decode(first.read_bytes()).manifest["allow_deferred_memproofs"] is True

    target = tmp_path / "unpacked"
    ok(zomehost_inproc(tmp_path, "app", "unpack", str(first), "-o", str(target)))
    assert sorted(tree(target)) == ["happ.yaml", "r1.dna", "r2.dna"]
    again = tmp_path / "again.happ"
    ok(zomehost_inproc(tmp_path, "app", "pack", str(target), "-o", str(again)))
    assert again.read_bytes() == first.read_bytes()

    # a role's DNA opens further with `dna unpack`, and packs back to the same bytes
    dna_dir = tmp_path / "r2"
    ok(zomehost_inproc(tmp_path, "dna", "unpack", str(target / "r2.dna"), "-o", str(dna_dir)))
    ok(zomehost_inproc(tmp_path, "dna", "pack", str(dna_dir), "-o", str(tmp_path / "r2.dna")))
    assert (tmp_path / "r2.dna").read_bytes() == (target / "r2.dna").read_bytes()


def test_the_default_directory_is_the_bundles_name(
    dna_file: Path, tmp_path: Path, zomehost_inproc: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ok(zomehost_inproc(tmp_path, "dna", "unpack", str(dna_file)))
    assert (tmp_path / "first" / "dna.yaml").is_file()


def test_no_overwrite_without_force(dna_file: Path, tmp_path: Path, zomehost_inproc: Run) -> None:
    target = tmp_path / "unpacked"
    target.mkdir()
    (target / "dna.yaml").write_text("mine\n")
    (target / "notes.txt").write_text("keep me\n")
    line = one_line_error(
        zomehost_inproc(tmp_path, "dna", "unpack", str(dna_file), "-o", str(target))
    )
    assert "dna.yaml" in line and "--force" in line
    assert tree(target) == {"dna.yaml": b"mine\n", "notes.txt": b"keep me\n"}

    ok(zomehost_inproc(tmp_path, "dna", "unpack", str(dna_file), "-o", str(target), "--force"))
    assert sorted(tree(target)) == ["a.wasm", "b.wasm", "dna.yaml", "notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_force_replaces_a_link_and_never_writes_through_it(dna_file: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.wasm"
    outside.write_bytes(b"precious")
    target = tmp_path / "unpacked"
    target.mkdir()
    (target / "a.wasm").symlink_to(outside)
    with pytest.raises(InvalidInput, match="--force"):
        unpack_dna(dna_file, target)
    unpack_dna(dna_file, target, force=True)
    assert outside.read_bytes() == b"precious"
    assert not (target / "a.wasm").is_symlink()
    assert (target / "a.wasm").read_bytes()[:4] == b"\x00asm"


def test_a_file_in_the_way_is_refused(dna_file: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(InvalidInput, match="not a directory"):
        unpack_dna(dna_file, tmp_path / "taken", force=True)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.wasm").mkdir()
    with pytest.raises(InvalidInput, match="directory is in the way"):
        unpack_dna(dna_file, tmp_path / "d", force=True)


def test_a_missing_bundle_is_one_plain_line(tmp_path: Path, zomehost_inproc: Run) -> None:
    for group in ("dna", "app"):
        missing = tmp_path / f"nope.{group}"
        line = one_line_error(zomehost_inproc(tmp_path, group, "unpack", str(missing)))
        assert f"{missing}: cannot read: No such file or directory" in line
    assert list(tmp_path.iterdir()) == []


# -- crafted bundles ----------------------------------------------------------------------
WASM = b"\x00asm\x01\x00\x00\x00"


def dna_manifest(zomes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"manifest_version": "1", "name": "d", "integrity": {}, "coordinator": {"zomes": zomes}}


def dna_bundle(zomes: list[dict[str, Any]], resources: dict[str, bytes]) -> bytes:
    return Bundle(dna_manifest(zomes), resources).encode()


def app_bundle_of(roles: list[dict[str, Any]], resources: dict[str, bytes]) -> bytes:
    manifest = {"manifest_version": "1", "name": "app", "roles": roles}
    return Bundle(manifest, resources).encode()


GOOD_DNA = dna_bundle([{"name": "z", "path": "z.wasm"}], {"z.wasm": WASM})


def raw_bundle(write: Callable[[msgpack.Packer], bytes]) -> bytes:
    """A bundle whose msgpack body is written by hand (what pack() would never produce)."""
    return gzip.compress(write(msgpack.Packer(use_bin_type=True)))


def duplicate_resources(p: msgpack.Packer) -> bytes:
    body = p.pack_map_header(2) + p.pack("manifest")
    body += p.pack(dna_manifest([{"name": "z", "path": "z.wasm"}]))
    body += p.pack("resources") + p.pack_map_header(2)
    body += p.pack("z.wasm") + p.pack(WASM) + p.pack("z.wasm") + p.pack(b"\x00asm evil")
    return bytes(body)


def huge_declared_bin(p: msgpack.Packer) -> bytes:
    body = p.pack_map_header(2) + p.pack("manifest")
    body += p.pack(dna_manifest([{"name": "z", "path": "z.wasm"}]))
    body += p.pack("resources") + p.pack_map_header(1) + p.pack("z.wasm")
    return bytes(body) + b"\xc6\xff\xff\xff\xf0" + WASM  # bin32 of 4 GiB, 8 bytes follow


def huge_declared_map(p: msgpack.Packer) -> bytes:
    return b"\xdf\xff\xff\xff\xff" + bytes(p.pack("manifest"))  # a map of 4 G entries


def inflation_bomb() -> bytes:
    """Past the inflation budget, compressed to well under a megabyte."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(MAX_INFLATED_BYTES // len(chunk) + 2)]
    return b"".join(parts) + c.flush()


def oversized_wasm() -> bytes:
    return dna_bundle([{"name": "z", "path": "z.wasm"}], {"z.wasm": bytes(MAX_WASM_BYTES + 1)})


CRAFTED: dict[str, tuple[str, Callable[[], bytes]]] = {
    "dna: a resource named ../x": (
        "dna",
        lambda: dna_bundle([{"name": "z", "path": "../x"}], {"../x": WASM}),
    ),
    "dna: a resource named ../../../tmp/evil.wasm": (
        "dna",
        lambda: dna_bundle(
            [{"name": "z", "path": "../../../tmp/evil.wasm"}], {"../../../tmp/evil.wasm": WASM}
        ),
    ),
    "dna: an absolute resource path": (
        "dna",
        lambda: dna_bundle([{"name": "z", "path": "/tmp/evil.wasm"}], {"/tmp/evil.wasm": WASM}),
    ),
    "dna: a zome named ../evil": (
        "dna",
        lambda: dna_bundle([{"name": "../evil", "path": "z.wasm"}], {"z.wasm": WASM}),
    ),
    "dna: a zome named /abs": (
        "dna",
        lambda: dna_bundle([{"name": "/abs", "path": "z.wasm"}], {"z.wasm": WASM}),
    ),
    "dna: a hidden resource .x": (
        "dna",
        lambda: dna_bundle([{"name": "z", "path": ".x"}], {".x": WASM}),
    ),
    "dna: duplicate zome names": (
        "dna",
        lambda: dna_bundle(
            [{"name": "z", "path": "z.wasm"}, {"name": "z", "path": "z.wasm"}], {"z.wasm": WASM}
        ),
    ),
    "dna: duplicate resource names": ("dna", lambda: raw_bundle(duplicate_resources)),
    "dna: a resource declaring 4 GiB": ("dna", lambda: raw_bundle(huge_declared_bin)),
    "dna: a map declaring 4 G entries": ("dna", lambda: raw_bundle(huge_declared_map)),
    "dna: an inflation bomb": ("dna", inflation_bomb),
    "dna: a wasm over the limit": ("dna", oversized_wasm),
    "dna: not gzip": ("dna", lambda: b"PK\x03\x04 a zip, not a bundle"),
    "dna: a missing resource": (
        "dna",
        lambda: dna_bundle([{"name": "z", "path": "z.wasm"}], {}),
    ),
    "app: a role named ../r": (
        "app",
        lambda: app_bundle_of([{"name": "../r", "dna": {"path": "d.dna"}}], {"d.dna": GOOD_DNA}),
    ),
    "app: a dna at ../d.dna": (
        "app",
        lambda: app_bundle_of([{"name": "r", "dna": {"path": "../d.dna"}}], {"../d.dna": GOOD_DNA}),
    ),
    "app: a dna at an absolute path": (
        "app",
        lambda: app_bundle_of(
            [{"name": "r", "dna": {"path": "/tmp/d.dna"}}], {"/tmp/d.dna": GOOD_DNA}
        ),
    ),
    "app: duplicate role names": (
        "app",
        lambda: app_bundle_of(
            [{"name": "r", "dna": {"path": "d.dna"}}, {"name": "r", "dna": {"path": "d.dna"}}],
            {"d.dna": GOOD_DNA},
        ),
    ),
    "app: a crafted dna inside": (
        "app",
        lambda: app_bundle_of(
            [{"name": "r", "dna": {"path": "d.dna"}}],
            {"d.dna": dna_bundle([{"name": "z", "path": "../x"}], {"../x": WASM})},
        ),
    ),
    "app: a dna that is an inflation bomb": (
        "app",
        lambda: app_bundle_of(
            [{"name": "r", "dna": {"path": "d.dna"}}], {"d.dna": inflation_bomb()}
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_bundle_is_refused_and_writes_nothing(
    case: str, tmp_path_factory: pytest.TempPathFactory, zomehost_inproc: Run
) -> None:
    group, make = CRAFTED[case]
    root = tmp_path_factory.mktemp("crafted")
    work = root / "work"
    work.mkdir()
    bundle = work / f"crafted.{'dna' if group == 'dna' else 'happ'}"
    bundle.write_bytes(make())
    before = tree(root)
    target = work / "out" / "inner"
    unpack = unpack_dna if group == "dna" else unpack_app
    with pytest.raises(BundleError):
        unpack(bundle, target, force=True)
    assert tree(root) == before, "an unpack that failed wrote something"
    line = one_line_error(
        zomehost_inproc(work, group, "unpack", str(bundle), "-o", str(target), "--force")
    )
    assert line.startswith("error: ")
    assert tree(root) == before
    assert not (work / "out").exists()


# -- web apps -----------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


def test_web_app_unpack_then_pack_gives_the_same_bundle(
    tmp_path: Path, zomehost_inproc: Run
) -> None:
    first = tmp_path / "gw.webhapp"
    ok(
        zomehost_inproc(
            tmp_path, "web-app", "pack", str(REPO / "examples" / "ghostwriter"), "-o", str(first)
        )
    )
    target = tmp_path / "unpacked"
    printed = ok(zomehost_inproc(tmp_path, "web-app", "unpack", str(first), "-o", str(target)))
    assert printed.strip() == str(target)
    manifest = yaml.safe_load((target / "web-happ.yaml").read_text())
    happ = manifest["happ_manifest"]["bundled"]
    assert sorted(tree(target)) == sorted(["web-happ.yaml", happ, "ui.zip"])
    again = tmp_path / "again.webhapp"
    ok(zomehost_inproc(tmp_path, "web-app", "pack", str(target), "-o", str(again)))
    assert again.read_bytes() == first.read_bytes()
    # its hApp opens further with `app unpack`
    ok(zomehost_inproc(tmp_path, "app", "unpack", str(target / happ), "-o", str(tmp_path / "h")))
    assert (tmp_path / "h" / "happ.yaml").is_file()


GOOD_HAPP = app_bundle_of([{"name": "r", "dna": {"path": "d.dna"}}], {"d.dna": GOOD_DNA})


def _zip(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def web_bundle(ui: bytes | None, happ: bytes | None, name: str = "w") -> bytes:
    manifest = {
        "manifest_version": "1",
        "name": name,
        "ui": {"bundled": "ui.zip"},
        "happ_manifest": {"bundled": "w.happ"},
    }
    resources = {k: v for k, v in (("ui.zip", ui), ("w.happ", happ)) if v is not None}
    return Bundle(manifest, resources).encode()


INDEX = {"index.html": b"<!doctype html><title>w</title>"}
CRAFTED_WEB: dict[str, Callable[[], bytes]] = {
    "no ui": lambda: web_bundle(None, GOOD_HAPP),
    "no happ": lambda: web_bundle(_zip(INDEX), None),
    "a ui file that climbs out": lambda: web_bundle(
        _zip({**INDEX, "../../escape.js": b"x"}), GOOD_HAPP
    ),
    "an absolute ui file": lambda: web_bundle(_zip({**INDEX, "/etc/evil": b"x"}), GOOD_HAPP),
    "a ui that is not a zip": lambda: web_bundle(b"not a zip", GOOD_HAPP),
    "a happ that is an inflation bomb": lambda: web_bundle(_zip(INDEX), inflation_bomb()),
    "a name that is a path": lambda: web_bundle(_zip(INDEX), GOOD_HAPP, name="../up"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_WEB))
def test_a_crafted_web_app_is_refused_and_writes_nothing(
    case: str, tmp_path_factory: pytest.TempPathFactory, zomehost_inproc: Run
) -> None:
    from zomehost.conductor.packing import unpack_web_app

    root = tmp_path_factory.mktemp("crafted-web")
    work = root / "work"
    work.mkdir()
    bundle = work / "crafted.webhapp"
    bundle.write_bytes(CRAFTED_WEB[case]())
    before = tree(root)
    target = work / "out" / "inner"
    with pytest.raises(BundleError):
        unpack_web_app(bundle, target, force=True)
    assert tree(root) == before, "an unpack that failed wrote something"
    line = one_line_error(
        zomehost_inproc(work, "web-app", "unpack", str(bundle), "-o", str(target), "--force")
    )
    assert line.startswith("error: ")
    assert tree(root) == before
    assert not (work / "out").exists()
