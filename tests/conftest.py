"""Shared fixtures for the host tests: real compiled zomes, real LMDB, real conductors.

Nothing here is mocked. To keep the suite fast:

* zomes are compiled once per session into a module cache that every conductor home is
  seeded with (the engine's cache key is the wasm hash plus the engine settings, so a
  seeded ``cache/wasm`` is exactly what a second start of the same home would see);
* keystores use Argon2id's minimum cost (the passphrase rules are the same).

Helpers are exposed as fixtures (``node_factory``, ``app_bundle``, ``probe_bundle``, ...);
the classes below are what those fixtures return.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from zomehost.conductor.app import InstalledApp
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.action import Record
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import AgentPubKey, CellId, WasmHash
from zomehost.core.query import ChainQueryFilter
from zomehost.core.zome_call import ZomeCall
from zomehost.ribosome.engine import WasmEngine
from zomehost.testing.process import make_home, seed_module_cache

REPO = Path(__file__).resolve().parents[1]
WASM_DIR = REPO / "target" / "wasm32-unknown-unknown" / "release"
BUILD_SCRIPT = REPO / "scripts" / "build-rust-zomes"
PASSPHRASE = "correct horse battery staple"
REQUIRED_ZOMES = ("probe", "bad_init")
OPTIONAL_ZOMES = ("notes",)


# -- zomes ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def wasm_paths() -> dict[str, Path]:
    """name -> path of every built Rust test zome (builds them if the probe is missing)."""
    missing = [z for z in REQUIRED_ZOMES if not (WASM_DIR / f"{z}.wasm").is_file()]
    if missing and BUILD_SCRIPT.is_file():
        subprocess.run(["bash", str(BUILD_SCRIPT)], cwd=REPO, check=False)
        missing = [z for z in REQUIRED_ZOMES if not (WASM_DIR / f"{z}.wasm").is_file()]
    if missing:
        pytest.fail(
            f"test zomes not built ({', '.join(missing)}): run `bash scripts/build-rust-zomes`"
        )
    return {
        z: WASM_DIR / f"{z}.wasm"
        for z in REQUIRED_ZOMES + OPTIONAL_ZOMES
        if (WASM_DIR / f"{z}.wasm").is_file()
    }


@pytest.fixture(scope="session")
def module_cache(wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module cache directory holding every test zome compiled once for this session."""
    cache = tmp_path_factory.mktemp("module-cache")
    engine = WasmEngine(cache)
    try:
        for name, path in wasm_paths.items():
            wasm = path.read_bytes()
            engine.load(WasmHash.of_content(wasm), lambda w=wasm: w, name)  # type: ignore[misc]
    finally:
        engine.close()
    return cache


# -- bundles ----------------------------------------------------------------------------
ZomeSpec = tuple[str, str]  # (zome name, wasm: a key of wasm_paths or a file path)


