"""Web-app bundles (.webhapp) and their UI zips: limits and typed errors on every bad input,
nothing installed from a refused bundle."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from conftest import AppBuilder, Node, NodeFactory
from zomehost.conductor.packing import pack_app_dir, pack_web_app_dir
from zomehost.core import web_bundle
from zomehost.core.bundle import Bundle
from zomehost.core.web_bundle import (
    UiFiles,
    WebAppBundle,
    WebAppManifest,
    decode_installable,
)
from zomehost.errors import AppNotFound, BundleError

INDEX = b"<!doctype html><title>t</title>"


def zip_of(entries: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, content in entries:
            z.writestr(zipfile.ZipInfo(name), content, compress_type=method)
    return out.getvalue()


def test_ui_round_trip() -> None:
    ui = UiFiles.from_files({"index.html": INDEX, "js/app.js": b"1", "a b/ü.css": b"x"})
    again = UiFiles.from_zip(ui.to_zip())
    assert again.files == ui.files and ui.to_zip() == again.to_zip()  # reproducible


@pytest.mark.parametrize(
    "name",
    ["../x", "a/../../x", "/etc/passwd", "a\\b", "./index.html", "a//b", "a/./b", "",
     "tab\tname", "n" * 256],
)  # fmt: skip
def test_ui_file_names_are_checked(name: str) -> None:
    with pytest.raises(BundleError):
        UiFiles.from_zip(zip_of([("index.html", INDEX), (name, b"x")]))
    with pytest.raises(BundleError):
        UiFiles.from_files({"index.html": INDEX, name: b"x"})
    with pytest.raises(BundleError):
        UiFiles.from_files({"index.html": INDEX, "x\x00.html": b"x"})


def test_ui_needs_an_index_and_no_duplicates() -> None:
    with pytest.raises(BundleError, match=r"index\.html"):
        UiFiles.from_zip(zip_of([("app.js", b"1")]))
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile lets us write it
        twice = zip_of([("index.html", INDEX), ("a.js", b"1"), ("a.js", b"2")])
    with pytest.raises(BundleError, match="twice"):
        UiFiles.from_zip(twice)


def test_ui_zip_bombs_stop_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_bundle, "MAX_UI_FILE_BYTES", 1 << 20)
    monkeypatch.setattr(web_bundle, "MAX_UI_BYTES", 3 << 20)
    bomb = zip_of([("index.html", INDEX), ("big.bin", bytes(2 << 20))])
    assert len(bomb) < 10_000
    with pytest.raises(BundleError, match="inflates past"):
        UiFiles.from_zip(bomb)
    many = zip_of([("index.html", INDEX)] + [(f"f{i}.bin", bytes(900_000)) for i in range(4)])
    with pytest.raises(BundleError, match="inflates past"):
        UiFiles.from_zip(many)


def test_a_lying_zip_header_does_not_help() -> None:
    """A member whose header claims a small size but holds more is cut at its claim and
    fails its CRC: a typed error, never more bytes than declared."""
    data = bytearray(zip_of([("index.html", INDEX), ("a.bin", bytes(5000))]))
    entry = data.rfind(b"PK\x01\x02")  # a.bin's central directory entry
    data[entry + 24 : entry + 28] = (10).to_bytes(4, "little")  # its uncompressed size
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("a.bin").file_size == 10
    with pytest.raises(BundleError):
        UiFiles.from_zip(bytes(data))


def test_too_many_files_encrypted_members_and_junk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_bundle, "MAX_UI_FILES", 3)
    with pytest.raises(BundleError, match="at most 3 files"):
        UiFiles.from_zip(zip_of([("index.html", INDEX)] + [(f"{i}.js", b"") for i in range(3)]))
    data = bytearray(zip_of([("index.html", INDEX)]))
    data[6] |= 1  # local header: encrypted
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 8] |= 1  # central directory: encrypted
    with pytest.raises(BundleError, match="encrypted"):
        UiFiles.from_zip(bytes(data))
    for junk in (b"", b"not a zip", os.urandom(300), zip_of([("index.html", INDEX)])[:-30]):
        with pytest.raises(BundleError):
            UiFiles.from_zip(junk)


def test_web_app_manifest_shape() -> None:
    doc = {"manifest_version": "1", "name": "gw", "ui": {"bundled": "ui.zip"},
           "happ_manifest": {"bundled": "gw.happ"}}  # fmt: skip
    m = WebAppManifest.parse(doc)
    assert m == WebAppManifest("gw", "ui.zip", "gw.happ") and m.to_doc() == doc
    assert WebAppManifest.parse({**doc, "ui": {"path": "u.zip"}}).ui_path == "u.zip"
    for bad in ({**doc, "name": "../x"}, {**doc, "ui": "ui.zip"}, {**doc, "ui": {}},
                {**doc, "happ_manifest": None}, [], "x"):  # fmt: skip
        with pytest.raises(BundleError):
            WebAppManifest.parse(bad)


@pytest.fixture(scope="module")
def happ(wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("wb")
    app_dir = AppBuilder(wasm_paths, root / "src").write_dir({"main": [("probe", "probe")]})
    return pack_app_dir(app_dir, root / "probe.happ").read_bytes()


def web(happ: bytes, ui_zip: bytes, **resources: bytes) -> bytes:
    m = WebAppManifest("probe", "ui.zip", "probe.happ")
    return Bundle(m.to_doc(), {"probe.happ": happ, "ui.zip": ui_zip, **resources}).encode()


def test_install_tells_happ_from_webhapp(happ: bytes) -> None:
    app, w = decode_installable(happ)
    assert w is None and app.manifest.roles[0].name == "main"
    data = web(happ, zip_of([("index.html", INDEX)]))
    app, w = decode_installable(data)
    assert w is not None and w.happ == happ and w.ui.get("index.html") == INDEX
    assert app.manifest == w.app.manifest
    assert WebAppBundle.decode(w.encode()).ui.files == w.ui.files


def test_bad_web_apps_are_refused_whole(happ: bytes) -> None:
    ui = zip_of([("index.html", INDEX)])
    m = WebAppManifest("probe", "ui.zip", "probe.happ").to_doc()
    cases = {
        "missing happ": Bundle(m, {"ui.zip": ui}).encode(),
        "missing ui": Bundle(m, {"probe.happ": happ}).encode(),
        "happ not a bundle": web(b"junk", ui),
        "ui not a zip": web(happ, b"junk"),
        "ui traversal": web(happ, zip_of([("index.html", INDEX), ("../../x", b"")])),
    }
    for what, data in cases.items():
        with pytest.raises(BundleError):
            decode_installable(data)
        with pytest.raises(BundleError):
            WebAppBundle.decode(data)
        assert what


def test_install_keeps_the_ui_and_a_refused_bundle_leaves_nothing(
    node_factory: NodeFactory, happ: bytes
) -> None:
    node: Node = node_factory()
    c = node.conductor
    bad = web(happ, zip_of([("index.html", INDEX), ("/abs", b"")]))
    with pytest.raises(BundleError):
        c.install_app(bad, "bad")
    with pytest.raises(AppNotFound):
        c.get_app("bad")
    assert c.app_ui("bad") is None and c.list_dnas() == []
    c.install_app(web(happ, zip_of([("index.html", INDEX)])), "good")
    ui = c.app_ui("good")
    assert ui is not None and ui.get("index.html") == INDEX
    c.install_app(happ, "plain")
    assert c.app_ui("plain") is None
    c.uninstall_app("good")
    assert c.app_ui("good") is None


def test_pack_web_app_dir(tmp_path: Path, happ: bytes) -> None:
    (tmp_path / "probe.happ").write_bytes(happ)
    ui = tmp_path / "ui"
    (ui / "js").mkdir(parents=True)
    (ui / "index.html").write_bytes(INDEX)
    (ui / "js" / "app.js").write_bytes(b"1")
    (tmp_path / "web-happ.yaml").write_text(
        'manifest_version: "1"\nname: probe\nui: {bundled: ./ui}\n'
        "happ_manifest: {bundled: ./probe.happ}\n"
    )
    out = pack_web_app_dir(tmp_path, tmp_path / "probe.webhapp")
    w = WebAppBundle.decode(out.read_bytes())
    assert w.happ == happ and set(w.ui.files) == {"index.html", "js/app.js"}
    (ui / "leak").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        pack_web_app_dir(tmp_path, tmp_path / "x.webhapp")
    (ui / "leak").unlink()
    (ui / "index.html").unlink()
    with pytest.raises(BundleError, match=r"index\.html"):
        pack_web_app_dir(tmp_path, tmp_path / "x.webhapp")


def test_the_happ_inside_inflates_within_what_the_webhapp_left(
    happ: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One inflation budget for the .webhapp and the hApp (and its DNAs) inside it."""
    data = web(happ, zip_of([("index.html", INDEX)]))
    outer = Bundle.decode(data)
    monkeypatch.setattr(web_bundle, "MAX_INFLATED_BYTES", outer.inflated_bytes + 100)
    with pytest.raises(BundleError, match="inflates past"):
        WebAppBundle.decode(data)
