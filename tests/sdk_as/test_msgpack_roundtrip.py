"""The AssemblyScript SDK's msgpack codec and ABI glue, run in wasmtime without a host.

* Round trip (hypothesis): Python msgpack packs a value, ``msgpack_echo_as.echo`` decodes it
  into the SDK's generic ``Value`` tree and re-encodes it; the reply must be exactly
  ``packb({"Ok": value})`` (the SDK writes the same shortest forms as Python) and unpack
  to the original. Plus explicit edge cases and malformed input.
* ``probe_as`` imports only host functions of docs/abi.md from module ``zomehost`` and
  exports the Rust probe's functions with the ABI's signatures.
* ``probe_as`` against stub host functions (Python, no conductor): the SDK's typed wrappers
  decode and re-encode the shared types without changing a byte, host errors come back as
  the Rust SDK's error text, aborts log through ``trace`` and trap, and every block the
  host hands over is freed.
* Strict decoding (as the Rust SDK): a shared type with a required field missing, nil or
  of the wrong type is a ``DeserializeError``, in a zome function's input (a malformed
  grant never reaches ``create_cap_grant``) and in a host function's reply; only the
  ABI's optional keys may be absent.

The modules are built with ``scripts/build-as-zomes`` (skipped when up to date).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-as-zomes"
ECHO_WASM = REPO / "zomes" / "msgpack_echo_as" / "build" / "msgpack_echo_as.wasm"
PROBE_WASM = REPO / "zomes" / "probe_as" / "build" / "probe_as.wasm"
ABI_DOC = REPO / "docs" / "abi.md"

# The Rust probe's zome functions and callbacks (zomes/probe/src/lib.rs): probe_as mirrors them.
PROBE_FUNCTIONS = {
    "whoami", "dna", "zome", "caller", "create_entry", "get_record", "update_entry",
    "delete_entry", "query_chain", "random", "now", "sign_data", "verify", "log", "signal",
    "echo", "read_or", "create_then_fail", "create_then_panic", "bad_pointer", "spin", "call_other",
    "create_relaxed_batch",
    "call_remote_fn", "remote_signal", "create_and_call", "new_secret", "make_grant",
    "update_grant", "delete_grant", "make_claim", "list_grants", "list_claims",
    "entry_hash_of", "action_hash_of", "blake2b", "seal_for", "open_from", "seal_own",
    "open_own", "typed_roundtrip", "typed_via", "schedule_fn", "scheduled_ping",
    "clone_cell", "disable_clone", "enable_clone", "delete_clone", "clone_many",
    "init", "post_commit", "recv_remote_signal",
}  # fmt: skip

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1
MASK64 = U64_MAX


def pack(value: Any, **kw: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, **kw)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def abi_host_functions() -> set[str]:
    """The names in the first column of docs/abi.md's "Host functions" table."""
    section = ABI_DOC.read_text().split("## Host functions", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\|\s*`([a-z0-9_]+)`\s*\|", section, flags=re.M))
    assert len(names) >= 20, f"could not parse the host function table: {sorted(names)}"
    return names


# ---------------------------------------------------------------------------------------------
# Build


@pytest.fixture(scope="module")
def built() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot build the AssemblyScript zomes")
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"build-as-zomes failed:\n{proc.stdout}\n{proc.stderr}"
    assert ECHO_WASM.is_file() and PROBE_WASM.is_file()


# ---------------------------------------------------------------------------------------------
# A bare guest: call an export by the ABI (alloc, write, call, bounds-check, read, free)


class Guest:
    def __init__(self, store: wasmtime.Store, instance: wasmtime.Instance) -> None:
        self.store = store
        ex = instance.exports(store)
        self.exports = ex
        self.memory: wasmtime.Memory = ex["memory"]  # type: ignore[assignment]
        self.alloc: wasmtime.Func = ex["__zh_alloc"]  # type: ignore[assignment]
        self.free: wasmtime.Func = ex["__zh_free"]  # type: ignore[assignment]

    def call_raw(self, name: str, data: bytes) -> bytes:
        ptr = self.alloc(self.store, len(data))
        assert ptr != 0
        self.memory.write(self.store, data, ptr)
        ret = self.exports[name](self.store, ptr, len(data)) & MASK64  # type: ignore[operator]
        out_ptr, out_len = ret >> 32, ret & 0xFFFFFFFF
        assert out_ptr + out_len <= self.memory.data_len(self.store), "result out of bounds"
        out = self.memory.read(self.store, out_ptr, out_ptr + out_len)
        self.free(self.store, out_ptr, out_len)
        return bytes(out)

    def call(self, name: str, value: Any) -> Any:
        return unpack(self.call_raw(name, pack(value)))

    def pages(self) -> int:
        return self.memory.size(self.store)


@pytest.fixture(scope="module")
def echo(built: None) -> Guest:
    """One long-lived instance for every example (exercises reuse of freed memory)."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, ECHO_WASM.read_bytes())
    assert module.imports == [], "msgpack_echo_as must import nothing"
    return Guest(store, wasmtime.Instance(store, module, []))


EXAMPLES = {"roundtrip": 0}


@pytest.fixture(scope="module", autouse=True)
def report_examples(
    request: pytest.FixtureRequest, record_testsuite_property: Callable[[str, object], None]
) -> Iterator[None]:
    """Print (past output capture) and record (junit xml) how many examples ran."""
    yield
    n = EXAMPLES["roundtrip"]
    if n == 0:
        return
    record_testsuite_property("as_msgpack_roundtrip_examples", n)
    line = f"msgpack round trip through AssemblyScript: {n} hypothesis examples"
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print(f"\n{line}")
    else:
        print(line)


def roundtrip(guest: Guest, value: Any, **pack_kw: Any) -> None:
    data = pack(value, **pack_kw)
    out = guest.call_raw("echo", data)
    assert out == b"\x81\xa2Ok" + data, f"re-encoding differs for {value!r:.200}"
    assert guest.call_raw("skip_len", data) == b"\x81\xa2Ok" + pack(len(data))
    back = unpack(out)["Ok"]
    if not _has_nan(value):
        assert back == value


def _has_nan(v: Any) -> bool:
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, list):
        return any(_has_nan(x) for x in v)
    if isinstance(v, dict):
        return any(_has_nan(k) or _has_nan(x) for k, x in v.items())
    return False


# ---------------------------------------------------------------------------------------------
# Strategies

INT_EDGES = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
    I64_MAX, 2**63, U64_MAX, -1, -32, -33, -128, -129, -32768, -32769, -(2**31),
    -(2**31) - 1, I64_MIN,
]  # fmt: skip
# sizes around every header boundary (fix/8/16/32-bit lengths), and 100 KiB
SIZES = [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 100 * 1024]

ints = st.one_of(st.integers(I64_MIN, U64_MAX), st.sampled_from(INT_EDGES))
floats = st.floats(allow_nan=False)  # with inf, -inf, -0.0, subnormals
big_bytes = st.builds(lambda n, b: bytes([b]) * n, st.sampled_from(SIZES), st.integers(0, 255))
binaries = st.one_of(st.binary(max_size=300), big_bytes)
big_text = st.builds(
    lambda n, c: c * n, st.sampled_from(SIZES[:-1]), st.sampled_from(["a", "é", "☃", "😀"])
)
texts = st.one_of(st.text(max_size=100), big_text)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, st.text(max_size=10))
leaves = st.one_of(st.none(), st.booleans(), ints, floats, texts, binaries)
keys = st.one_of(st.text(max_size=20), st.integers(I64_MIN, U64_MAX))
big_arrays = st.builds(
    lambda n, x: [x] * n, st.sampled_from([15, 16, 17, 65535, 65536, 70000]), scalars
)


def nested(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return leaves
    child = nested(depth - 1)
    return st.one_of(
        leaves,
        st.lists(child, max_size=6),
        st.dictionaries(keys, child, max_size=6),
    )


values = st.one_of(nested(5), big_arrays)


# ---------------------------------------------------------------------------------------------
# Round trip


@settings(
    max_examples=int(os.environ.get("ZH_AS_ROUNDTRIP_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(value=values)
def test_roundtrip_property(echo: Guest, value: Any) -> None:
    EXAMPLES["roundtrip"] += 1
    roundtrip(echo, value)


@pytest.mark.parametrize(
    "value", INT_EDGES + [n + d for n in (2**8, 2**16, 2**32) for d in (-1, 0, 1)]
)
def test_integer_edges(echo: Guest, value: int) -> None:
    roundtrip(echo, value)


@pytest.mark.parametrize(
    "value", [0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, 1e308, 5e-324, math.pi, math.nan]
)
def test_float64(echo: Guest, value: float) -> None:
    roundtrip(echo, value)


@pytest.mark.parametrize("value", [0.0, 1.5, -3.25, math.inf, 3.4028234663852886e38])
def test_float32_keeps_its_width(echo: Guest, value: float) -> None:
    data = pack(value, use_single_float=True)
    assert data[0] == 0xCA
    assert echo.call_raw("echo", data) == b"\x81\xa2Ok" + data


@pytest.mark.parametrize("n", [*SIZES[:-1], 70000])
@pytest.mark.parametrize("char", ["a", "é", "☃", "😀"])
def test_strings(echo: Guest, n: int, char: str) -> None:
    roundtrip(echo, char * n)


def test_string_specials(echo: Guest) -> None:
    for s in [
        "",
        "\x00",
        "a\x00b",
        "\u07ff\u0800\uffff\U00010000\U0010ffff",
        "naïve ☃ 😀 עברית 日本語",
    ]:
        roundtrip(echo, s)


@pytest.mark.parametrize("n", [*SIZES, 1 << 20])
def test_binaries(echo: Guest, n: int) -> None:
    roundtrip(echo, os.urandom(n))


@pytest.mark.parametrize("n", [0, 15, 16, 65535, 65536, 70000])
def test_large_arrays(echo: Guest, n: int) -> None:
    roundtrip(echo, list(range(n)))
    roundtrip(echo, ["x"] * n)


@pytest.mark.parametrize("n", [0, 15, 16, 65535, 65536])
def test_large_maps(echo: Guest, n: int) -> None:
    roundtrip(echo, {f"k{i}": i for i in range(n)})


def test_maps_with_any_keys(echo: Guest) -> None:
    roundtrip(echo, {1: "a", -5: None, "s": [1, {"x": b"y"}], U64_MAX: True, I64_MIN: 1.5})
    # array keys come back as tuples in Python; compare the bytes
    data = b"\x81\x92\x01\x02\xa1v"  # {[1, 2]: "v"}
    assert echo.call_raw("echo", data) == b"\x81\xa2Ok" + data


def test_deep_nesting(echo: Guest) -> None:
    v: Any = "leaf"
    for i in range(200):
        v = [v] if i % 2 else {"k": v}
    roundtrip(echo, v)
    # deeper than the SDK's limit (256): a clean error, not a crash
    data = b"\x91" * 300 + b"\xc0"
    reply = unpack(echo.call_raw("echo", data))
    assert "nesting deeper than 256" in reply["Err"]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 8, 16, 17, 255, 256, 70000])
@pytest.mark.parametrize("code", [5, -1, 127, -128])
def test_ext(echo: Guest, n: int, code: int) -> None:
    payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    data = ext_bytes(code, payload)
    if code >= 0:
        assert data == pack(msgpack.ExtType(code, payload))
    assert echo.call_raw("echo", data) == b"\x81\xa2Ok" + data


def ext_bytes(code: int, data: bytes) -> bytes:
    """msgpack ext by hand (Python's ExtType refuses negative codes, e.g. -1 = timestamp)."""
    n = len(data)
    fix = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    if n in fix:
        head = bytes([fix[n]])
    elif n <= 0xFF:
        head = bytes([0xC7, n])
    elif n <= 0xFFFF:
        head = b"\xc8" + n.to_bytes(2, "big")
    else:
        head = b"\xc9" + n.to_bytes(4, "big")
    return head + code.to_bytes(1, "big", signed=True) + data


def test_non_minimal_input_is_reencoded_minimally(echo: Guest) -> None:
    for raw, value in [
        (b"\xcd\x00\x01", 1),
        (b"\xd3\xff\xff\xff\xff\xff\xff\xff\xff", -1),
        (b"\xd2\x00\x00\x00\x05", 5),
        (b"\xdb\x00\x00\x00\x02hi", "hi"),
        (b"\xc6\x00\x00\x00\x01z", b"z"),
        (b"\xdd\x00\x00\x00\x01\x07", [7]),
        (b"\xdf\x00\x00\x00\x01\xa1a\x01", {"a": 1}),
    ]:
        assert echo.call_raw("echo", raw) == b"\x81\xa2Ok" + pack(value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "expected a value, found end of input"),
        (b"\xc1", "invalid byte 0xc1"),
        (b"\x01\x02", "1 trailing bytes"),
        (b"\xa3ab", "truncated input"),
        (b"\xd9", "truncated input"),
        (b"\xcd\x01", "truncated input"),
        (b"\xcf\x00\x00", "truncated input"),
        (b"\xcb\x00", "truncated input"),
        (b"\xc4\x05abc", "truncated input"),
        (b"\xc6\xff\xff\xff\xff", "truncated input"),
        (b"\x92\x01", "truncated input"),
        (b"\xdd\xff\xff\xff\xff", "truncated input"),  # 4 G elements announced: no OOM
        (b"\xdf\xff\xff\xff\xff", "truncated input"),
        (b"\x81\xa1a", "truncated input"),
        (b"\xd8\x01abc", "truncated input"),
        (b"\xa2\xff\xfe", "not valid UTF-8"),
        (b"\xa2\xc0\x80", "not valid UTF-8"),  # overlong NUL
        (b"\xa3\xed\xa0\x80", "not valid UTF-8"),  # UTF-16 surrogate
        (b"\xa4\xf4\x90\x80\x80", "not valid UTF-8"),  # above U+10FFFF
    ],
)
def test_malformed_input_is_a_clean_error(echo: Guest, data: bytes, needle: str) -> None:
    reply = unpack(echo.call_raw("echo", data))
    assert set(reply) == {"Err"}
    assert reply["Err"].startswith("DeserializeError: input could not be decoded: msgpack: ")
    assert needle in reply["Err"], reply["Err"]
    # skip() finds the same structural problems (it does not validate UTF-8)
    skip = unpack(echo.call_raw("skip_len", data))
    assert ("Err" in skip) == ("UTF-8" not in needle), skip


