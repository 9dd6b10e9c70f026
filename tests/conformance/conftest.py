"""Fixtures of the conformance suite: one conductor per language hosting that language's probe.

``world(lang)`` is a real conductor (``tests/conftest.py``'s ``fast_home`` + ``Node``) on
which the probe app (role ``main``, zomes ``a`` and ``b``, both the probe of ``lang``) is
installed for fresh agents per scenario. The probes are

* rust: ``zomes/probe`` -> ``target/wasm32-unknown-unknown/release/probe.wasm``
  (``scripts/build-rust-zomes``);
* assemblyscript: ``zomes/probe_as`` -> ``zomes/probe_as/build/probe_as.wasm``
  (``scripts/build-as-zomes``).

Missing modules are built once (the scripts are no-ops when up to date).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    REPO,
    WASM_DIR,
    AppBuilder,
    AppHandle,
    Node,
    fast_home,
    seed_cache,
)
from zomehost.core.hash import WasmHash
from zomehost.ribosome.context import Signal
from zomehost.ribosome.engine import WasmEngine

LANGS = ("rust", "assemblyscript")
PROBES = {
    "rust": WASM_DIR / "probe.wasm",
    "assemblyscript": REPO / "zomes" / "probe_as" / "build" / "probe_as.wasm",
}
BUILDERS = {
    "rust": ["bash", str(REPO / "scripts" / "build-rust-zomes")],
    "assemblyscript": ["bash", str(REPO / "scripts" / "build-as-zomes"), "zomes/probe_as"],
}
PROPERTIES = {"answer": 42, "title": "conformance"}
SEED = "conformance-seed"


@pytest.fixture(scope="session")
def probe_wasm() -> dict[str, Path]:
    """lang -> the probe module of that language (built when missing)."""
    for lang, path in PROBES.items():
        if path.is_file():
            continue
        if lang == "assemblyscript" and shutil.which("node") is None:
            pytest.fail("node is not installed: cannot build zomes/probe_as")
        subprocess.run(BUILDERS[lang], cwd=REPO, check=False)
        if not path.is_file():
            pytest.fail(f"the {lang} probe is not built: run `{' '.join(BUILDERS[lang])}`")
    return dict(PROBES)


@pytest.fixture(scope="session")
def conformance_cache(
    probe_wasm: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Both probes compiled once for the session (seeded into every home)."""
    cache = tmp_path_factory.mktemp("conformance-cache")
    engine = WasmEngine(cache)
    try:
        for lang, path in probe_wasm.items():
            wasm = path.read_bytes()
            engine.load(WasmHash.of_content(wasm), lambda w=wasm: w, f"probe-{lang}")  # type: ignore[misc]
    finally:
        engine.close()
    return cache


@pytest.fixture(scope="session")
def probe_bundles(
    probe_wasm: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    """lang -> a .happ: role ``main`` with zomes ``a`` and ``b`` (both that lang's probe)."""
    builder = AppBuilder(
        {lang: path for lang, path in probe_wasm.items()}, tmp_path_factory.mktemp("bundles")
    )
    return {
        lang: builder(
            {"main": [("a", lang), ("b", lang)]},
            name="conformance",
            seeds={"main": SEED},
            properties=PROPERTIES,
        )
        for lang in LANGS
    }


class World:
    """One conductor running one language's probe; fresh agents for each scenario."""

    def __init__(self, lang: str, node: Node, bundle: bytes) -> None:
        self.lang = lang
        self.node = node
        self.bundle = bundle
        self.signals: list[Signal] = []
        self._lock = threading.Lock()
        node.conductor.add_signal_listener(self._on_signal)

    def _on_signal(self, signal: Signal) -> None:
        with self._lock:
            self.signals.append(signal)

    def install(self, scenario: str, *names: str) -> list[AppHandle]:
        """The probe app for a new agent per name (app id ``<scenario>-<name>``), initialised."""
        apps = []
        for name in names:
            app = self.node.install(self.bundle, f"{scenario}-{name}")
            app.call("a", "echo", "warm-up")  # runs init: the chain is at #3 after this
            apps.append(app)
        return apps

    def mark(self) -> int:
        with self._lock:
            return len(self.signals)

    def signals_since(self, mark: int) -> list[Signal]:
        with self._lock:
            return list(self.signals[mark:])


@pytest.fixture(scope="module")
def worlds(
    tmp_path_factory: pytest.TempPathFactory,
    conformance_cache: Path,
    probe_bundles: dict[str, bytes],
) -> Iterator[dict[str, World]]:
    """lang -> World, one conductor each, for the whole module."""
    root = tmp_path_factory.mktemp("conformance")
    made: dict[str, World] = {}
    try:
        for lang in LANGS:
            home = fast_home(root / f"home-{lang}")
            seed_cache(home, conformance_cache)
            made[lang] = World(lang, Node(home), probe_bundles[lang])
        yield made
    finally:
        for w in made.values():
            w.node.close()


@pytest.fixture(scope="module")
def transcripts() -> dict[str, dict[str, Any]]:
    """scenario -> lang -> the normalised transcript (filled by the per-language tests)."""
    return {}
