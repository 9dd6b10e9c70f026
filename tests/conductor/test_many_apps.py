"""Many apps on one conductor: cells open lazily, at their first call, and still fail closed.

* 200 installed apps (one agent and DNA each, one shared module): a restarted conductor
  opens no cell until it is called; then every app answers, the shared wasm is read and
  checked once, and the calling thread keeps one idle instance, not one per app.
* A damaged chain (its head) or a damaged stored module in one app is a typed error at that
  app's first call — and at every later one — while the other apps answer.
* What a thread keeps after calls rotating over many modules is bounded by its cache, on
  each reusing boundary (live wasmtime stores and instances counted, not RSS).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
import wasmtime
import yaml
from tests.ribosome.wat import BUMP_ALLOCATOR

from zomehost.chain.store import seq_key
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import CellId
from zomehost.errors import ConductorError, IntegrityError
from zomehost.ribosome import fastpath, nativepath

from .test_chain_integrity import edit_value, flip, raw_env, read_value

MANY = 200


def live(cls: type) -> int:
    """Objects of ``cls`` (or a subclass) alive in the process, after a collection."""
    gc.collect()
    return sum(isinstance(o, cls) for o in gc.get_objects())


def head_seq(node: Any, cell_id: CellId) -> int:
    head = node.conductor.source_chain(cell_id).head()
    assert head is not None
    return head.seq


def test_many_apps_open_lazily_and_every_app_answers(node: Any, probe_bundle: bytes) -> None:
    apps = [node.install(probe_bundle, f"app{i}", network_seed=f"seed{i}") for i in range(MANY)]
    node = node.restart()
    c = node.conductor
    assert not c._cells, "opening the conductor opened cells"
    reads: list[str] = []
    stored_wasm = c.stored_wasm

    def counted(wasm_hash: Any, zome_name: str) -> bytes:
        reads.append(zome_name)
        return stored_wasm(wasm_hash, zome_name)

    c.stored_wasm = counted  # type: ignore[method-assign]
    stores, instances = live(fastpath._Store), live(fastpath._Instance)
    try:
        first = apps[0]
        assert node.call(first.cell_id(), "a", "echo", "hi", first.agent) == "hi"
        assert len(c._cells) == 1, "one call opened other cells"
        for app in apps:
            assert node.call(app.cell_id(), "b", "echo", app.app_id, app.agent) == app.app_id
        assert len(c._cells) == MANY
        assert reads == ["a"], "the shared module's wasm is read (and hashed) once"
        assert live(fastpath._Instance) - instances == 1, "one idle instance: one module"
        assert live(fastpath._Store) - stores == 1
    finally:
        node.close()


DAMAGE = {
    "a flipped signature byte": lambda raw: flip(raw.index(unpack(raw)["signature"]) + 5)(raw),
    "a flipped byte in the action": lambda raw: flip(
        raw.index(unpack(raw)["action"]) + len(unpack(raw)["action"]) - 1
    )(raw),
    "bytes that are not a record": lambda raw: b"\xc1" + raw[1:],
    "another record of the chain": None,  # the record before the head, in its place
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_chain_fails_at_its_first_open_and_other_apps_answer(
    node: Any, probe_bundle: bytes, damage: str
) -> None:
    apps = [node.install(probe_bundle, f"app{i}", network_seed=f"seed{i}") for i in range(5)]
    for app in apps:
        app.call("a", "echo", "init runs")
    victim = apps[2].cell_id()
    seq = head_seq(node, victim)
    node.close()
    data = node.home.data_path
    edit = DAMAGE[damage]
    if edit is None:
        previous = read_value(data, "records", seq_key(victim.key, seq - 1))
        edit = lambda _: previous  # noqa: E731
    edit_value(data, "records", seq_key(victim.key, seq), edit)
    node = node.restart()
    try:
        for _ in range(2):  # a cell that failed to open is not kept half open
            with pytest.raises(IntegrityError):
                node.call(victim, "a", "echo", "x", apps[2].agent)
            for app in apps[:2] + apps[3:]:
                assert node.call(app.cell_id(), "a", "echo", "ok", app.agent) == "ok"
        with pytest.raises(IntegrityError):
            node.conductor.source_chain(victim).verify()  # `chain verify` agrees
        assert victim.key not in node.conductor._cells
    finally:
        node.close()


def test_a_chain_without_its_head_record_fails_closed(node: Any, probe_bundle: bytes) -> None:
    app = node.install(probe_bundle, "app")
    other = node.install(probe_bundle, "other", network_seed="other")
    key = seq_key(app.cell_id().key, head_seq(node, app.cell_id()))
    node.close()
    with raw_env(node.home.data_path) as env:
        db = env.open_db(b"records", create=False)
        with env.begin(write=True) as txn:
            assert txn.delete(key, db=db)
    node = node.restart()
    try:
        with pytest.raises(IntegrityError, match="head"):
            node.call(app.cell_id(), "a", "echo", "x", app.agent)
        assert node.call(other.cell_id(), "a", "echo", "ok", other.agent) == "ok"
    finally:
        node.close()


def _variant(wasm: bytes, tag: bytes) -> bytes:
    """The module with a custom section holding ``tag``: same code, its own hash."""
    body = bytes([4]) + b"test" + tag
    return wasm + b"\x00" + bytes([len(body)]) + body


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_a_damaged_stored_module_fails_at_first_call_and_other_apps_answer(
    node: Any, probe_bundle: bytes, app_bundle: Any, wasm_paths: dict[str, Path], cache: str
) -> None:
    """Damaged wasm bytes never run: not compiled (cold cache), and not served by the
    module the cache holds for the intact bytes' hash (warm cache)."""
    own = node.conductor.home.path / "own.wasm"
    own.write_bytes(_variant(wasm_paths["probe"].read_bytes(), b"own"))
    victim = node.install(app_bundle({"main": [("v", str(own))]}), "victim")
    bystander = node.install(probe_bundle, "bystander")
    wasm_hash = node.conductor.dna_def(victim.cell_id().dna_hash).wasm_hashes[0]
    node.close()
    name = f"wasm/{wasm_hash.raw.hex()}".encode()
    edit_value(
        node.home.data_path, "state", name, lambda v: pack(flip(200)(unpack(v)))
    )  # still a msgpack bin: only the wasm differs
    if cache == "cold":
        for f in node.home.cache_path.glob("*.cwasm"):
            f.unlink()
    compiled: list[str] = []
    node = node.restart(on_compile=compiled.append)
    try:
        for _ in range(2):
            with pytest.raises(IntegrityError, match="does not match its hash"):
                node.call(victim.cell_id(), "v", "echo", "x", victim.agent)
            assert node.call(bystander.cell_id(), "a", "echo", "ok", bystander.agent) == "ok"
        assert "v" not in compiled, "the damaged wasm was compiled"
        assert wasm_hash.raw not in node.conductor.engine._loaded
    finally:
        node.close()