def test_memory_is_reused(echo: Guest) -> None:
    """Input blocks, result blocks and the Value trees are freed: memory stops growing."""
    value = {"bin": os.urandom(256 * 1024), "list": list(range(5000)), "s": "☃" * 10000}
    for _ in range(20):
        roundtrip(echo, value)
    pages = echo.pages()
    for _ in range(100):
        roundtrip(echo, value)
    assert echo.pages() <= pages + 2, f"memory grew from {pages} to {echo.pages()} pages"


# ---------------------------------------------------------------------------------------------
# probe_as: imports and exports


def test_probe_imports_only_abi_host_functions(built: None) -> None:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, PROBE_WASM.read_bytes())
    allowed = abi_host_functions()
    imports = {(imp.module, imp.name) for imp in module.imports}
    assert imports, "probe_as imports no host function at all?"
    for imp in module.imports:
        assert imp.module == "zomehost", f"imports from module {imp.module!r}: {imp.name}"
        assert imp.name in allowed, f"zomehost.{imp.name} is not in docs/abi.md"
        ty = imp.type
        assert isinstance(ty, wasmtime.FuncType)
        assert [str(p) for p in ty.params] == ["i32", "i32"], imp.name
        assert [str(r) for r in ty.results] == ["i64"], imp.name
    # the probe calls every host function
    assert {name for _, name in imports} == allowed


