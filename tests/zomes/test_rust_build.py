"""The Rust zomes build offline with Debian's toolchain and follow the ABI's shape.

Runs ``scripts/build-rust-zomes`` (fast when nothing changed), then checks every zome the
workspace builds: it exports ``memory``, ``__zh_alloc``, ``__zh_free`` and its zome
functions with the ABI's signatures, and imports only host functions of docs/abi.md from the
module ``zomehost``. A few exports are also called with stub imports (no host involved) to
pin the envelope bytes the SDK produces.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import msgpack
import pytest
import wasmtime

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-rust-zomes"
WASM_DIR = REPO / "target" / "wasm32-unknown-unknown" / "release"
ABI_DOC = REPO / "docs" / "abi.md"

# The zomes this test owns, with the zome functions each must export.
EXPECTED: dict[str, set[str]] = {
    "notes": {"create_note", "get_note", "update_note", "delete_note", "list_notes"},
    "probe": {
        "whoami", "dna", "zome", "caller", "create_entry", "get_record", "update_entry",
        "delete_entry", "query_chain", "random", "now", "sign_data", "verify", "log", "signal",
        "echo", "create_then_fail", "create_then_panic", "bad_pointer", "spin", "call_other",
        "call_remote_fn", "remote_signal", "create_and_call", "new_secret", "make_grant",
        "update_grant", "delete_grant", "make_claim", "list_grants", "list_claims",
        "init", "post_commit", "recv_remote_signal",
    },
    "bad_init": {"init", "hello"},
}  # fmt: skip


def abi_host_functions() -> set[str]:
    """The names in the first column of docs/abi.md's "Host functions" table."""
    text = ABI_DOC.read_text()
    section = text.split("## Host functions", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\|\s*`([a-z0-9_]+)`\s*\|", section, flags=re.M))
    assert len(names) >= 20, f"could not parse the host function table: {sorted(names)}"
    return names


def workspace_zomes() -> list[str]:
    """Crate names (as wasm file stems) of every cdylib member of the cargo workspace."""
    root = tomllib.loads((REPO / "Cargo.toml").read_text())
    names = []
    for member in root["workspace"]["members"]:
        for manifest in sorted(REPO.glob(f"{member}/Cargo.toml")):
            crate = tomllib.loads(manifest.read_text())
            if "cdylib" in crate.get("lib", {}).get("crate-type", []):
                names.append(crate["package"]["name"].replace("-", "_"))
    return sorted(names)


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"build-rust-zomes failed:\n{proc.stdout}\n{proc.stderr}"
    return {name: WASM_DIR / f"{name}.wasm" for name in workspace_zomes()}


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def module(engine: wasmtime.Engine, path: Path) -> wasmtime.Module:
    return wasmtime.Module(engine, path.read_bytes())


def sig(ty: Any) -> tuple[list[str], list[str]]:
    return [str(p) for p in ty.params], [str(r) for r in ty.results]


ZOME_FN = (["i32", "i32"], ["i64"])


def test_build_script_is_executable() -> None:
    assert BUILD_SCRIPT.stat().st_mode & 0o111


def test_expected_zomes_built(built: dict[str, Path]) -> None:
    for name in EXPECTED:
        assert name in built, f"{name} is not a workspace member"
        assert built[name].is_file(), f"{built[name]} missing after the build"


def test_every_workspace_zome_follows_the_abi(
    built: dict[str, Path], engine: wasmtime.Engine
) -> None:
    allowed = abi_host_functions()
    for name, path in built.items():
        assert path.is_file(), f"{path} missing"
        m = module(engine, path)
        exports = {e.name: e.type for e in m.exports}
        assert isinstance(exports.get("memory"), wasmtime.MemoryType), name
        assert sig(exports["__zh_alloc"]) == (["i32"], ["i32"]), name
        assert sig(exports["__zh_free"]) == (["i32", "i32"], []), name
        for ename, ety in exports.items():
            if not ename.startswith("__") and isinstance(ety, wasmtime.FuncType):
                assert sig(ety) == ZOME_FN, f"{name}.{ename} has signature {sig(ety)}"
        for imp in m.imports:
            assert imp.module == "zomehost", f"{name} imports {imp.module}.{imp.name}"
            assert imp.name in allowed, f"{name} imports {imp.name}, not in docs/abi.md"
            assert isinstance(imp.type, wasmtime.FuncType), f"{name}: {imp.name} is not a function"
            assert sig(imp.type) == ZOME_FN, f"{name}: {imp.name} has signature {sig(imp.type)}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_zome_functions_exported(
    name: str, built: dict[str, Path], engine: wasmtime.Engine
) -> None:
    exports = {e.name for e in module(engine, built[name]).exports}
    missing = EXPECTED[name] - exports
    assert not missing, f"{name} lacks exports {sorted(missing)}"


def test_probe_imports_every_host_function(built: dict[str, Path], engine: wasmtime.Engine) -> None:
    imported = {i.name for i in module(engine, built["probe"]).imports}
    assert imported == abi_host_functions()


