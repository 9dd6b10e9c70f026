"""``zomehost build``: compile every zome of an app directory and put its wasm where the
DNA manifest points.

The zomes of an app are the entries of its DNAs' ``dna.yaml``. A zome's sources are in
``<app>/zomes/<zome name>/``: a Rust crate (``Cargo.toml``) or an AssemblyScript entry
(``assembly/index.ts``). A zome without sources there is taken as prebuilt (its wasm must
exist).

* Rust: ``/usr/bin/cargo build --release`` of those crates, with Debian's offline wasm32
  toolchain (the PATH and environment of ``scripts/build-rust-zomes``), into the cargo
  target directory all apps share (``~/.cache/zomehost/cargo-target``: dependencies are
  compiled once; one build at a time holds it, so outputs are not mixed up); then
  ``wasm-opt -Oz`` when binaryen is installed (``NO_WASM_OPT=1``
  skips it; ``CARGO_PROFILE_RELEASE_LTO=off`` and other cargo variables pass through).
* AssemblyScript: the SDK's ``zomehost-asc`` (asc with the ABI's flags, then a check of
  imports and exports) into ``zomes/<zome>/build/<zome>.wasm``, skipped when that file is
  newer than the zome's sources and the SDK (``force`` rebuilds). The compiler comes from
  the app's ``node_modules`` (after ``npm install`` there), else from the zomehost
  checkout's, else ``npm install`` is run in the app.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zomehost.core import yamldoc
from zomehost.scaffold import sdk as tools
from zomehost.scaffold.errors import BuildError, ScaffoldError
from zomehost.scaffold.new import Lang

Echo = Callable[[str], None]

RUST_TARGET = "wasm32-unknown-unknown"
# Environment that would send cargo to another compiler than Debian's (scripts/build-rust-zomes).
CARGO_ENV_DROP = (
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTUP_TOOLCHAIN",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
)


@dataclass
class ZomeSource:
    name: str
    lang: Lang | None  # None: no sources, a prebuilt wasm
    source: Path
    outputs: list[Path] = field(default_factory=list)  # where the DNA manifests want it
    crate: str = ""  # Rust: the package name


@dataclass
class Built:
    zome: ZomeSource
    wasm: Path  # the compiler's output
    seconds: float
    up_to_date: bool = False


@dataclass
class AppPlan:
    root: Path  # where zomes/ is
    dnas: list[Path]
    zomes: list[ZomeSource]


# -- reading the app ----------------------------------------------------------------------
def _yaml(path: Path) -> Any:
    return yamldoc.read(path, ScaffoldError)


def _dna_yamls(app_dir: Path) -> tuple[Path, list[Path]]:
    """(the app's root, its dna.yaml files) for an app dir (happ.yaml) or a DNA dir."""
    if app_dir.is_file():
        app_dir = app_dir.parent
    happ = app_dir / "happ.yaml"
    if happ.is_file():
        doc = _yaml(happ)
        dnas: list[Path] = []
        roles = doc.get("roles") if isinstance(doc, dict) else None
        for role in roles or []:
            dna = role.get("dna") if isinstance(role, dict) else None
            path = dna.get("path") if isinstance(dna, dict) else None
            if not isinstance(path, str):
                continue
            p = (app_dir / path).resolve()
            if p.is_dir():
                p = p / "dna.yaml"
            if p.suffix == ".dna":
                continue  # a packed DNA: nothing to build
            if not p.is_file():
                raise ScaffoldError(f"{happ}: role dna path {path!r}: no dna.yaml at {p}")
            if p not in dnas:
                dnas.append(p)
        if not dnas:
            raise ScaffoldError(f"{happ} names no DNA directory to build")
        return app_dir, dnas
    if (app_dir / "dna.yaml").is_file():
        root = app_dir if (app_dir / "zomes").is_dir() else app_dir.parent
        return root, [app_dir / "dna.yaml"]
    raise ScaffoldError(
        f"no happ.yaml or dna.yaml in {app_dir}: give the directory of an app "
        "(`zomehost new app NAME` makes one)"
    )


def _zome_entries(dna_yaml: Path) -> list[tuple[str, str]]:
    doc = _yaml(dna_yaml)
    if not isinstance(doc, dict):
        raise ScaffoldError(f"{dna_yaml}: the dna manifest must be a mapping")
    entries: list[tuple[str, str]] = []
    docs: list[Any] = []
    for section in ("integrity", "coordinator"):
        part = doc.get(section)
        if isinstance(part, dict):
            docs += list(part.get("zomes") or [])
    docs += list(doc.get("zomes") or [])
    for z in docs:
        if not isinstance(z, dict) or not isinstance(z.get("name"), str):
            raise ScaffoldError(f"{dna_yaml}: each zome needs a name and a path")
        path = z.get("path") or z.get("bundled")
        if not isinstance(path, str) or not path:
            raise ScaffoldError(f"{dna_yaml}: zome {z['name']!r} needs a path to its wasm")
        entries.append((z["name"], path))
    if not entries:
        raise ScaffoldError(f"{dna_yaml} lists no zomes")
    return entries


def _lang_of(source: Path) -> Lang | None:
    if (source / "Cargo.toml").is_file():
        return Lang.RUST
    if (source / "assembly" / "index.ts").is_file() or (source / "index.ts").is_file():
        return Lang.ASSEMBLYSCRIPT
    return None


def _crate_name(cargo_toml: Path) -> str:
    try:
        doc = tomllib.loads(cargo_toml.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScaffoldError(f"{cargo_toml}: not valid TOML: {exc}") from None
    name = (doc.get("package") or {}).get("name")
    if not isinstance(name, str):
        raise ScaffoldError(f"{cargo_toml}: no [package] name")
    return name


def plan(app_dir: Path) -> AppPlan:
    """Which zomes an app has, in which language, and where their wasm goes."""
    root, dnas = _dna_yamls(app_dir.resolve())
    zomes: dict[Path, ZomeSource] = {}
    for dna_yaml in dnas:
        for name, path in _zome_entries(dna_yaml):
            out = (dna_yaml.parent / path).resolve()
            source = root / "zomes" / name
            lang = _lang_of(source) if source.is_dir() else None
            key = source if lang is not None else out
            z = zomes.get(key)
            if z is None:
                z = zomes[key] = ZomeSource(name, lang, source)
                if lang is Lang.RUST:
                    z.crate = _crate_name(source / "Cargo.toml")
            if out not in z.outputs:
                z.outputs.append(out)
    return AppPlan(root, dnas, list(zomes.values()))


# -- running compilers --------------------------------------------------------------------
def _run(cmd: list[str], cwd: Path, env: dict[str, str], stream: Echo) -> tuple[int, str]:
    """Run a compiler, passing each output line to ``stream``; (status, all output)."""
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise ScaffoldError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        stream(line.rstrip("\n"))
    return proc.wait(), "".join(lines)


def _newest(paths: Iterable[Path], skip: Path | None = None) -> float:
    newest = 0.0
    for p in paths:
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            d = Path(dirpath)
            dirnames[:] = [
                n for n in dirnames if n != "node_modules" and (skip is None or d / n != skip)
            ]
            for f in filenames:
                with contextlib.suppress(OSError):
                    newest = max(newest, (d / f).stat().st_mtime)
    return newest


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n} bytes" if n < 10_000 else f"{n / 1024:.0f} KiB"


# -- Rust ---------------------------------------------------------------------------------
def cargo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CARGO_ENV_DROP}
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")
    return env


