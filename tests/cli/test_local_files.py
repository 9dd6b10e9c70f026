"""Crafted local files through the CLI: a keystore asking for huge Argon2id costs or with bad
fields, a conductor-config.yaml with wrong types, YAML alias bombs in dna.yaml/happ.yaml/the
config, damaged app, DNA and grant-index values in the store. Each is one plain error line
naming the file (or record) and what is wrong; never a traceback, a hang or gigabytes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
import yaml

from zomehost.chain.store import Store
from zomehost.conductor.home import Home
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash
from zomehost.core.keystore import MAX_MEM, MAX_OPS, Keystore
from zomehost.errors import BadPassphrase, KeystoreError

CLI = Callable[..., subprocess.CompletedProcess[str]]
PASS = "pw"


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# -- the keystore ---------------------------------------------------------------------------
def sealed_doc() -> dict[str, Any]:
    ks = Keystore.create(
        PASS, ops=nacl.pwhash.argon2id.OPSLIMIT_MIN, mem=nacl.pwhash.argon2id.MEMLIMIT_MIN
    )
    ks.generate()
    doc = unpack(ks.seal())
    assert isinstance(doc, dict)
    return doc


KEYSTORE_DAMAGE: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("huge mem", lambda d: d | {"mem": 1 << 42}, "mem"),
    ("mem just over the cap", lambda d: d | {"mem": MAX_MEM + 1}, "mem"),
    ("huge ops", lambda d: d | {"ops": 1 << 31}, "ops"),
    ("ops over the cap", lambda d: d | {"ops": MAX_OPS + 1}, "ops"),
    ("5000-digit ops", lambda d: d | {"ops": "9" * 5000}, "ops"),
    ("negative mem", lambda d: d | {"mem": -1}, "mem"),
    ("boolean ops", lambda d: d | {"ops": True}, "ops"),
    ("float mem", lambda d: d | {"mem": 65536.0}, "mem"),
    ("short salt", lambda d: d | {"salt": b"x"}, "salt"),
    ("text salt", lambda d: d | {"salt": "x" * 16}, "salt"),
    ("no check", lambda d: {k: v for k, v in d.items() if k != "check"}, "check"),
    ("short check", lambda d: d | {"check": b"abc"}, "check"),
    ("keys a map", lambda d: d | {"keys": {"a": 1}}, "keys"),
    ("a key of the wrong size", lambda d: d | {"keys": [b"x" * 10]}, "key #0"),
    ("a key not bytes", lambda d: d | {"keys": [7]}, "key #0"),
    ("a damaged key", lambda d: d | {"keys": [b"\x00" * 72]}, "key #0"),
    ("no format", lambda d: {k: v for k, v in d.items() if k != "format"}, "not a zomehost"),
    ("a list", lambda d: [d], "not a zomehost"),
]


@pytest.mark.parametrize(
    ("name", "edit", "word"), KEYSTORE_DAMAGE, ids=[k[0] for k in KEYSTORE_DAMAGE]
)
def test_a_damaged_keystore_is_a_typed_error(
    name: str, edit: Callable[[dict[str, Any]], Any], word: str
) -> None:
    with pytest.raises(KeystoreError) as info:
        Keystore.unseal(pack(edit(sealed_doc())), PASS)
    assert not isinstance(info.value, BadPassphrase)
    assert word in info.value.message


def test_keystores_outside_the_bounds_are_never_written() -> None:
    with pytest.raises(KeystoreError, match="mem"):
        Keystore.create(PASS, mem=MAX_MEM * 2)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x00" * 100, pack("x" * 1000), b"\x81\xa6format"])
def test_keystore_bytes_that_are_not_a_document(data: bytes) -> None:
    with pytest.raises(KeystoreError):
        Keystore.unseal(data, PASS)


def test_the_cli_names_the_keystore_file(
    home_factory: Callable[[str], Path], zomehost_cli: CLI
) -> None:
    home = home_factory("keystore-cli")
    path = Home(home).keystore_path
    doc = unpack(path.read_bytes())
    path.write_bytes(pack(doc | {"mem": 1 << 42, "ops": 1 << 31}))
    one_line_error(zomehost_cli(home, "agent", "list"), str(path), "Argon2id")
    path.write_bytes(b"\x00" * 64)
    one_line_error(zomehost_cli(home, "agent", "list"), str(path))


# -- conductor-config.yaml ------------------------------------------------------------------
BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
)

CONFIG_DAMAGE = [
    ({"admin_port": [1, 2]}, "admin_port"),
    ({"admin_port": 8080.5}, "admin_port"),
    ({"admin_port": "8080"}, "admin_port"),
    ({"admin_port": 70000}, "admin_port"),
    ({"admin_port": True}, "admin_port"),
    ({"bind_address": ["a"]}, "bind_address"),
    ({"allowed_origins": [1]}, "allowed_origins"),
    ({"allowed_origins": {"a": 1}}, "allowed_origins"),
    ({"durable": "yes"}, "durable"),
    ({"network": ["x"]}, "network"),
    ({"network": {"listen": 5}}, "network.listen"),
    ({"network": {"enabled": "no"}}, "network.enabled"),
    ({"network": {"bootstrap_url": "http://[x/"}}, "bootstrap_url"),
    ({"network": {"inbound_workers": 1.5}}, "network.inbound_workers"),
    ({"network": {"bogus": 1}}, "unknown"),
    ({"boundary": "warp"}, "boundary"),
    ({"limits": {"timeout_ms": 1.5}}, "timeout_ms"),
    ({"limits": [1]}, "limits"),
]


@pytest.mark.parametrize(("edit", "word"), CONFIG_DAMAGE, ids=[w for _, w in CONFIG_DAMAGE])
def test_a_config_value_of_the_wrong_type_names_the_file_and_the_key(
    edit: dict[str, Any],
    word: str,
    home_factory: Callable[[str], Path],
    zomehost_inproc: CLI,
) -> None:
    home = home_factory("config")
    path = Home(home).config_path
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()) | edit))
    one_line_error(zomehost_inproc(home, "app", "list"), str(path), word)


@pytest.mark.parametrize(
    ("text", "word"),
    [(BOMB, "aliases"), ("[" * 5000, "nested"), ("a: [\n", "YAML"), ("- 1\n", "mapping")],
)
def test_config_yaml_that_is_refused(
    text: str, word: str, home_factory: Callable[[str], Path], zomehost_cli: CLI
) -> None:
    home = home_factory("config-yaml")
    path = Home(home).config_path
    path.write_text(text)
    one_line_error(zomehost_cli(home, "app", "list"), str(path), word)


# -- dna.yaml and happ.yaml -----------------------------------------------------------------
def test_alias_bombs_in_manifests_are_refused_by_pack(tmp_path: Path, zomehost_cli: CLI) -> None:
    dna = tmp_path / "dna"
    dna.mkdir()
    (dna / "dna.yaml").write_text("manifest_version: '1'\nname: x\n" + BOMB)
    one_line_error(zomehost_cli(tmp_path, "dna", "pack", str(dna)), "dna.yaml", "aliases")
    (tmp_path / "happ.yaml").write_text("manifest_version: '1'\nname: x\n" + BOMB)
    one_line_error(zomehost_cli(tmp_path, "app", "pack", str(tmp_path)), "happ.yaml", "aliases")
    (dna / "dna.yaml").write_text("x" * (2 << 20))
    one_line_error(zomehost_cli(tmp_path, "dna", "pack", str(dna)), "dna.yaml", "bytes")


# -- damaged values in the store ------------------------------------------------------------
@pytest.fixture
def installed(
    home_factory: Callable[[str], Path], probe_bundle: bytes, zomehost_inproc: CLI, tmp_path: Path
) -> Path:
    home = home_factory("store")
    bundle = tmp_path / "probe.happ"
    bundle.write_bytes(probe_bundle)
    result = zomehost_inproc(home, "app", "install", str(bundle), "--app-id", "probe")
    assert result.returncode == 0, result.stderr
    return home


def stored_app(home: Path) -> dict[str, Any]:
    store = Store(Home(home).data_path)
    try:
        doc = store.get_state("app/probe")
    finally:
        store.close()
    assert isinstance(doc, dict)
    return doc


def put_state(home: Path, name: str, value: Any, *, raw: bytes | None = None) -> None:
    store = Store(Home(home).data_path)
    try:
        with store.write() as txn:
            txn.put(name.encode(), raw if raw is not None else pack(value), db=store.db["state"])
    finally:
        store.close()


APP_DAMAGE: list[Callable[[dict[str, Any]], Any]] = [
    lambda d: d | {"agent": b"x"},
    lambda d: d | {"status": "sleeping"},
    lambda d: d | {"roles": ["main"]},
    lambda d: d | {"roles": {"main": b"short"}},
    lambda d: {k: v for k, v in d.items() if k != "manifest"},
    lambda d: d | {"installed_at": "yesterday"},
    lambda d: [d],
]


@pytest.mark.parametrize("edit", APP_DAMAGE)
def test_a_damaged_app_record_is_a_typed_error(
    edit: Callable[[dict[str, Any]], Any], installed: Path, zomehost_inproc: CLI
) -> None:
    put_state(installed, "app/probe", edit(stored_app(installed)))
    one_line_error(zomehost_inproc(installed, "app", "list"), "app", "damaged")


def test_app_record_bytes_that_are_not_msgpack(installed: Path, zomehost_inproc: CLI) -> None:
    put_state(installed, "app/probe", None, raw=b"\xc1\xc1")
    one_line_error(zomehost_inproc(installed, "app", "list"))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d | {"manifest": 7},
        lambda d: d | {"wasm_hashes": [b"\x00" * 39]},
        lambda d: d | {"wasm_hashes": 5},
        lambda d: "not a map",
    ],
)
def test_a_damaged_dna_record_is_a_typed_error(
    edit: Callable[[Any], Any], installed: Path, zomehost_inproc: CLI
) -> None:
    name = f"dna/{stored_app(installed)['roles']['main'].hex()}"
    store = Store(Home(installed).data_path)
    try:
        doc = store.get_state(name)
    finally:
        store.close()
    put_state(installed, name, edit(doc))
    one_line_error(
        zomehost_inproc(installed, "call", "probe", "main", "a", "echo", '"x"'), "dna", "damaged"
    )


@pytest.mark.parametrize("value", [b"\xc1", pack([1]), pack({"revoked": False, "grant": 5})])
def test_a_damaged_grant_index_entry_is_a_typed_error(
    value: bytes, installed: Path, zomehost_inproc: CLI
) -> None:
    doc = stored_app(installed)
    cell = CellId(DnaHash(doc["roles"]["main"]), AgentPubKey(doc["agent"]))
    store = Store(Home(installed).data_path)
    try:
        with store.write() as txn:
            key = cell.key + ActionHash.from_core(b"\x07" * 32).raw
            txn.put(key, value, db=store.db["grants"])
    finally:
        store.close()
    one_line_error(zomehost_inproc(installed, "grants", "probe", "main"), "grant index", "damaged")


def test_files_are_read_with_a_bound(
    tmp_path: Path, home_factory: Callable[[str], Path], zomehost_cli: CLI
) -> None:
    """/dev/zero as a bundle, a sparse 40 MiB wasm: refused by size, not read forever."""
    home = home_factory("bounded-reads")
    one_line_error(zomehost_cli(home, "app", "install", "/dev/zero", "--app-id", "z"), "over")
    dna = tmp_path / "dna"
    dna.mkdir()
    with (dna / "big.wasm").open("wb") as f:
        f.truncate(40 << 20)
    (dna / "dna.yaml").write_text("name: d\ncoordinator: {zomes: [{name: z, path: big.wasm}]}\n")
    one_line_error(zomehost_cli(home, "dna", "pack", str(dna)), "zome 'z'", "over")