def test_probe_exports(built: None) -> None:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, PROBE_WASM.read_bytes())
    exports = {e.name: e.type for e in module.exports}
    assert isinstance(exports.pop("memory"), wasmtime.MemoryType)
    alloc, free = exports.pop("__zh_alloc"), exports.pop("__zh_free")
    assert isinstance(alloc, wasmtime.FuncType) and isinstance(free, wasmtime.FuncType)
    assert [str(t) for t in alloc.params] == ["i32"] and [str(t) for t in alloc.results] == ["i32"]
    assert [str(t) for t in free.params] == ["i32", "i32"] and list(free.results) == []
    marker = exports.pop("__zh_schedulable_scheduled_ping")  # marks it schedulable
    assert isinstance(marker, wasmtime.FuncType)
    assert set(exports) == PROBE_FUNCTIONS
    for name, ty in exports.items():
        assert isinstance(ty, wasmtime.FuncType), name
        assert [str(p) for p in ty.params] == ["i32", "i32"], name
        assert [str(r) for r in ty.results] == ["i64"], name


# ---------------------------------------------------------------------------------------------
# probe_as against stub host functions


def h(kind: int, fill: int) -> bytes:
    """A 39-byte hash-shaped value (prefix of the kind, constant core; not a valid location)."""
    return bytes([0x84, kind, 0x24]) + bytes([fill]) * 36