def build_rust(
    root: Path, zomes: list[ZomeSource], echo: Echo, stream: Echo, color: bool = False
) -> list[Built]:
    tools.check_rust_toolchain()
    if not (root / "Cargo.toml").is_file():
        raise ScaffoldError(
            f"no Cargo.toml in {root}: the Rust zomes need a cargo workspace there "
            "(`zomehost new zome NAME --lang rust` writes one)"
        )
    crates = [z.crate for z in zomes]
    echo(f"==> Rust: cargo build --release ({', '.join(crates)}), offline, {RUST_TARGET}")
    target_dir = tools.cargo_target_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(tools.CARGO),
        "build",
        "--release",
        "--target",
        RUST_TARGET,
        "--target-dir",
        str(target_dir),
    ]
    for c in crates:
        cmd += ["-p", c]
    env = cargo_env()
    env["CARGO_TERM_COLOR"] = "always" if color else "never"
    with _exclusive(target_dir / ".zomehost-build.lock"):
        t0 = time.monotonic()
        status, output = _run(cmd, root, env, stream)
        seconds = time.monotonic() - t0
        built = _rust_outputs(zomes, target_dir, status, output, seconds)
    return built


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One zomehost build at a time in the shared target directory (until its wasm is kept)."""
    with lock_path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _rust_outputs(
    zomes: list[ZomeSource], target_dir: Path, status: int, output: str, seconds: float
) -> list[Built]:
    """Each zome's wasm, copied out of the shared target directory (or the build's error)."""
    if status != 0:
        # "error: could not compile `demo` due to ...": name the zomes that failed
        failed = set(re.findall(r"could not compile `([^`]+)`", output))
        names = [z.name for z in zomes if z.crate in failed] or [z.name for z in zomes]
        raise BuildError(
            f"Rust zome{'s' if len(names) > 1 else ''} {', '.join(names)}: "
            f"cargo build failed (exit status {status}); the compiler's messages are above",
            output,
        )
    built = []
    release = target_dir / RUST_TARGET / "release"
    for z in zomes:
        wasm = release / f"{z.crate.replace('-', '_')}.wasm"
        if not wasm.is_file():
            raise BuildError(f"zome {z.name}: cargo succeeded but wrote no {wasm}", output)
        kept = z.source / "build" / f"{z.name}.cargo.wasm"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wasm, kept)
        built.append(Built(z, kept, seconds))
    return built


def _wasm_opt(wasm: Path, echo: Echo) -> Path:
    """``wasm-opt -Oz`` into a sibling file (cargo's own output stays as it is)."""
    exe = tools.wasm_opt()
    if exe is None or os.environ.get("NO_WASM_OPT"):
        return wasm
    out = wasm.with_suffix(".opt.wasm")
    if out.is_file() and out.stat().st_mtime >= wasm.stat().st_mtime:
        return out
    proc = subprocess.run(
        [exe, "-Oz", "--strip-producers", str(wasm), "-o", str(out)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        echo(f"    wasm-opt failed, using cargo's output as is: {proc.stderr.strip()[:300]}")
        return wasm
    return out


# -- AssemblyScript -----------------------------------------------------------------------
@dataclass
class AscToolchain:
    command: list[str]  # node ... zomehost-asc.mjs
    extra: list[str]  # asc options after ours (package paths)
    sources: list[Path]  # SDK files a zome's build depends on
    where: str


def _app_toolchain(root: Path) -> AscToolchain | None:
    nm = root / "node_modules"
    wrapper = nm / "@zomehost" / "sdk" / "bin" / "zomehost-asc.mjs"
    if not (wrapper.is_file() and (nm / "assemblyscript" / "package.json").is_file()):
        return None
    sdk = wrapper.parent.parent
    return AscToolchain(
        # keep the symlinked SDK's imports (assemblyscript) resolving in this app
        [tools.node(), "--preserve-symlinks", "--preserve-symlinks-main", str(wrapper)],
        [],
        [sdk / "assembly", sdk / "bin", nm / "assemblyscript" / "package.json"],
        f"{nm}",
    )


def _checkout_toolchain(sdks: tools.Sdks) -> AscToolchain | None:
    checkout = sdks.checkout
    if checkout is None:
        return None
    nm = checkout / "node_modules"
    if not (nm / "assemblyscript" / "package.json").is_file():
        return None
    sdk = sdks.assemblyscript
    return AscToolchain(
        [tools.node(), str(sdks.asc_wrapper)],
        ["--path", str(nm)],
        [sdk / "assembly", sdk / "bin", nm / "assemblyscript" / "package.json"],
        f"{nm} (the zomehost checkout)",
    )


def asc_toolchain(root: Path, echo: Echo, stream: Echo) -> AscToolchain:
    tools.node()
    found = _app_toolchain(root)
    if found is None:
        found = _checkout_toolchain(tools.find_sdks())
    if found is not None:
        return found
    if not (root / "package.json").is_file():
        raise ScaffoldError(
            f"no AssemblyScript compiler: no node_modules in {root} or in the zomehost "
            f"checkout, and no package.json in {root} to install one from. Run `npm install "
            f"--save-dev assemblyscript@{tools.ASSEMBLYSCRIPT_VERSION} "
            "<zomehost>/sdk/assemblyscript` there"
        )
    npm = shutil.which("npm")
    if npm is None:
        raise ScaffoldError("npm is not installed: cannot install the AssemblyScript compiler")
    echo(f"==> npm install (the AssemblyScript compiler and SDK, into {root / 'node_modules'})")
    status, output = _run(
        [npm, "install", "--no-audit", "--no-fund"], root, dict(os.environ), stream
    )
    found = _app_toolchain(root)
    if status != 0 or found is None:
        raise BuildError(f"npm install in {root} failed (exit status {status})", output)
    return found


def build_as(
    root: Path, z: ZomeSource, toolchain: AscToolchain, echo: Echo, stream: Echo, force: bool
) -> Built:
    entry = "assembly/index.ts" if (z.source / "assembly" / "index.ts").is_file() else "index.ts"
    out = z.source / "build" / f"{z.name}.wasm"
    if not force and out.is_file():
        newest = _newest([z.source, *toolchain.sources], skip=z.source / "build")
        if newest < out.stat().st_mtime:
            echo(f"==> AssemblyScript zome {z.name}: up to date ({_rel(out, root)})")
            return Built(z, out, 0.0, up_to_date=True)
    echo(f"==> AssemblyScript zome {z.name}: compiling {_rel(z.source / entry, root)}")
    cmd = [*toolchain.command, entry, "-o", str(out.relative_to(z.source)), *toolchain.extra]
    t0 = time.monotonic()
    status, output = _run(cmd, z.source, dict(os.environ), stream)
    if status != 0:
        raise BuildError(
            f"AssemblyScript zome {z.name}: compile failed (exit status {status}); the "
            "compiler's messages are above",
            output,
        )
    return Built(z, out, time.monotonic() - t0)


# -- the whole app ------------------------------------------------------------------------
def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _install(built: Built) -> None:
    for target in built.zome.outputs:
        if target.resolve() == built.wasm.resolve():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        data = built.wasm.read_bytes()
        if not (target.is_file() and target.read_bytes() == data):
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            tmp.write_bytes(data)
            tmp.replace(target)


def build_app(
    app_dir: Path,
    *,
    force: bool = False,
    echo: Echo = print,
    stream: Echo | None = None,
    color: bool = False,
) -> list[Built]:
    """Build every zome of the app at ``app_dir``; raise :class:`BuildError` if any failed.

    ``echo`` gets progress lines, ``stream`` the compilers' output line by line.
    """
    stream = stream or echo
    p = plan(app_dir)
    tools.link_sdks(p.root, tools.find_sdks())
    built: list[Built] = []
    failures: list[BuildError] = []
    rust = [z for z in p.zomes if z.lang is Lang.RUST]
    assembly = [z for z in p.zomes if z.lang is Lang.ASSEMBLYSCRIPT]
    for z in p.zomes:
        if z.lang is None:
            missing = [o for o in z.outputs if not o.is_file()]
            if missing:
                failures.append(
                    BuildError(
                        f"zome {z.name}: no sources in {_rel(z.source, p.root)} (a Cargo.toml "
                        f"or assembly/index.ts) and no wasm at {missing[0]}"
                    )
                )
            else:
                echo(f"==> zome {z.name}: no sources in {_rel(z.source, p.root)}, using its wasm")
    if rust:
        try:
            for b in build_rust(p.root, rust, echo, stream, color):
                b.wasm = _wasm_opt(b.wasm, echo)
                built.append(b)
        except BuildError as exc:
            failures.append(exc)
    if assembly:
        toolchain = asc_toolchain(p.root, echo, stream)
        echo(f"==> AssemblyScript: asc and @zomehost/sdk from {toolchain.where}")
        for z in assembly:
            try:
                built.append(build_as(p.root, z, toolchain, echo, stream, force))
            except BuildError as exc:
                failures.append(exc)
    for b in built:
        _install(b)
        if not b.up_to_date:
            took = f", {b.seconds:.1f} s" if b.zome.lang is Lang.ASSEMBLYSCRIPT else ""
            echo(f"    built zome {b.zome.name} ({_size(b.wasm)}{took})")
        for target in b.zome.outputs:
            echo(f"    -> {_rel(target, p.root)}")
    if failures:
        if len(failures) == 1:
            raise failures[0]
        raise BuildError(
            f"{len(failures)} builds failed:\n" + "\n".join(f"  {f.message}" for f in failures),
            "".join(f.output for f in failures),
        )
    return built