class AppBuilder:
    """Write app directories (happ.yaml + one dna dir per role) and pack them for real."""

    def __init__(self, wasm_paths: dict[str, Path], root: Path) -> None:
        self.wasm_paths = wasm_paths
        self.root = root
        self.count = 0

    def wasm_file(self, spec: str) -> Path:
        return self.wasm_paths[spec] if spec in self.wasm_paths else Path(spec)

    def write_dir(
        self,
        roles: dict[str, list[ZomeSpec]],
        *,
        name: str = "testapp",
        seeds: dict[str, str] | None = None,
        properties: Any = None,
        role_modifiers: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        self.count += 1
        app_dir = self.root / f"app{self.count}"
        app_dir.mkdir(parents=True)
        happ_roles = []
        for role, zomes in roles.items():
            dna_dir = app_dir / f"dna_{role}"
            dna_dir.mkdir()
            zome_docs = []
            for zname, spec in zomes:
                src = self.wasm_file(spec)
                dst = dna_dir / f"{zname}.wasm"
                shutil.copyfile(src, dst)
                zome_docs.append({"name": zname, "path": dst.name})
            dna_doc = {
                "manifest_version": "1",
                "name": f"{name}_{role}",
                "integrity": {
                    "network_seed": (seeds or {}).get(role, ""),
                    "properties": properties if properties is not None else {},
                    "zomes": [],
                },
                "coordinator": {"zomes": zome_docs},
            }
            (dna_dir / "dna.yaml").write_text(yaml.safe_dump(dna_doc))
            dna: dict[str, Any] = {"path": f"./dna_{role}"}
            if role_modifiers and role in role_modifiers:
                dna["modifiers"] = role_modifiers[role]
            happ_roles.append({"name": role, "dna": dna})
        happ = {"manifest_version": "1", "name": name, "roles": happ_roles}
        (app_dir / "happ.yaml").write_text(yaml.safe_dump(happ))
        return app_dir

    def __call__(self, roles: dict[str, list[ZomeSpec]], **kw: Any) -> bytes:
        app_dir = self.write_dir(roles, **kw)
        out = pack_app_dir(app_dir, app_dir.parent / f"{app_dir.name}.happ")
        return out.read_bytes()


@pytest.fixture(scope="session")
def _session_builder(
    wasm_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> AppBuilder:
    return AppBuilder(wasm_paths, tmp_path_factory.mktemp("bundles"))


@pytest.fixture
def app_bundle(wasm_paths: dict[str, Path], tmp_path: Path) -> AppBuilder:
    """Build a packed .happ: ``app_bundle({"role": [("zome", "probe"), ...]}, seeds=...)``."""
    return AppBuilder(wasm_paths, tmp_path / "bundles")


PROBE_PROPERTIES = {"answer": 42, "title": "probe under test"}
PROBE_SEED = "probe-seed"


@pytest.fixture(scope="session")
def probe_dna_settings() -> dict[str, Any]:
    """The properties and network seed the probe bundle's DNA was packed with."""
    return {"properties": PROBE_PROPERTIES, "network_seed": PROBE_SEED, "name": "probeapp_main"}


@pytest.fixture(scope="session")
def probe_bundle(_session_builder: AppBuilder) -> bytes:
    """One role ``main`` with two probe zomes ``a`` and ``b`` (both the same wasm)."""
    return _session_builder(
        {"main": [("a", "probe"), ("b", "probe")]},
        name="probeapp",
        seeds={"main": PROBE_SEED},
        properties=PROBE_PROPERTIES,
    )


@pytest.fixture(scope="session")
def two_role_bundle(_session_builder: AppBuilder) -> bytes:
    """Roles ``r1`` and ``r2``, each probe zomes ``a`` and ``b``; different network seeds."""
    return _session_builder(
        {"r1": [("a", "probe"), ("b", "probe")], "r2": [("a", "probe"), ("b", "probe")]},
        name="tworoles",
        seeds={"r1": "seed-r1", "r2": "seed-r2"},
    )


@pytest.fixture(scope="session")
def bad_init_bundle(_session_builder: AppBuilder) -> bytes:
    return _session_builder({"main": [("bad", "bad_init")]}, name="badinit")


# -- conductors -------------------------------------------------------------------------
def fast_home(path: Path, *, limits: dict[str, Any] | None = None) -> Home:
    """A conductor home whose keystore uses Argon2id's minimum cost (fast to open)."""
    return Home(make_home(path, passphrase=PASSPHRASE, limits=limits, network={}))


def seed_cache(home: Home, cache: Path) -> None:
    """Copy the session's compiled modules into a home, with the key that signs them."""
    seed_module_cache(home.path, cache)


class AppHandle:
    """An installed app on a :class:`Node`, with shortcuts for calls and chain reads."""

    def __init__(self, node: Node, app: InstalledApp) -> None:
        self.node = node
        self.app = app
        self.app_id = app.app_id
        self.agent: AgentPubKey = app.agent

    def cell_id(self, role: str = "main") -> CellId:
        return self.app.cell_id(role)

    def call(
        self,
        zome: str,
        fn: str,
        payload: Any = None,
        *,
        role: str = "main",
        provenance: AgentPubKey | None = None,
        secret: bytes | None = None,
        timeout_ms: int | None = None,
    ) -> Any:
        return self.node.call(
            self.cell_id(role), zome, fn, payload, provenance or self.agent, secret, timeout_ms
        )

    def call_as(
        self,
        other: AppHandle,
        zome: str,
        fn: str,
        payload: Any = None,
        *,
        secret: bytes | None = None,
        role: str = "main",
    ) -> Any:
        """Call this app's cell with ``other``'s agent as the caller (provenance)."""
        return self.call(zome, fn, payload, role=role, provenance=other.agent, secret=secret)

    def records(self, role: str = "main", **flt: Any) -> list[Record]:
        return self.node.records(self.cell_id(role), **flt)

    def head_seq(self, role: str = "main") -> int:
        head = self.node.conductor.cell(self.cell_id(role)).chain.head()
        assert head is not None
        return head.seq

    def action_types(self, role: str = "main") -> list[str]:
        return [r.action.type.value for r in self.records(role)]


class Node:
    """One real conductor on a temporary home."""

    def __init__(self, home: Home, on_compile: Callable[[str], None] | None = None) -> None:
        self.home = home
        self.conductor = Conductor.open(home, PASSPHRASE, on_compile=on_compile)
        self.closed = False

    def install(
        self,
        bundle: bytes,
        app_id: str,
        *,
        agent: AgentPubKey | None = None,
        network_seed: str | None = None,
        linked_apps: frozenset[str] = frozenset(),
    ) -> AppHandle:
        return AppHandle(
            self, self.conductor.install_app(bundle, app_id, agent, network_seed, linked_apps)
        )

    def app(self, app_id: str) -> AppHandle:
        return AppHandle(self, self.conductor.get_app(app_id))

    def call(
        self,
        cell_id: CellId,
        zome: str,
        fn: str,
        payload: Any,
        provenance: AgentPubKey,
        secret: bytes | None = None,
        timeout_ms: int | None = None,
    ) -> Any:
        call = ZomeCall(cell_id, zome, fn, pack(payload), provenance, secret, timeout_ms=timeout_ms)
        return self.conductor.call_zome(call)

    def records(self, cell_id: CellId, **flt: Any) -> list[Record]:
        flt.setdefault("include_entries", True)
        return self.conductor.cell(cell_id).chain.records(ChainQueryFilter.from_wire(flt))

    def close(self) -> None:
        if not self.closed:
            self.conductor.close()
            self.closed = True

    def restart(self, on_compile: Callable[[str], None] | None = None) -> Node:
        self.close()
        return Node(self.home, on_compile)


NodeFactory = Callable[..., Node]


@pytest.fixture
def node_factory(tmp_path: Path, module_cache: Path) -> Iterator[NodeFactory]:
    """``node_factory(name="n", limits={...}, seed=True, on_compile=None) -> Node``."""
    nodes: list[Node] = []

    def make(
        name: str = "node",
        *,
        limits: dict[str, Any] | None = None,
        seed: bool = True,
        on_compile: Callable[[str], None] | None = None,
    ) -> Node:
        home = fast_home(tmp_path / f"home-{name}", limits=limits)
        if seed:
            seed_cache(home, module_cache)
        node = Node(home, on_compile)
        nodes.append(node)
        return node

    yield make
    for n in nodes:
        n.close()


@pytest.fixture
def node(node_factory: NodeFactory) -> Node:
    return node_factory()


@pytest.fixture
def alice(node: Node, probe_bundle: bytes) -> AppHandle:
    """The probe app installed for a fresh agent, initialized (one call made)."""
    app = node.install(probe_bundle, "alice")
    app.call("a", "echo", "warm-up")
    return app


@pytest.fixture
def bob(node: Node, probe_bundle: bytes, alice: AppHandle) -> AppHandle:
    """The same probe app for a second agent on the same conductor (same DNA as alice)."""
    app = node.install(probe_bundle, "bob")
    app.call("a", "echo", "warm-up")
    return app


# -- misc helpers ------------------------------------------------------------------------
def response(value: Any) -> tuple[str, Any]:
    """Split a ZomeCallResponse into (variant, decoded body); Ok bodies are unpacked."""
    assert isinstance(value, dict) and len(value) == 1, value
    ((variant, body),) = value.items()
    if variant == "Ok":
        return variant, unpack(body)
    return variant, body


@pytest.fixture
def decode_response() -> Callable[[Any], tuple[str, Any]]:
    return response


@pytest.fixture(scope="session")
def zomehost_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``zomehost`` console script: ``cli(home, *args, passphrase=..., check=...)``."""
    exe = Path(sys.executable).parent / "zomehost"
    assert exe.exists(), f"console script missing at {exe}"

    def run(
        home: Path, *args: str, passphrase: str | None = PASSPHRASE, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZOMEHOST_")}
        env["ZOMEHOST_HOME"] = str(home)
        env["COLUMNS"] = "400"
        if passphrase is not None:
            env["ZOMEHOST_PASSPHRASE"] = passphrase
        return subprocess.run(
            [str(exe), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


@pytest.fixture(scope="session")
def home_factory(
    tmp_path_factory: pytest.TempPathFactory, module_cache: Path
) -> Callable[[str], Path]:
    """``home_factory(name) -> path`` of a fresh conductor home (fast keystore, seeded cache,
    passphrase ``PASSPHRASE``), for CLI tests that do not test ``zomehost init`` itself."""

    def make(name: str = "home") -> Path:
        home = fast_home(tmp_path_factory.mktemp(name) / "home")
        seed_cache(home, module_cache)
        return home.path

    return make


@pytest.fixture(scope="session")
def zomehost_inproc() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The ``zomehost`` CLI run in this process (typer's runner): same code, no process start.

    Returns a CompletedProcess-like result; an exception escaping the CLI (what would be a
    traceback in a terminal) is put in ``stderr`` as ``Traceback ...``.
    """
    from typer.testing import CliRunner

    from zomehost.cli.main import app

    runner = CliRunner()

    def run(
        home: Path, *args: str, passphrase: str | None = PASSPHRASE
    ) -> subprocess.CompletedProcess[str]:
        env = {"ZOMEHOST_HOME": str(home), "ZOMEHOST_PASSPHRASE": passphrase}
        result = runner.invoke(app, list(args), env=env)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += f"\nTraceback (in process): {result.exception!r}"
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)

    return run


@contextmanager
def rust_and_as_app(
    probe_wasm: dict[str, Path], cache: Path, root: Path, name: str
) -> Iterator[AppHandle]:
    """One app whose DNA holds the Rust probe (zome ``rs``) and the AssemblyScript probe
    (zome ``as``), on an in-process node under ``root``: for cross-language tests."""
    bundle = AppBuilder(dict(probe_wasm), root / "bundles")(
        {"main": [("rs", "rust"), ("as", "assemblyscript")]}, name=name
    )
    home = fast_home(root / "home")
    seed_cache(home, cache)
    node = Node(home)
    try:
        yield node.install(bundle, name)
    finally:
        node.close()