AGENT, OTHER = h(0x20, 1), h(0x20, 2)
ACTION, ACTION2 = h(0x29, 3), h(0x29, 4)
ENTRY, DNA = h(0x21, 5), h(0x2D, 6)
SECRET = bytes(range(64))

GENESIS = {
    "action_hash": ACTION,
    "action": {"type": "Dna", "author": AGENT, "timestamp": 1, "action_seq": 0,
               "prev_action": None, "dna_hash": DNA},
    "signature": b"s" * 64,
    "entry": None,
}  # fmt: skip
CREATE = {
    "action_hash": ACTION2,
    "action": {"type": "Create", "author": AGENT, "timestamp": 1_700_000_000_000_000,
               "action_seq": 3, "prev_action": ACTION, "entry_type": "probe",
               "entry_hash": ENTRY, "some_future_field": [1, {"x": None}]},
    "signature": b"t" * 64,
    "entry": {"entry_type": "probe", "content": pack("hello")},
}  # fmt: skip
GRANTS = [
    {"action_hash": ACTION, "grant": {"tag": "u", "access": "Unrestricted", "functions": "All"},
     "revoked": False},
    {"action_hash": ACTION2, "grant": {"tag": "t", "access": {"Transferable": {"secret": SECRET}},
     "functions": {"Listed": [["probe", "echo"], ["z", "f"]]}}, "revoked": True},
    {"action_hash": ACTION2, "grant": {"tag": "a", "access": {"Assigned": {"secret": SECRET,
     "assignees": [AGENT, OTHER]}}, "functions": {"Listed": []}}, "revoked": False},
]  # fmt: skip
HEAD = {"action": ACTION2, "seq": 3, "timestamp": 1_700_000_000_000_000}

# What each stub host function returns (as the Ok value), by name.
OK_REPLIES: dict[str, Any] = {
    "agent_info": {"agent_initial_pubkey": AGENT, "agent_latest_pubkey": AGENT, "chain_head": HEAD},
    "dna_info": {"hash": DNA, "name": "probe dna", "properties": pack({"p": 1}),
                 "network_seed": "seed ☃", "zome_names": ["probe", "probe_as"]},
    "zome_info": {"name": "probe_as", "id": 1, "function_names": sorted(PROBE_FUNCTIONS)},
    "call_info": {"provenance": OTHER, "zome_name": "probe_as", "function_name": "caller",
                  "as_at": HEAD, "cap_grant": {"RemoteAgent": {"action_hash": ACTION, "tag": "t",
                  "access": {"Assigned": {"secret": SECRET, "assignees": [OTHER]}},
                  "functions": {"Listed": [["probe_as", "caller"]]}}}},
    "create": ACTION2,
    "get": CREATE,
    "update": ACTION2,
    "delete": ACTION2,
    "query": [GENESIS, CREATE],
    "random_bytes": b"\x07" * 10,
    "sys_time": 1_700_000_000_123_456,
    "sign": b"S" * 64,
    "verify_signature": True,
    "trace": None,
    "emit_signal": None,
    "call": {"Unauthorized": {"zome_name": "z", "fn_name": "f", "cell_id": [DNA, AGENT],
             "provenance": OTHER, "reason": "no grant"}},
    "call_remote": {"Ok": pack({"remote": "value"})},
    "send_remote_signal": None,
    "generate_cap_secret": SECRET,
    "create_cap_grant": ACTION,
    "update_cap_grant": ACTION2,
    "delete_cap_grant": ACTION2,
    "create_cap_claim": ACTION,
    "capability_grants": GRANTS,
    "capability_claims": [{"action_hash": ACTION, "claim": {"tag": "c", "grantor": OTHER,
                                                            "secret": SECRET}}],
}  # fmt: skip