def test_a_missing_stored_module_is_a_damaged_dna(node: Any, probe_bundle: bytes) -> None:
    app = node.install(probe_bundle, "app")
    wasm_hash = node.conductor.dna_def(app.cell_id().dna_hash).wasm_hashes[0]
    node.close()
    with raw_env(node.home.data_path) as env:
        db = env.open_db(b"state", create=False)
        with env.begin(write=True) as txn:
            assert txn.delete(f"wasm/{wasm_hash.raw.hex()}".encode(), db=db)
    node = node.restart()
    try:
        with pytest.raises(ConductorError, match=r"damaged.*missing"):
            node.call(app.cell_id(), "a", "echo", "x", app.agent)
    finally:
        node.close()


# -- what a thread keeps after calls over many modules --------------------------------------
MODULES = 12
THREAD_CACHE = 16 * 1024  # room for a few of these small instances' dirty pages


def _tiny_zome(tmp: Path, i: int) -> str:
    """A zome of its own (a data segment naming it): ``ok`` returns ``{"Ok": nil}``."""
    wat = (
        '(module (memory (export "memory") 1)'
        " (global $heap (mut i32) (i32.const 1024))"
        r' (data (i32.const 16) "\81\a2Ok\c0")'
        f' (data (i32.const 64) "zome {i}")'
        + BUMP_ALLOCATOR
        + ' (func (export "ok") (param i32 i32) (result i64) (call $pack (i32.const 16)'
        " (i32.const 5))))"
    )
    path = tmp / f"tiny{i}.wasm"
    path.write_bytes(wasmtime.wat2wasm(wat))
    return str(path)


@pytest.mark.parametrize("kind", ["native", "fast"])
def test_what_a_thread_keeps_after_calls_over_many_modules_is_bounded(
    node_factory: Any, app_bundle: Any, tmp_path: Path, kind: str
) -> None:
    if kind == "native" and nativepath.unavailable() is not None:
        pytest.fail(f"the native boundary is not built: {nativepath.unavailable()}")
    node = node_factory("bounded")
    node.close()
    doc = yaml.safe_load(node.home.config_path.read_text())
    doc.update(boundary=kind, memory_budget={"thread_cache_bytes": THREAD_CACHE})
    node.home.config_path.write_text(yaml.safe_dump(doc))
    node = node.restart()
    stores, instances = live(fastpath._Store), live(fastpath._Instance)
    try:
        apps = [
            node.install(app_bundle({"main": [("z", _tiny_zome(tmp_path, i))]}), f"app{i}")
            for i in range(MODULES)
        ]
        for _ in range(3):
            for app in apps:
                assert node.call(app.cell_id(), "z", "ok", None, app.agent) is None
        boundary = node.conductor.ribosome.boundary
        assert boundary.kind == kind
        stores = live(fastpath._Store) - stores
        instances = live(fastpath._Instance) - instances
        if isinstance(boundary, nativepath.Boundary):
            idle = boundary._local.idle
            assert 0 < idle.held <= THREAD_CACHE
            assert stores == instances == len(idle.slots) < MODULES
        else:
            # at most one store per nesting depth, dropped when its memory passes the cache
            assert stores <= 1
            assert instances <= fastpath.STORE_REUSE * stores
    finally:
        node.close()
