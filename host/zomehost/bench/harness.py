"""Shared benchmark plumbing: statistics, the environment, real conductors on temp homes.

Nothing is mocked: every figure comes from a real conductor (LMDB on disk, durable commits,
compiled zomes) or, for the comparisons, from the same zome driven another way.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.conductor.packing import pack_app_dir
from zomehost.core.codec import pack
from zomehost.core.zome_call import ZomeCall
from zomehost.testing.process import make_home as testing_home

REPO = Path(__file__).resolve().parents[3]
WASM_DIR = REPO / "target" / "wasm32-unknown-unknown" / "release"
PASSPHRASE = "zomehost benchmark passphrase"


def wasm_path(name: str) -> Path:
    path = WASM_DIR / f"{name}.wasm"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not built: run `just zomes` first")
    return path


# -- statistics -------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p99": percentile(values, 99),
        "min": min(values),
        "n": len(values),
    }


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect first, then keep the cyclic GC out of the timed region."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def run_on_threads(
    calls: list[Callable[[], Any]],
    seconds: float,
    tolerate: tuple[type[BaseException], ...] = (),
) -> tuple[int, int, float]:
    """Each call function back to back on its own thread for ``seconds``: (completed,
    failed with one of ``tolerate``, elapsed seconds). Any other error ends its thread's
    loop and is raised here."""
    ok, failed = [0] * len(calls), [0] * len(calls)
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(k: int) -> None:
        call = calls[k]
        while not stop.is_set():
            try:
                call()
                ok[k] += 1
            except tolerate:
                failed[k] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(calls))]
    with quiet_gc():
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(ok), sum(failed), elapsed


def time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    """Latency of each of ``n`` calls, in seconds."""
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def per_call_batch(fn: Callable[[], Any], n: int) -> float:
    """Mean seconds per call over a batch of ``n`` back-to-back calls (one round)."""
    clock = time.perf_counter
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


# -- environment ------------------------------------------------------------------------
def _version(pkg: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(pkg)
    except Exception:
        return None


def environment() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    node = shutil.which("node")
    node_version = None
    if node:
        try:
            node_version = subprocess.run(
                [node, "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            node_version = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in load],
        "wasmtime": _version("wasmtime"),
        "extism": _version("extism"),
        "lmdb": _version("lmdb"),
        "msgpack": _version("msgpack"),
        "node": node_version,
        "boundary": os.environ.get("ZOMEHOST_BOUNDARY", "native"),
    }


# -- conductors -------------------------------------------------------------------------
def make_home(
    path: Path,
    *,
    durable: bool = True,
    limits: dict[str, Any] | None = None,
    fast_keystore: bool = True,
) -> Home:
    """A benchmark conductor's home (``zomehost.testing.make_home`` with the benchmarks'
    passphrase). ``fast_keystore``: sealed at Argon2id's minimum cost (cheap to open);
    otherwise at zomehost's default cost, as ``zomehost init`` does."""
    return Home(
        testing_home(
            path,
            passphrase=PASSPHRASE,
            network={},
            limits=limits,
            durable=durable,
            fast_keystore=fast_keystore,
        )
    )


def app_bundle(root: Path, name: str, zomes: list[tuple[str, str]]) -> bytes:
    """Pack a one-role app (role ``main``) of (zome name, built zome name or wasm path)."""
    app_dir = root / f"app-{name}"
    dna_dir = app_dir / "dna"
    dna_dir.mkdir(parents=True, exist_ok=True)
    docs = []
    for zname, wasm in zomes:
        src = Path(wasm) if Path(wasm).is_file() else wasm_path(wasm)
        shutil.copyfile(src, dna_dir / f"{zname}.wasm")
        docs.append({"name": zname, "path": f"{zname}.wasm"})
    (dna_dir / "dna.yaml").write_text(
        yaml.safe_dump(
            {
                "manifest_version": "1",
                "name": f"{name}_dna",
                "integrity": {"network_seed": name, "properties": {}, "zomes": []},
                "coordinator": {"zomes": docs},
            }
        )
    )
    (app_dir / "happ.yaml").write_text(
        yaml.safe_dump(
            {
                "manifest_version": "1",
                "name": name,
                "roles": [{"name": "main", "dna": {"path": "./dna"}}],
            }
        )
    )
    out = pack_app_dir(app_dir, root / f"{name}.happ")
    return out.read_bytes()


@dataclass
class BenchConductor:
    """A real conductor on a temporary home, with shortcuts for calls."""

    root: Path
    home: Home
    conductor: Conductor
    apps: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        root: Path | None = None,
        *,
        durable: bool = True,
        limits: dict[str, Any] | None = None,
        boundary: str | None = None,
    ) -> BenchConductor:
        root = root or Path(tempfile.mkdtemp(prefix="zomehost-bench-"))
        home = make_home(root / "home", durable=durable, limits=limits)
        conductor = Conductor.open(home, PASSPHRASE)
        if boundary is not None:
            from zomehost.ribosome.ribosome import Ribosome

            conductor.ribosome = Ribosome(conductor.engine, boundary)
        return cls(root, home, conductor)

    def install(self, app_id: str, zomes: list[tuple[str, str]]) -> Any:
        bundle = app_bundle(self.root, app_id, zomes)
        app = self.conductor.install_app(bundle, app_id)
        self.apps[app_id] = app
        return app

    def call_fn(self, app_id: str, zome: str, fn: str, payload: Any) -> Callable[[], Any]:
        """A no-argument function making the call (payload packed once, outside the timing)."""
        app = self.apps[app_id]
        call = ZomeCall(app.cell_id("main"), zome, fn, pack(payload), app.agent)
        run = self.conductor.call_zome
        return lambda: run(call)

    def close(self, *, remove: bool = True) -> None:
        self.conductor.close()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
