"""The `zomehost` console script end to end, in subprocesses, as a person would use it:
init, app pack, install, call, chain, chain verify; a wrong passphrase; a tampered store.

Uses examples/notes when its wasm is built, the probe app otherwise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import lmdb
import pytest
import yaml

from conftest import seed_cache
from zomehost.conductor.home import Home
from zomehost.core.codec import unpack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTES_DIR = REPO / "examples" / "notes"


def _seed(home: Path, module_cache: Path) -> None:
    seed_cache(Home(home), module_cache)


def _ok(result: Any) -> str:
    assert result.returncode == 0, (
        f"rc={result.returncode}\nstdout={result.stdout}\nstderr={result.stderr}"
    )
    assert "Traceback" not in result.stderr
    return str(result.stdout)


def _one_line_error(result: Any) -> str:
    assert result.returncode == 1, (
        f"rc={result.returncode}\nstdout={result.stdout}\nstderr={result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line error, got: {result.stderr!r}"
    assert lines[0].startswith("error:")
    return lines[0]


@pytest.fixture(scope="module")
def flow(
    tmp_path_factory: pytest.TempPathFactory,
    module_cache: Path,
    wasm_paths: dict[str, Path],
    zomehost_cli: Any,
) -> dict[str, Any]:
    """init → app pack → app install → call create → call list, sharing one home."""
    root = tmp_path_factory.mktemp("cli-foundation")
    home = root / "home"
    cli = zomehost_cli
    out = _ok(cli(home, "init"))
    assert (home / "keystore.bin").exists()
    del out
    _seed(home, module_cache)

    if "notes" in wasm_paths and (NOTES_DIR / "happ.yaml").exists():
        app_dir = NOTES_DIR
        role = yaml.safe_load((NOTES_DIR / "happ.yaml").read_text())["roles"][0]["name"]
        zome, create, create_payload = "notes", "create_note", {"title": "hi", "body": "there"}
        listing, list_payload = "list_notes", None
    else:  # the probe app: one role "main" with zome "a"
        app_dir = root / "probeapp"
        (app_dir / "dna").mkdir(parents=True)
        shutil.copyfile(wasm_paths["probe"], app_dir / "dna" / "probe.wasm")
        (app_dir / "dna" / "dna.yaml").write_text(
            "manifest_version: '1'\nname: probe\ncoordinator:\n  zomes:\n"
            "    - {name: a, path: probe.wasm}\n"
        )
        (app_dir / "happ.yaml").write_text(
            "manifest_version: '1'\nname: probeapp\nroles:\n  - {name: main, dna: {path: ./dna}}\n"
        )
        role, zome, create, create_payload = "main", "a", "create_entry", {"value": "hi"}
        listing, list_payload = "query_chain", {"entry_type": ["probe"], "include_entries": True}

    bundle = root / "app.happ"
    assert _ok(cli(home, "app", "pack", str(app_dir), "-o", str(bundle))).strip() == str(bundle)
    assert bundle.stat().st_size > 0
    agent = _ok(cli(home, "app", "install", str(bundle), "--app-id", "myapp")).strip()
    assert agent.startswith("uhCAk") and len(agent) == 53

    created = json.loads(
        _ok(cli(home, "call", "myapp", role, zome, create, json.dumps(create_payload)))
    )
    args = ["call", "myapp", role, zome, listing] + (
        [json.dumps(list_payload)] if list_payload else []
    )
    listed = _ok(cli(home, *args))
    return {
        "home": home,
        "root": root,
        "role": role,
        "agent": agent,
        "created": created,
        "listed": listed,
        "cli": cli,
    }


def test_create_prints_an_action_hash(flow: dict[str, Any]) -> None:
    created = flow["created"]
    assert isinstance(created, str)
    assert created.startswith("uhCkk") and len(created) == 53


def test_list_prints_json_with_the_note(flow: dict[str, Any]) -> None:
    value = json.loads(flow["listed"])
    assert isinstance(value, list) and len(value) == 1
    assert "hi" in flow["listed"]
    text = json.dumps(value)
    assert flow["created"] in text  # the listing names the created record


def test_chain_shows_genesis_init_and_the_create(flow: dict[str, Any]) -> None:
    out = _ok(flow["cli"](flow["home"], "chain", "myapp", flow["role"]))
    lines = out.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == [
        "Dna",
        "AgentValidationPkg",
        "Create",
        "InitZomesComplete",
        "Create",
    ]
    assert [ln.split()[0] for ln in lines] == ["#0", "#1", "#2", "#3", "#4"]
    assert flow["created"] in lines[4]
    assert flow["agent"] in lines[2]  # the agent entry
    assert "hi" in lines[4]


def test_chain_json_and_filters(flow: dict[str, Any]) -> None:
    cli, home, role = flow["cli"], flow["home"], flow["role"]
    records = json.loads(_ok(cli(home, "chain", "myapp", role, "--json")))
    assert [r["action"]["action_seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[4]["action_hash"] == flow["created"]


def test_chain_verify_says_intact(flow: dict[str, Any]) -> None:
    out = _ok(flow["cli"](flow["home"], "chain", "verify", "myapp", flow["role"]))
    assert "intact" in out
    assert "5 records" in out


def test_a_wrong_passphrase_is_a_one_line_error(flow: dict[str, Any]) -> None:
    result = flow["cli"](
        flow["home"], "chain", "myapp", flow["role"], passphrase="not the passphrase"
    )
    line = _one_line_error(result)
    assert "passphrase" in line
    assert result.stdout == ""


def _tampered_copy(flow: dict[str, Any], name: str, edit: Any) -> Path:
    home = flow["root"] / name
    shutil.copytree(flow["home"], home)
    env = lmdb.open(str(home / "data"), max_dbs=16)
    try:
        db = env.open_db(b"records", create=False)
        with env.begin(write=True) as txn:
            items = list(txn.cursor(db=db))
            key, value = items[-1]  # the last record of the only chain: the create
            txn.put(bytes(key), edit(bytes(value)), db=db)
    finally:
        env.close()
    return home


def test_chain_verify_fails_on_a_tampered_signature(flow: dict[str, Any]) -> None:
    def flip_signature(value: bytes) -> bytes:
        sig = unpack(value)["signature"]
        i = value.index(sig) + 5
        return value[:i] + bytes([value[i] ^ 0x40]) + value[i + 1 :]

    home = _tampered_copy(flow, "tampered-signature", flip_signature)
    result = flow["cli"](home, "chain", "verify", "myapp", flow["role"])
    assert result.returncode != 0
    line = _one_line_error(result)
    assert "signature" in line
    assert "intact" not in result.stdout


def test_chain_verify_reports_a_damaged_record_without_a_traceback(flow: dict[str, Any]) -> None:
    """A record whose stored map lost its "hash" key (one byte changed on disk)."""

    def break_key(value: bytes) -> bytes:
        i = value.index(b"\xa4hash")
        return value[:i] + b"\xa4hasx" + value[i + 5 :]

    home = _tampered_copy(flow, "tampered-structure", break_key)
    result = flow["cli"](home, "chain", "verify", "myapp", flow["role"])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, "chain verify crashed:\n" + result.stderr[-800:]
    _one_line_error(result)