class StubHost:
    """Host functions in Python with canned replies; records every call's decoded input."""

    def __init__(self) -> None:
        self.engine = wasmtime.Engine()
        self.store = wasmtime.Store(self.engine)
        self.calls: list[tuple[str, Any]] = []
        self.replies: dict[str, Any] = {name: {"Ok": v} for name, v in OK_REPLIES.items()}
        module = wasmtime.Module(self.engine, PROBE_WASM.read_bytes())
        linker = wasmtime.Linker(self.engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        ty = wasmtime.FuncType([i32, i32], [i64])
        for imp in module.imports:
            name = str(imp.name)
            linker.define_func("zomehost", name, ty, self._host_fn(name), access_caller=True)
        self.guest = Guest(self.store, linker.instantiate(self.store, module))

    def _host_fn(self, name: str) -> Callable[..., int]:
        def fn(caller: wasmtime.Caller, ptr: int, length: int) -> int:
            memory: wasmtime.Memory = caller["memory"]  # type: ignore[assignment]
            ptr &= 0xFFFFFFFF
            if ptr + length > memory.data_len(caller):
                raise wasmtime.Trap(f"InvalidGuestPointer: {name} input out of bounds")
            self.calls.append((name, unpack(bytes(memory.read(caller, ptr, ptr + length)))))
            out = pack(self.replies[name])
            out_ptr: int = caller["__zh_alloc"](caller, len(out))  # type: ignore[operator]
            memory.write(caller, out, out_ptr)
            ret = (out_ptr << 32) | len(out)
            return ret - (1 << 64) if ret >= 1 << 63 else ret

        return fn

    def call(self, fn: str, value: Any) -> Any:
        self.calls.clear()
        return self.guest.call(fn, value)


@pytest.fixture()
def stub(built: None) -> StubHost:
    return StubHost()


@pytest.mark.parametrize(
    ("fn", "host_fn"),
    [("whoami", "agent_info"), ("dna", "dna_info"), ("zome", "zome_info"), ("caller", "call_info")],
)
def test_info_functions_pass_host_values_through(stub: StubHost, fn: str, host_fn: str) -> None:
    assert stub.call(fn, None) == {"Ok": OK_REPLIES[host_fn]}
    assert stub.calls == [(host_fn, None)]


def test_info_with_empty_chain_and_chain_author(stub: StubHost) -> None:
    stub.replies["agent_info"] = {"Ok": {**OK_REPLIES["agent_info"], "chain_head": None}}
    assert stub.call("whoami", None)["Ok"]["chain_head"] is None
    info = {**OK_REPLIES["call_info"], "as_at": None, "cap_grant": {"ChainAuthor": AGENT}}
    stub.replies["call_info"] = {"Ok": info}
    assert stub.call("caller", None) == {"Ok": info}


def test_records_pass_through_unchanged(stub: StubHost) -> None:
    assert stub.call("get_record", ACTION2) == {"Ok": CREATE}
    assert stub.calls == [("get", {"hash": ACTION2})]
    stub.replies["get"] = {"Ok": None}
    assert stub.call("get_record", ENTRY) == {"Ok": None}
    flt = {"entry_type": ["probe"], "include_entries": True}
    assert stub.call("query_chain", flt) == {"Ok": [GENESIS, CREATE]}
    assert stub.calls == [("query", {"sequence_range": None, "entry_type": ["probe"],
                                     "action_type": None, "include_entries": True,
                                     "descending": False, "entry_hashes": None})]  # fmt: skip
    stub.call(
        "query_chain", {"sequence_range": [1, 5], "action_type": ["Create"], "descending": True}
    )
    assert stub.calls[0][1]["sequence_range"] == [1, 5]


def test_create_update_delete_inputs(stub: StubHost) -> None:
    assert stub.call("create_entry", {"value": {"any": ["value", 1]}}) == {"Ok": ACTION2}
    assert stub.calls == [("create", {"entry_type": "probe", "entry": pack({"any": ["value", 1]}),
                                      "chain_top_ordering": "Strict"})]  # fmt: skip
    stub.call("create_entry", {"entry_type": "note", "value": "hi"})
    assert stub.calls == [("create", {"entry_type": "note", "entry": pack("hi"),
                                      "chain_top_ordering": "Strict"})]  # fmt: skip
    stub.call("create_entry", {"value": "hi", "relaxed": True})
    assert stub.calls == [("create", {"entry_type": "probe", "entry": pack("hi"),
                                      "chain_top_ordering": "Relaxed"})]  # fmt: skip
    assert stub.call("update_entry", {"original": ACTION, "value": "v2"}) == {"Ok": ACTION2}
    assert stub.calls == [("update", {"original_action": ACTION, "entry_type": "probe",
                                      "entry": pack("v2"),
                                      "chain_top_ordering": "Strict"})]  # fmt: skip
    assert stub.call("delete_entry", ACTION2) == {"Ok": ACTION2}
    assert stub.calls == [("delete", {"deletes_action": ACTION2, "chain_top_ordering": "Strict"})]


def test_utilities(stub: StubHost) -> None:
    assert stub.call("random", 10) == {"Ok": b"\x07" * 10}
    assert stub.calls == [("random_bytes", 10)]
    assert stub.call("now", None) == {"Ok": 1_700_000_000_123_456}
    assert stub.call("sign_data", b"data") == {"Ok": b"S" * 64}
    assert stub.calls == [("agent_info", None), ("sign", {"key": AGENT, "data": b"data"})]
    assert stub.call("verify", {"key": AGENT, "signature": b"x" * 64, "data": b"d"}) == {"Ok": True}
    assert stub.calls == [
        ("verify_signature", {"key": AGENT, "signature": b"x" * 64, "data": b"d"})
    ]
    assert stub.call("log", "hello ☃") == {"Ok": None}
    assert stub.calls == [("trace", {"level": "info", "msg": "hello ☃"})]
    assert stub.call("signal", {"s": [1, 2]}) == {"Ok": None}
    assert stub.calls == [("emit_signal", pack({"s": [1, 2]}))]
    assert stub.call("echo", "☃ echo") == {"Ok": "☃ echo"}
    assert stub.calls == []


def test_calls(stub: StubHost) -> None:
    reply = stub.call(
        "call_other",
        {"target": {"Role": "other"}, "zome_name": "z", "fn_name": "f", "payload": "p"},
    )
    assert reply == {"Ok": OK_REPLIES["call"]}
    assert stub.calls == [("call", {"target": {"Role": "other"}, "zome_name": "z", "fn_name": "f",
                                    "cap_secret": None, "payload": pack("p")})]  # fmt: skip
    stub.call(
        "call_other", {"target": "Local", "zome_name": "z", "fn_name": "f", "cap_secret": SECRET}
    )
    assert stub.calls[0][1]["target"] == {"Local": None}
    assert stub.calls[0][1]["payload"] == pack(None) and stub.calls[0][1]["cap_secret"] == SECRET
    stub.call("call_other", {"target": {"Cell": [DNA, OTHER]}, "zome_name": "z", "fn_name": "f"})
    assert stub.calls[0][1]["target"] == {"Cell": [DNA, OTHER]}
    for variant in [{"AuthenticationFailed": "bad sig"}, {"NetworkError": "down"},
                    {"CallError": "callee failed"}, {"Ok": pack([1, 2])}]:  # fmt: skip
        stub.replies["call"] = {"Ok": variant}
        reply = stub.call(
            "call_other", {"target": {"Local": None}, "zome_name": "z", "fn_name": "f"}
        )
        assert reply == {"Ok": variant}

    remote = {"agent": OTHER, "zome_name": "z", "fn_name": "f", "payload": [1], "timeout_ms": 500}
    assert stub.call("call_remote_fn", remote) == {"Ok": OK_REPLIES["call_remote"]}
    assert stub.calls == [("call_remote", {"agent": OTHER, "zome_name": "z", "fn_name": "f",
                                           "cap_secret": None, "payload": pack([1]),
                                           "timeout_ms": 500})]  # fmt: skip
    stub.call("call_remote_fn", {"agent": OTHER, "zome_name": "z", "fn_name": "f"})
    assert stub.calls[0][1]["timeout_ms"] is None
    assert stub.call("remote_signal", {"agents": [AGENT, OTHER], "value": "sig"}) == {"Ok": None}
    assert stub.calls == [
        ("send_remote_signal", {"agents": [AGENT, OTHER], "payload": pack("sig")})
    ]

    stub.replies["call"] = {"Ok": {"Ok": pack("x")}}
    assert stub.call(
        "create_and_call", {"value": 1, "zome_name": "z", "fn_name": "f", "payload": "in"}
    ) == {"Ok": {"Ok": pack("x")}}
    assert [name for name, _ in stub.calls] == ["create", "call"]
    assert stub.calls[1][1]["target"] == {"Local": None}


def test_capabilities(stub: StubHost) -> None:
    assert stub.call("new_secret", None) == {"Ok": SECRET}
    for grant in [g["grant"] for g in GRANTS]:
        assert stub.call("make_grant", grant) == {"Ok": ACTION}
        assert stub.calls == [("create_cap_grant", grant)]
    upd = {"original_action": ACTION, "grant": GRANTS[1]["grant"]}
    assert stub.call("update_grant", upd) == {"Ok": ACTION2}
    assert stub.calls == [("update_cap_grant", upd)]
    assert stub.call("delete_grant", ACTION) == {"Ok": ACTION2}
    assert stub.calls == [("delete_cap_grant", ACTION)]
    claim = {"tag": "c", "grantor": OTHER, "secret": SECRET}
    assert stub.call("make_claim", claim) == {"Ok": ACTION}
    assert stub.calls == [("create_cap_claim", claim)]
    assert stub.call("list_grants", True) == {"Ok": GRANTS}
    assert stub.calls == [("capability_grants", {"include_revoked": True})]
    assert stub.call("list_claims", {"tag": "c"}) == {"Ok": OK_REPLIES["capability_claims"]}
    assert stub.calls == [("capability_claims", {"grantor": None, "tag": "c"})]
    stub.call("list_claims", None)
    assert stub.calls == [("capability_claims", {"grantor": None, "tag": None})]


def test_callbacks(stub: StubHost) -> None:
    assert stub.call("init", None) == {"Ok": "Pass"}
    assert stub.call("post_commit", [GENESIS, CREATE]) == {"Ok": None}
    assert stub.calls == [("emit_signal", pack({"post_commit": 2}))]
    assert stub.call("recv_remote_signal", pack({"hello": "there"})) == {"Ok": None}
    assert stub.calls == [("emit_signal", pack({"hello": "there"}))]


def test_errors(stub: StubHost) -> None:
    # a deliberate failure after a write
    assert stub.call("create_then_fail", "v") == {"Err": "deliberate failure"}
    assert stub.calls == [("create", {"entry_type": "probe", "entry": pack("v"),
                                      "chain_top_ordering": "Strict"})]  # fmt: skip
    # a host error propagates as "Kind: message" (the Rust SDK's WasmError text)
    stub.replies["agent_info"] = {"Err": {"kind": "NotFound", "message": "no such cell"}}
    assert stub.call("whoami", None) == {"Err": "NotFound: no such cell"}
    stub.replies["create"] = {"Err": {"kind": "LimitExceeded", "message": "too big"}}
    assert stub.call("create_then_fail", "v") == {"Err": "LimitExceeded: too big"}
    # a reply that is not an envelope
    stub.replies["sys_time"] = {"Nope": 1}
    err = stub.call("now", None)["Err"]
    assert err.startswith("DeserializeError: reply of sys_time is not a result envelope"), err
    # an Ok value of the wrong type
    stub.replies["sys_time"] = {"Ok": "not an int"}
    err = stub.call("now", None)["Err"]
    assert err.startswith("DeserializeError: result of sys_time could not be decoded"), err
    assert "expected int, found str" in err
    # input of the wrong shape
    err = stub.call("echo", 5)["Err"]
    assert err.startswith("DeserializeError: input of echo could not be decoded: "), err
    assert "msgpack: expected str, found int" in err
    err = stub.call("create_entry", {"entry_type": "x"})["Err"]
    assert "missing field `value`" in err
    assert stub.calls == []


def test_abort_traces_then_traps(stub: StubHost) -> None:
    with pytest.raises(wasmtime.Trap):
        stub.call("create_then_panic", "v")
    assert [name for name, _ in stub.calls] == ["create", "trace"]
    trace = stub.calls[1][1]
    assert trace["level"] == "error" and trace["abort"] is True  # the host puts it in the error
    assert trace["msg"].startswith("aborted: deliberate panic after create")


def test_bad_pointer_reaches_the_host_check(stub: StubHost) -> None:
    with pytest.raises(wasmtime.Trap, match="InvalidGuestPointer"):
        stub.call("bad_pointer", None)


def test_host_reply_blocks_are_freed(stub: StubHost) -> None:
    for _ in range(50):
        stub.call("query_chain", {})
    pages = stub.guest.pages()
    for _ in range(500):
        assert stub.call("query_chain", {}) == {"Ok": [GENESIS, CREATE]}
    assert stub.guest.pages() <= pages + 1


# ---------------------------------------------------------------------------------------------
# Strict decoding: required fields are required (as the Rust SDK), never filled in with defaults

S64 = bytes(range(64))
GOOD_GRANT: dict[str, Any] = {"tag": "g", "access": "Unrestricted", "functions": "All"}
# typed views of the records and grants above
REC: dict[str, Any] = CREATE
GRANT0: dict[str, Any] = GRANTS[0]

# A malformed ZomeCallCapGrant -> a fragment of the DeserializeError it must give.
BAD_GRANTS: list[tuple[Any, str]] = [
    ({"tag": "x", "access": "Unrestricted"}, "missing field `functions`"),
    ({"tag": "x", "functions": "All"}, "missing field `access`"),
    ({"access": "Unrestricted", "functions": "All"}, "missing field `tag`"),
    ({}, "missing field `tag`"),
    ({"tag": "x", "access": {"Transferable": {}}, "functions": "All"}, "missing field `secret`"),
    ({"tag": "x", "access": {"Assigned": {"secret": S64}}, "functions": "All"},
     "missing field `assignees`"),
    ({"tag": "x", "access": {"Assigned": {"assignees": [AGENT]}}, "functions": "All"},
     "missing field `secret`"),
    ({"tag": "x", "access": "Unrestricted", "functions": None}, "expected an enum"),
    ({"tag": "x", "access": None, "functions": "All"}, "expected an enum"),
    ({"tag": None, "access": "Unrestricted", "functions": "All"}, "expected str, found nil"),
    ({"tag": 5, "access": "Unrestricted", "functions": "All"}, "expected str, found int"),
    ({"tag": "x", "access": {"Unrestricted": {"secret": S64}}, "functions": "All"},
     "expected nil, found map"),
    ({"tag": "x", "access": "Unrestricted", "functions": {"All": 1}}, "expected nil, found int"),
    ({"tag": "x", "access": "Unrestricted", "functions": "Listed"}, "unknown GrantedFunctions"),
    ({"tag": "x", "access": "Transferable", "functions": "All"}, "unknown CapAccess"),
    ({"tag": "x", "access": "Unrestricted", "functions": {"Listed": [["z"]]}},
     "a listed function is [zome_name, fn_name]"),
    ({"tag": "x", "access": {"Transferable": {"secret": None}}, "functions": "All"},
     "expected bin, found nil"),
    ({"tag": "x", "access": "Unrestricted", "functions": {"Listed": None}},
     "expected array, found nil"),
    (None, "expected map, found nil"),
    (["x", "Unrestricted", "All"], "expected map, found array"),
]  # fmt: skip


def map_bytes(*pairs: tuple[str, Any]) -> bytes:
    """A msgpack map with the pairs in order, duplicate keys allowed."""
    return bytes([0x80 | len(pairs)]) + b"".join(pack(k) + pack(v) for k, v in pairs)


@pytest.mark.parametrize(("grant", "error"), BAD_GRANTS, ids=[e for _, e in BAD_GRANTS])
def test_malformed_grant_is_refused_and_not_written(stub: StubHost, grant: Any, error: str) -> None:
    reply = stub.call("make_grant", grant)
    assert set(reply) == {"Err"}, reply
    assert reply["Err"].startswith("DeserializeError: input of make_grant could not be decoded: ")
    assert error in reply["Err"], reply
    assert stub.calls == []  # create_cap_grant was never called: no grant written
    # the same grant inside update_grant
    reply = stub.call("update_grant", {"original_action": ACTION, "grant": grant})
    assert error in reply["Err"], reply
    assert stub.calls == []


def test_well_formed_grants_still_pass(stub: StubHost) -> None:
    grants: list[dict[str, Any]] = [
        GOOD_GRANT,
        {**GOOD_GRANT, "access": {"Unrestricted": None}, "functions": {"All": None}},
        {**GOOD_GRANT, "unknown_key": [1, 2]},  # unknown keys are skipped, as serde does
        {"functions": {"Listed": []}, "tag": "", "access": {"Transferable": {"secret": S64}}},
    ]
    for grant in grants:
        assert stub.call("make_grant", grant) == {"Ok": ACTION}
        sent = {**grant}
        sent.pop("unknown_key", None)
        if sent["access"] == {"Unrestricted": None}:
            sent["access"], sent["functions"] = "Unrestricted", "All"
        assert stub.calls == [("create_cap_grant", sent)]


def test_duplicate_keys_are_refused(stub: StubHost) -> None:
    raw = map_bytes(("tag", "x"), ("access", "Unrestricted"), ("functions", {"Listed": []}),
                    ("functions", "All"))  # fmt: skip
    reply = unpack(stub.guest.call_raw("make_grant", raw))
    assert "duplicate field `functions`" in reply["Err"], reply
    assert stub.calls == []


@pytest.mark.parametrize(
    ("claim", "error"),
    [
        ({"tag": "t", "grantor": OTHER}, "missing field `secret`"),
        ({"tag": "t", "secret": S64}, "missing field `grantor`"),
        ({"grantor": OTHER, "secret": S64}, "missing field `tag`"),
        ({"tag": "t", "grantor": None, "secret": S64}, "expected bin, found nil"),
        ({"tag": "t", "grantor": OTHER, "secret": "s"}, "expected bin, found str"),
    ],
)
def test_malformed_claim_is_refused_and_not_written(stub: StubHost, claim: Any, error: str) -> None:
    reply = stub.call("make_claim", claim)
    assert reply["Err"].startswith("DeserializeError: input of make_claim could not be decoded: ")
    assert error in reply["Err"], reply
    assert stub.calls == []


def test_query_filter_keys_are_optional_and_nil_flags_false(stub: StubHost) -> None:
    nil_filter = {"sequence_range": None, "entry_type": None, "action_type": None,
                  "include_entries": None, "descending": None,
                  "entry_hashes": None}  # fmt: skip
    filters: list[Any] = [None, {}, nil_filter]
    for flt in filters:
        assert stub.call("query_chain", flt) == {"Ok": [GENESIS, CREATE]}
        assert stub.calls == [("query", {**nil_filter, "include_entries": False,
                                         "descending": False})]  # fmt: skip
    for flt, error in [
        ({"include_entries": 1}, "expected bool, found int"),
        ({"entry_type": "note"}, "expected array, found str"),
        ({"sequence_range": [1]}, "sequence_range is [start, end_exclusive]"),
    ]:
        reply = stub.call("query_chain", flt)
        assert reply["Err"].startswith("DeserializeError: input of query_chain could not be"), reply
        assert error in reply["Err"], reply
        assert stub.calls == []


def test_list_claims_takes_nil_as_no_filter(stub: StubHost) -> None:
    for flt in [None, {}, {"grantor": None, "tag": None}]:
        assert stub.call("list_claims", flt) == {"Ok": OK_REPLIES["capability_claims"]}
        assert stub.calls == [("capability_claims", {"grantor": None, "tag": None})]


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


# (zome function, host function, a malformed Ok value, a fragment of the error)
BAD_REPLIES: list[tuple[str, str, Any, str]] = [
    ("whoami", "agent_info", _without(OK_REPLIES["agent_info"], "chain_head"),
     "missing field `chain_head`"),
    ("whoami", "agent_info", {**OK_REPLIES["agent_info"], "chain_head": _without(HEAD, "seq")},
     "missing field `seq`"),
    ("dna", "dna_info", _without(OK_REPLIES["dna_info"], "zome_names"),
     "missing field `zome_names`"),
    ("zome", "zome_info", _without(OK_REPLIES["zome_info"], "id"), "missing field `id`"),
    ("caller", "call_info", _without(OK_REPLIES["call_info"], "cap_grant"),
     "missing field `cap_grant`"),
    ("caller", "call_info", {**OK_REPLIES["call_info"], "cap_grant": {"RemoteAgent": {
        "action_hash": ACTION, "tag": "t", "access": "Unrestricted"}}},
     "missing field `functions`"),
    ("caller", "call_info", {**OK_REPLIES["call_info"], "cap_grant": "ChainAuthor"},
     "unknown CapGrantInfo variant"),
    ("get_record", "get", _without(REC, "signature"), "missing field `signature`"),
    ("get_record", "get", {**REC, "action": _without(REC["action"], "type")},
     "missing field `type`"),
    ("get_record", "get", {**REC, "action": {**REC["action"], "type": "Teleport"}},
     "unknown action type \"Teleport\""),
    ("get_record", "get", {**REC, "action": {**REC["action"], "author": None}},
     "expected bin, found nil"),
    ("get_record", "get", {**REC, "action": {**REC["action"], "action_seq": "3"}},
     "found str"),
    ("get_record", "get", {**REC, "entry": {"entry_type": "probe"}},
     "missing field `content`"),
    ("query_chain", "query", [GENESIS, _without(REC, "action_hash")],
     "missing field `action_hash`"),
    ("list_grants", "capability_grants",
     [{**GRANT0, "grant": _without(GRANT0["grant"], "functions")}],
     "missing field `functions`"),
    ("list_grants", "capability_grants", [_without(GRANT0, "revoked")],
     "missing field `revoked`"),
    ("list_claims", "capability_claims",
     [{"action_hash": ACTION, "claim": {"tag": "c", "grantor": OTHER}}],
     "missing field `secret`"),
    ("call_other", "call", {"Unauthorized": _without(OK_REPLIES["call"]["Unauthorized"],
                                                     "reason")},
     "missing field `reason`"),
    ("call_other", "call", "CallError", "unknown ZomeCallResponse variant"),
]  # fmt: skip

CALL_INPUT = {"target": {"Local": None}, "zome_name": "z", "fn_name": "f"}


@pytest.mark.parametrize(
    ("fn", "host_fn", "value", "error"), BAD_REPLIES, ids=[f"{b[1]}-{b[3]}" for b in BAD_REPLIES]
)
def test_malformed_host_reply_is_a_deserialize_error(
    stub: StubHost, fn: str, host_fn: str, value: Any, error: str
) -> None:
    stub.replies[host_fn] = {"Ok": value}
    inputs: dict[str, Any] = {"get_record": ACTION, "list_grants": True, "call_other": CALL_INPUT}
    reply = stub.call(fn, inputs.get(fn))
    prefix = f"DeserializeError: result of {host_fn} could not be decoded: "
    assert set(reply) == {"Err"} and reply["Err"].startswith(prefix), reply
    assert error in reply["Err"], reply


def test_optional_reply_keys_may_be_absent(stub: StubHost) -> None:
    # Record.entry, and the Action fields other than `type`
    record = _without(REC, "entry")
    stub.replies["get"] = {"Ok": record}
    assert stub.call("get_record", ACTION) == {"Ok": {**record, "entry": None}}  # re-encoded
    record = {**GENESIS, "action": {"type": "InitZomesComplete"}}
    stub.replies["get"] = {"Ok": record}
    assert stub.call("get_record", ACTION) == {"Ok": record}


def test_callbacks_name_themselves_in_input_errors(stub: StubHost) -> None:
    err = stub.call("post_commit", [_without(REC, "action")])["Err"]
    assert err.startswith("DeserializeError: input of post_commit could not be decoded: "), err
    assert "missing field `action`" in err
    err = stub.call("recv_remote_signal", "not bin")["Err"]
    assert err.startswith("DeserializeError: input of recv_remote_signal could not be decoded")
    assert stub.calls == []