# -- the SDK's side of the ABI, with stub imports (no host) ------------------------------
class Stub:
    """Instantiate a zome with every host import answering ``{"Ok": nil}``."""

    def __init__(self, engine: wasmtime.Engine, path: Path) -> None:
        self.store = wasmtime.Store(engine)
        self.calls: list[tuple[str, Any]] = []
        linker = wasmtime.Linker(engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        ty = wasmtime.FuncType([i32, i32], [i64])
        m = module(engine, path)
        for imp in m.imports:
            linker.define_func("zomehost", imp.name, ty, self._host(imp.name), access_caller=True)
        self.ex = linker.instantiate(self.store, m).exports(self.store)

    def _host(self, name: str) -> Any:
        def f(caller: wasmtime.Caller, ptr: int, length: int) -> int:
            mem = caller["memory"]
            self.calls.append((name, msgpack.unpackb(mem.read(caller, ptr, ptr + length))))
            out = msgpack.packb({"Ok": None})
            p = caller["__zh_alloc"](caller, len(out))
            mem.write(caller, out, p)
            return (p << 32) | len(out)

        return f

    def call_raw(self, fn: str, payload: bytes) -> bytes:
        mem = self.ex["memory"]
        p = self.ex["__zh_alloc"](self.store, len(payload))
        assert p != 0
        mem.write(self.store, payload, p)
        packed = self.ex[fn](self.store, p, len(payload)) & 0xFFFF_FFFF_FFFF_FFFF
        out_ptr, out_len = packed >> 32, packed & 0xFFFF_FFFF
        assert out_ptr + out_len <= mem.data_len(self.store)
        out = mem.read(self.store, out_ptr, out_ptr + out_len)
        self.ex["__zh_free"](self.store, out_ptr, out_len)
        return bytes(out)


def test_envelope_bytes(built: dict[str, Path], engine: wasmtime.Engine) -> None:
    probe = Stub(engine, built["probe"])
    # {"Ok": "hi"}: fixmap(1), "Ok", "hi"
    assert probe.call_raw("echo", msgpack.packb("hi")) == bytes.fromhex("81a24f6ba26869")
    # A wrong input type is an Err envelope with a string, not a trap.
    err = msgpack.unpackb(probe.call_raw("echo", msgpack.packb(5)))
    assert set(err) == {"Err"} and "DeserializeError" in err["Err"]
    # Many calls do not grow memory without bound (inputs and outputs are freed).
    before = probe.ex["memory"].data_len(probe.store)
    for _ in range(2000):
        probe.call_raw("echo", msgpack.packb("x" * 1000))
    assert probe.ex["memory"].data_len(probe.store) <= before + 2 * 65536


def test_callback_shapes(built: dict[str, Path], engine: wasmtime.Engine) -> None:
    probe = Stub(engine, built["probe"])
    # Unit variant: the plain string.
    assert msgpack.unpackb(probe.call_raw("init", msgpack.packb(None))) == {"Ok": "Pass"}
    bad = Stub(engine, built["bad_init"])
    # Newtype variant: a one-entry map.
    assert msgpack.unpackb(bad.call_raw("init", msgpack.packb(None))) == {
        "Ok": {"Fail": "init refused by zome"}
    }
    assert msgpack.unpackb(bad.call_raw("hello", msgpack.packb(None))) == {"Ok": "hello"}
    # recv_remote_signal passes the payload bytes to emit_signal unchanged.
    payload = msgpack.packb({"hi": 1})
    assert msgpack.unpackb(
        probe.call_raw("recv_remote_signal", msgpack.packb(payload, use_bin_type=True))
    ) == {"Ok": None}
    assert probe.calls[-1] == ("emit_signal", payload)


def test_host_call_input_shapes(built: dict[str, Path], engine: wasmtime.Engine) -> None:
    probe = Stub(engine, built["probe"])
    probe.call_raw("log", msgpack.packb("hello"))
    assert probe.calls[-1] == ("trace", {"level": "info", "msg": "hello"})
    probe.call_raw(
        "call_other",
        msgpack.packb(
            {"target": {"Local": None}, "zome_name": "z", "fn_name": "f", "payload": "p"}
        ),
    )
    assert probe.calls[-1] == (
        "call",
        {
            "target": {"Local": None},
            "zome_name": "z",
            "fn_name": "f",
            "cap_secret": None,
            "payload": msgpack.packb("p"),
        },
    )
    probe.call_raw(
        "make_grant",
        msgpack.packb(
            {"tag": "t", "access": "Unrestricted", "functions": {"Listed": [["z", "f"]]}}
        ),
    )
    assert probe.calls[-1] == (
        "create_cap_grant",
        {"tag": "t", "access": "Unrestricted", "functions": {"Listed": [["z", "f"]]}},
    )


def test_sdk_native_shape_tests() -> None:
    """sdk/rust/tests/shapes.rs: the ABI's msgpack shapes, run natively with Debian's cargo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUSTC", "RUSTUP", "CARGO_"))}
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")
    proc = subprocess.run(
        [
            "/usr/bin/cargo",
            "test",
            "-q",
            "-p",
            "zomehost_sdk",
            "--target",
            "x86_64-unknown-linux-gnu",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"cargo test failed:\n{proc.stdout}\n{proc.stderr}"
