"""Install-time checks: only zomehost imports, required exports, no proposals that escape the
caps, module and bundle size limits, decompression bombs refused; all or nothing."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from zomehost.core.bundle import (
    MAX_INFLATED_BYTES,
    MAX_WASM_BYTES,
    AppBundle,
    Bundle,
    DnaFile,
)
from zomehost.core.codec import pack
from zomehost.errors import BundleError, WasmError
from zomehost.fuzz.testbed import TestBed, app_bundle, dna, wat

REFUSED = {
    "wasi_import": "imports wasi_snapshot_preview1.fd_write",
    "unknown_import": "imports zomehost.exec",
    "env_memory_import": "imports env.memory",
    "wrong_signature": "import zomehost.create has the wrong signature",
    "missing_alloc": "does not export __zh_alloc",
    "no_memory": "export 'memory' is not a memory",
    "shared_memory": "threads must be enabled",
    "two_memories": "multiple memories",
    "memory64": "memory64",
    "gc_structs": "",  # refused by the parser: GC types are off
    "many_tables": "declares 60 tables, limit 4",
    "huge_table": "declares 50000000 elements in a table, limit 100000",
}


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    tb = TestBed(Path(tmp_path_factory.mktemp("install")) / "home")
    yield tb
    tb.close()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_module(bed: TestBed, name: str) -> None:
    before = bed.conductor.list_apps()
    with pytest.raises(WasmError) as exc:
        bed.install({"z": wat(f"refused/{name}")}, app_id=f"refused-{name}")
    assert REFUSED[name] in exc.value.message
    assert "'z'" in exc.value.message  # names the zome
    assert bed.conductor.list_apps() == before  # nothing installed


def test_refusal_is_all_or_nothing(bed: TestBed) -> None:
    """A good zome next to a bad one: neither is installed, no DNA or wasm is stored."""
    dnas, wasm = bed.conductor.list_dnas(), bed.conductor.store.state_names("wasm/")
    with pytest.raises(WasmError):
        bed.install({"good": wat("writer"), "bad": wat("refused/wasi_import")}, app_id="mixed")
    assert bed.conductor.list_dnas() == dnas
    assert bed.conductor.store.state_names("wasm/") == wasm
    with pytest.raises(Exception, match="no app 'mixed'"):
        bed.conductor.get_app("mixed")


def test_module_size_limit(bed: TestBed) -> None:
    # a valid module whose custom section makes it one byte too large; gzip makes it tiny
    base = wat("writer")
    pad = MAX_WASM_BYTES - len(base) + 16
    name = b"\x01x"
    size = len(name) + pad
    leb = bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        leb.append(byte | (0x80 if size else 0))
        if not size:
            break
    big = base + b"\x00" + bytes(leb) + name + b"\x00" * pad
    assert len(big) > MAX_WASM_BYTES
    with pytest.raises(BundleError, match="larger than"):
        bed.conductor.install_app(app_bundle({"main": dna({"z": big})}), "too-big")
    with pytest.raises(WasmError, match="limit"):  # the engine refuses it on its own too
        bed.conductor.engine.check(big, "z")


def test_decompression_bomb_refused() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\x00" * (1 << 20)
    parts = [comp.compress(chunk) for _ in range(MAX_INFLATED_BYTES // len(chunk) + 2)]
    bomb = b"".join(parts) + comp.flush()
    assert len(bomb) < 2 * 1024 * 1024  # a small file...
    with pytest.raises(BundleError, match="inflates past"):  # ...that inflates past the cap
        Bundle.decode(bomb)
    with pytest.raises(BundleError, match="inflates past"):
        AppBundle.decode(bomb)


def test_bundle_size_and_shape_limits() -> None:
    with pytest.raises(BundleError, match="limit"):
        Bundle.decode(b"\x1f\x8b" + b"\x00" * 100, max_bytes=50)
    many = Bundle({"name": "x"}, {f"r{i}": b"" for i in range(300)}).encode()
    with pytest.raises(BundleError, match="at most 256"):
        Bundle.decode(many)
    with pytest.raises(BundleError, match="truncated"):
        Bundle.decode(Bundle({"a": 1}).encode()[:-9])
    with pytest.raises(BundleError):
        Bundle.decode(zlib.compress(pack([1, 2, 3]), wbits=31))
    with pytest.raises(BundleError, match="missing from bundle"):
        DnaFile.from_bundle(Bundle(dna({"z": wat("writer")}).manifest.to_doc(), {}))
