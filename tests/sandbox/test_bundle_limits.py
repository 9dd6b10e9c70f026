"""Crafted bundles against a real conductor: too many zomes or roles, resource names that
are paths, bad names, too much wasm to compile. Each is refused with a BundleError naming the
limit, fast (before any compile), and a refused bundle leaves nothing behind: no app, no DNA,
no wasm, no chain, no new agent key."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import Node
from zomehost.core.bundle import (
    MAX_APP_WASM_BYTES,
    MAX_ROLES_PER_APP,
    MAX_WASM_BYTES,
    MAX_ZOMES_PER_DNA,
    NAME_MAX,
    AppBundle,
    Bundle,
)
from zomehost.errors import BundleError, ConductorError


def dna_doc(zomes: list[dict[str, str]], name: str = "d") -> dict[str, Any]:
    return {"name": name, "coordinator": {"zomes": zomes}}


def app_bundle(
    roles: list[dict[str, Any]], resources: dict[str, bytes], name: str = "app"
) -> bytes:
    return Bundle({"name": name, "roles": roles}, resources).encode()


def dna_bundle(wasm: bytes, zomes: int = 1, path: str = "z.wasm") -> bytes:
    docs = [{"name": f"z{i}", "path": path} for i in range(zomes)]
    return Bundle(dna_doc(docs), {path: wasm}).encode()


def snapshot(node: Node) -> tuple[list[str], list[Any]]:
    store = node.conductor.store
    names = [n for p in ("app/", "dna/", "wasm/") for n in store.state_names(p)]
    return names, sorted(node.conductor.agents(), key=lambda a: a.raw)


def refused(node: Node, bundle: bytes, *words: str, error: type[Exception] = BundleError) -> None:
    before = snapshot(node)
    compiled: list[str] = []
    node.conductor.on_compile = compiled.append
    with pytest.raises(error) as info:
        node.conductor.install_app(bundle, "crafted")
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert snapshot(node) == before, "a refused bundle left something behind"
    assert compiled == [], "a refused bundle was compiled"


@pytest.fixture
def probe(wasm_paths: dict[str, Path]) -> bytes:
    return wasm_paths["probe"].read_bytes()


def test_ten_thousand_zomes_sharing_one_wasm_are_refused(node: Node, probe: bytes) -> None:
    bundle = app_bundle(
        [{"name": "main", "dna": {"path": "main.dna"}}], {"main.dna": dna_bundle(probe, 10_000)}
    )
    assert len(bundle) < 200_000  # small on the wire: the count is what is refused
    refused(node, bundle, "zomes", str(MAX_ZOMES_PER_DNA))


def test_ten_thousand_roles_sharing_one_dna_are_refused(node: Node, probe: bytes) -> None:
    roles = [{"name": f"r{i}", "dna": {"path": "main.dna"}} for i in range(10_000)]
    refused(node, app_bundle(roles, {"main.dna": dna_bundle(probe)}), "roles", "32")


def test_the_limits_themselves_are_accepted(node: Node, probe: bytes) -> None:
    """At the limits (64 zomes, 32 roles) an app installs, and each shared DNA bundle is
    decoded once."""
    roles = [
        {"name": f"r{i}", "dna": {"path": "main.dna", "modifiers": {"network_seed": str(i)}}}
        for i in range(MAX_ROLES_PER_APP)
    ]
    bundle = app_bundle(roles, {"main.dna": dna_bundle(probe, MAX_ZOMES_PER_DNA)})
    parsed = AppBundle.decode(bundle)
    assert len(parsed.dnas) == MAX_ROLES_PER_APP
    assert len({id(d.wasm) for d in parsed.dnas.values()}) == 1  # one decode
    app = node.install(bundle, "at-the-limits")
    assert app.call("z63", "echo", "hi", role="r31") == "hi"


@pytest.mark.parametrize(
    "path",
    ["../../../../tmp/x.dna", "/etc/passwd", "a/b.dna", "..", ".", ".hidden", "a\\b", "x" * 200],
)
def test_resource_names_that_are_paths_are_refused(node: Node, probe: bytes, path: str) -> None:
    bundle = app_bundle([{"name": "main", "dna": {"path": path}}], {path: dna_bundle(probe)})
    refused(node, bundle, "resource")
    # and as a path in the manifest that names no resource
    bundle = app_bundle([{"name": "main", "dna": {"path": path}}], {"main.dna": dna_bundle(probe)})
    refused(node, bundle, "not a resource name")
    # and as a zome's wasm inside a DNA
    dna = Bundle(dna_doc([{"name": "z", "path": path}]), {"z.wasm": probe}).encode()
    bundle = app_bundle([{"name": "main", "dna": {"path": "main.dna"}}], {"main.dna": dna})
    refused(node, bundle, "not a resource name")


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "a b", "é", "x" * (NAME_MAX + 1), "", "a.b", "\x00", "\u0661"]
)
def test_bad_zome_role_and_app_names_are_refused(node: Node, probe: bytes, name: str) -> None:
    ok_dna = dna_bundle(probe)
    bad_role = app_bundle([{"name": name, "dna": {"path": "m.dna"}}], {"m.dna": ok_dna})
    refused(node, bad_role, "role name")
    bad_app = app_bundle([{"name": "main", "dna": {"path": "m.dna"}}], {"m.dna": ok_dna}, name)
    refused(node, bad_app, "app name")
    bad_zome = Bundle(dna_doc([{"name": name, "path": "z.wasm"}]), {"z.wasm": probe}).encode()
    refused(node, app_bundle([{"name": "m", "dna": {"path": "m.dna"}}], {"m.dna": bad_zome}))


def test_more_wasm_than_an_install_may_compile_is_refused_before_compiling(node: Node) -> None:
    """Three DNAs of 30 MiB of distinct (compressible) wasm each: over the 64 MiB budget."""
    size = 30 * 1024 * 1024
    assert size <= MAX_WASM_BYTES and 3 * size > MAX_APP_WASM_BYTES
    resources = {
        f"d{i}.dna": dna_bundle(b"\x00asm\x01\x00\x00\x00" + bytes([i]) * size) for i in range(3)
    }
    roles = [{"name": f"r{i}", "dna": {"path": f"d{i}.dna"}} for i in range(3)]
    refused(node, app_bundle(roles, resources), "distinct wasm", str(MAX_APP_WASM_BYTES))


def test_inner_bundles_share_the_outer_inflation_budget(node: Node) -> None:
    """Each DNA bundle inflating to 130 MiB would pass alone; together they are refused."""
    big = Bundle(
        dna_doc([{"name": "z", "path": "z.wasm"}]), {"z.wasm": b"\x00asm", "pad": bytes(130 << 20)}
    )
    blob = big.encode()
    resources = {"a.dna": blob, "b.dna": blob + b""}
    roles = [{"name": "a", "dna": {"path": "a.dna"}}, {"name": "b", "dna": {"path": "b.dna"}}]
    refused(node, app_bundle(roles, resources), "inflates past")


def test_a_refused_install_makes_no_agent_key(node: Node, probe: bytes) -> None:
    """Two roles resolving to one DNA are refused before a key is generated."""
    roles = [{"name": "a", "dna": {"path": "m.dna"}}, {"name": "b", "dna": {"path": "m.dna"}}]
    refused(node, app_bundle(roles, {"m.dna": dna_bundle(probe)}), error=ConductorError)


def test_installs_do_not_wait_for_each_other_while_compiling(node: Node, probe: bytes) -> None:
    """While one install compiles (held inside its compile), another install of an app
    whose module is already loaded completes."""
    one_role = [{"name": "m", "dna": {"path": "m.dna"}}]
    node.install(app_bundle(one_role, {"m.dna": dna_bundle(probe)}), "warm")
    entered, release = threading.Event(), threading.Event()

    def slow_compile(zome: str) -> None:
        entered.set()
        assert release.wait(30)

    node.conductor.on_compile = slow_compile
    tag = os.urandom(8)  # a custom section: a module no cache has seen, so it compiles
    fresh = probe + b"\x00\x0d\x04test" + tag
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(
            node.conductor.install_app,
            app_bundle(one_role, {"m.dna": dna_bundle(fresh)}),
            "slow",
        )
        assert entered.wait(30)
        other = app_bundle(
            [{"name": "m", "dna": {"path": "m.dna", "modifiers": {"network_seed": "2"}}}],
            {"m.dna": dna_bundle(probe)},
        )
        done = node.conductor.install_app(other, "other")  # does not wait for "slow"
        assert done.app_id == "other" and not slow.done()
        release.set()
        assert slow.result(30).app_id == "slow"
