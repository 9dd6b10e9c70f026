"""Where the zome SDKs and the toolchains that build zomes are.

The SDKs (the Rust crate and the AssemblyScript package) ship inside the Python package, in
``zomehost/sdk/`` (in a checkout, a link to its ``sdk/``), so an installed zomehost is
enough. ``ZOMEHOST_SDK_DIR`` (a directory holding ``rust/`` and ``assemblyscript/``)
overrides them, for working on the SDKs themselves.

An app reaches them through ``<app>/.zomehost/sdk``, a link that ``zomehost new`` and
``zomehost build`` point at the running zomehost's SDKs: the app's manifests name only that
relative path, so the app builds wherever it is moved, with whichever zomehost is installed.
Rust builds share one cargo target directory (:func:`cargo_target_dir`), so a new app does
not compile serde & co. again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import zomehost
from zomehost.scaffold.errors import ScaffoldError

SDK_ENV = "ZOMEHOST_SDK_DIR"

# Debian's offline Rust toolchain (see scripts/build-rust-zomes and .cargo/config.toml).
CARGO = Path("/usr/bin/cargo")
RUSTC = Path("/usr/bin/rustc")
WASM32_STD = Path("/usr/lib/rustlib/wasm32-unknown-unknown/lib")
CARGO_REGISTRY = Path("/usr/share/cargo/registry")
RUST_CRATES = ("serde", "serde_derive", "rmp-serde")
RUST_APT = (
    "rustc cargo lld libstd-rust-dev-wasm32 "
    "librust-serde-dev librust-serde-derive-dev librust-rmp-serde-dev"
)
ASSEMBLYSCRIPT_VERSION = "0.28.9"


@dataclass(frozen=True)
class Sdks:
    """The SDK directories of one zomehost checkout."""

    root: Path  # the directory holding rust/ and assemblyscript/
    rust: Path
    assemblyscript: Path

    @property
    def checkout(self) -> Path | None:
        """The zomehost checkout around the SDKs (for its node_modules), if there is one."""
        parent = self.root.parent
        return parent if (parent / "package.json").is_file() else None

    @property
    def asc_wrapper(self) -> Path:
        return self.assemblyscript / "bin" / "zomehost-asc.mjs"


def packaged_sdks() -> Path:
    """The SDK directory inside the running zomehost package."""
    return (Path(zomehost.__file__).parent / "sdk").resolve()


def find_sdks() -> Sdks:
    """The SDKs of the installed zomehost package (or under ``$ZOMEHOST_SDK_DIR``)."""
    override = os.environ.get(SDK_ENV)
    root = Path(override).expanduser().resolve() if override else packaged_sdks()
    sdks = Sdks(root, root / "rust", root / "assemblyscript")
    missing = [
        str(p)
        for p in (sdks.rust / "Cargo.toml", sdks.assemblyscript / "package.json", sdks.asc_wrapper)
        if not p.is_file()
    ]
    if missing:
        where = f"${SDK_ENV}={override}" if override else f"the zomehost package ({root})"
        raise ScaffoldError(
            f"the zomehost SDKs were not found in {where}: missing {', '.join(missing)}. "
            + (
                f"Unset {SDK_ENV}, or point it at a directory holding rust/ and assemblyscript/."
                if override
                else "Reinstall zomehost (`pip install --force-reinstall zomehost`)."
            )
        )
    return sdks


SDK_LINK = Path(".zomehost") / "sdk"  # in an app: the link to the SDKs


def link_sdks(app_root: Path, sdks: Sdks) -> Path:
    """Point ``<app>/.zomehost/sdk`` at ``sdks`` (again, when zomehost moved or changed)."""
    link = app_root / SDK_LINK
    target = sdks.root.resolve()
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    if link.exists() and not link.is_symlink():
        raise ScaffoldError(f"{link} should be a link to zomehost's SDKs: remove it")
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)
    return link


def cache_dir() -> Path:
    """zomehost's per-user cache: ``$XDG_CACHE_HOME/zomehost`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zomehost"


def cargo_target_dir() -> Path:
    """The cargo target directory every app's Rust zomes build into (shared dependencies)."""
    return cache_dir() / "cargo-target"


def check_rust_toolchain() -> None:
    """Raise with the apt-get command when Debian's wasm32 Rust toolchain is incomplete."""
    missing: list[str] = []
    if not os.access(CARGO, os.X_OK):
        missing.append(f"{CARGO} (cargo)")
    if not os.access(RUSTC, os.X_OK):
        missing.append(f"{RUSTC} (rustc)")
    if not WASM32_STD.is_dir():
        missing.append("the wasm32 standard library (libstd-rust-dev-wasm32)")
    if not any(Path(p).exists() for p in ("/usr/bin/rust-lld", "/usr/bin/lld")):
        missing.append("lld (lld)")
    for crate in RUST_CRATES:
        if not any(CARGO_REGISTRY.glob(f"{crate}-[0-9]*")):
            missing.append(
                f"crate {crate} in {CARGO_REGISTRY} (librust-{crate.replace('_', '-')}-dev)"
            )
    if missing:
        raise ScaffoldError(
            "the Rust wasm toolchain is incomplete: missing "
            + "; ".join(missing)
            + f". Install it with: sudo apt-get install -y {RUST_APT} (or run scripts/bootstrap)"
        )


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        raise ScaffoldError(
            "node is not installed: the AssemblyScript compiler needs it "
            "(sudo apt-get install -y nodejs npm)"
        )
    return exe


def wasm_opt() -> str | None:
    return shutil.which("wasm-opt")
