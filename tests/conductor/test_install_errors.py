"""Bad input at install time: malformed wasm, forbidden imports, broken or hostile bundles.

Every refusal is a typed error and leaves the conductor exactly as it was: no app, no DNA,
no wasm, no chain, no new agent key.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from zomehost.chain.source_chain import SourceChain
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.bundle import AppBundle, Bundle
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId
from zomehost.errors import BundleError, ConductorError, NotFound, WasmError, ZomehostError


def _state(node: Any) -> tuple[Any, ...]:
    c = node.conductor
    return (
        [a.app_id for a in c.list_apps()],
        c.list_dnas(),
        c.store.state_names("wasm/"),
        len(c.agents()),
    )


def _wat(tmp_path: Path, name: str, body: str) -> str:
    """Compile a WAT module with wasmtime.wat2wasm; returns the file path."""
    path = tmp_path / f"{name}.wasm"
    path.write_bytes(wasmtime.wat2wasm(body))
    return str(path)


ABI_EXPORTS = """
  (memory (export "memory") 1)
  (func (export "__zh_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "__zh_free") (param i32 i32))
  (func (export "f") (param i32 i32) (result i64) i64.const 0)
"""


def _refused(node: Any, bundle: bytes, error: type[Exception], match: str | None) -> Exception:
    before = _state(node)
    with pytest.raises(error, match=match) as info:
        node.install(bundle, "refused")
    assert _state(node) == before, "a refused install left something behind"
    return info.value


# -- wasm -------------------------------------------------------------------------------


def test_malformed_wasm_is_refused_and_nothing_is_installed(
    node: Any, app_bundle: Any, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.wasm"
    garbage.write_bytes(b"\0asm\x01\0\0\0this is not a module")
    bundle = app_bundle({"main": [("ok", "probe"), ("broken", str(garbage))]})
    err = _refused(node, bundle, WasmError, "not a valid wasm module")
    assert "broken" in str(err)  # names the zome


def test_a_module_importing_an_unknown_host_function_is_refused(
    node: Any, app_bundle: Any, tmp_path: Path
) -> None:
    evil = _wat(
        tmp_path,
        "evil",
        '(module (import "zomehost" "evil" (func (param i32 i32) (result i64)))'
        + ABI_EXPORTS
        + ")",
    )
    err = _refused(node, app_bundle({"main": [("z", evil)]}), WasmError, "zomehost.evil")
    assert "'z'" in str(err)


def test_a_module_importing_wasi_is_refused(node: Any, app_bundle: Any, tmp_path: Path) -> None:
    wasi = _wat(
        tmp_path,
        "wasi",
        '(module (import "wasi_snapshot_preview1" "fd_write"'
        " (func (param i32 i32 i32 i32) (result i32)))" + ABI_EXPORTS + ")",
    )
    _refused(
        node, app_bundle({"main": [("z", wasi)]}), WasmError, "wasi_snapshot_preview1.fd_write"
    )


def test_a_host_import_with_the_wrong_signature_is_refused(
    node: Any, app_bundle: Any, tmp_path: Path
) -> None:
    wrong = _wat(
        tmp_path,
        "wrong",
        '(module (import "zomehost" "create" (func (param i32) (result i32)))' + ABI_EXPORTS + ")",
    )
    _refused(node, app_bundle({"main": [("z", wrong)]}), WasmError, "zomehost.create")


def test_a_module_without_the_abi_exports_is_refused(
    node: Any, app_bundle: Any, tmp_path: Path
) -> None:
    bare = _wat(tmp_path, "bare", '(module (memory (export "memory") 1))')
    _refused(node, app_bundle({"main": [("z", bare)]}), WasmError, "__zh_alloc")


def test_a_minimal_wat_module_with_only_host_imports_installs(
    node: Any, app_bundle: Any, tmp_path: Path
) -> None:
    # The control for the refusals above: the same module importing a real host function.
    fine = _wat(
        tmp_path,
        "fine",
        '(module (import "zomehost" "sys_time" (func (param i32 i32) (result i64)))'
        + ABI_EXPORTS
        + ")",
    )
    app = node.install(app_bundle({"main": [("z", fine)]}), "fine")
    assert app.app_id == "fine"


# -- bundles ----------------------------------------------------------------------------


def test_garbage_bytes_are_not_a_bundle(node: Any) -> None:
    _refused(node, b"definitely not a bundle" * 10, BundleError, "gzip")


def test_an_empty_bundle_is_refused(node: Any) -> None:
    _refused(node, b"", BundleError, "gzip|truncated")


def test_a_truncated_bundle_is_refused(node: Any, probe_bundle: bytes) -> None:
    _refused(node, probe_bundle[: len(probe_bundle) // 2], BundleError, "truncated")


def test_gzip_of_something_that_is_not_a_bundle_is_refused(node: Any) -> None:
    _refused(node, zlib.compress(pack([1, 2, 3]), wbits=31), BundleError, "manifest")
    _refused(node, zlib.compress(b"\xc1\xc1", wbits=31), BundleError, None)


def gzip_bomb(total_mb: int) -> bytes:
    """A valid gzip stream inflating to ``total_mb`` MiB of zeros, built in ~0.2 s.

    After a full flush deflate restarts from an empty window, so every further 1 MiB chunk
    compresses to the same bytes: repeat them, end with an empty final block and a trailer.
    """
    chunk = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    rep = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert rep == c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(total_mb):
        crc = zlib.crc32(chunk, crc)
    trailer = struct.pack("<II", crc, (total_mb << 20) & 0xFFFFFFFF)
    return first + rep * (total_mb - 1) + b"\x03\x00" + trailer


def test_gzip_bomb_builder_is_a_real_gzip_stream() -> None:
    small = gzip_bomb(3)
    assert zlib.decompress(small, wbits=31) == bytes(3 << 20)


def test_a_gzip_bomb_is_refused_quickly(node: Any) -> None:
    bomb = gzip_bomb(300)
    assert len(bomb) < 1_000_000  # 300 MiB inflated from < 1 MB
    _refused(node, bomb, BundleError, "inflates past")  # stopped at the limit, not inflated


def test_a_gzip_bomb_hidden_as_a_dna_inside_a_happ_is_refused(node: Any) -> None:
    manifest = {
        "manifest_version": "1",
        "name": "bomber",
        "roles": [{"name": "main", "dna": {"path": "main.dna"}}],
    }
    outer = Bundle(manifest, {"main.dna": gzip_bomb(300)}).encode()
    _refused(node, outer, BundleError, "inflates past")


def test_a_happ_naming_a_missing_dna_is_refused(node: Any) -> None:
    manifest = {
        "manifest_version": "1",
        "name": "lost",
        "roles": [{"name": "main", "dna": {"path": "nowhere.dna"}}],
    }
    _refused(node, Bundle(manifest, {}).encode(), BundleError, "nowhere.dna")


def test_a_dna_naming_a_missing_wasm_is_refused(node: Any) -> None:
    dna = Bundle(
        {"name": "d", "coordinator": {"zomes": [{"name": "z", "path": "z.wasm"}]}}, {}
    ).encode()
    manifest = {"name": "app", "roles": [{"name": "main", "dna": {"path": "main.dna"}}]}
    _refused(node, Bundle(manifest, {"main.dna": dna}).encode(), BundleError, "z.wasm")


def test_packing_an_app_whose_dna_dir_is_missing_is_refused(app_bundle: Any) -> None:
    app_dir = app_bundle.write_dir({"main": [("a", "probe")]})
    (app_dir / "happ.yaml").write_text(
        "manifest_version: '1'\nname: x\nroles:\n  - name: main\n    dna: {path: ./no_such_dna}\n"
    )
    with pytest.raises(BundleError, match=r"dna\.yaml"):
        pack_app_dir(app_dir, app_dir / "out.happ")


def test_installing_the_same_app_id_twice_is_refused(node: Any, probe_bundle: bytes) -> None:
    node.install(probe_bundle, "dup")
    before = _state(node)
    with pytest.raises(ConductorError, match="already installed"):
        node.install(probe_bundle, "dup")
    assert _state(node) == before


def test_two_roles_with_the_same_dna_refused_cleanly(node: Any, app_bundle: Any) -> None:
    """Two roles resolving to one DNA would be one cell twice for the same agent.

    The install must be refused with a clear error *before* anything is written (install is
    documented as all or nothing), not half-written with a HeadMoved error.
    """
    bundle = app_bundle({"r1": [("a", "probe")], "r2": [("a", "probe")]})
    agent = node.conductor.generate_agent()
    before = _state(node)
    with pytest.raises(ZomehostError) as info:
        node.install(bundle, "same-dna-twice", agent=agent)
    dna_hash = next(iter(AppBundle.decode(bundle).dnas.values())).hash
    orphan = SourceChain(node.conductor.store, CellId(dna_hash, agent)).head()
    problems = []
    if orphan is not None:
        problems.append(f"a half-written chain was left behind (head seq {orphan.seq})")
    if _state(node) != before:
        problems.append(f"conductor state changed: {before} -> {_state(node)}")
    if not isinstance(info.value, ConductorError):
        problems.append(f"unclear error {info.value.kind}: {info.value.message}")
    assert not problems, "refused install of two roles with one DNA: " + "; ".join(problems)


def test_installing_for_an_agent_without_a_key_is_refused(node: Any, probe_bundle: bytes) -> None:
    stranger = AgentPubKey.from_core(b"\x07" * 32)
    before = _state(node)
    with pytest.raises(NotFound, match="no key"):
        node.install(probe_bundle, "stranger", agent=stranger)
    assert _state(node) == before
