"""Where the zome SDKs and the toolchains that build zomes are.

The SDKs live in the zomehost source tree (``sdk/rust``, ``sdk/assemblyscript``). With an
editable install (``pip install -e .``, as ``scripts/bootstrap`` does) the package is
``<checkout>/host/zomehost``, so the checkout is ``Path(zomehost.__file__).parents[2]``.
``ZOMEHOST_SDK_DIR`` (a directory holding ``rust/`` and ``assemblyscript/``) overrides it.
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


def package_checkout() -> Path:
    """The source checkout of the running zomehost package (for an editable install)."""
    return Path(zomehost.__file__).resolve().parents[2]


def find_sdks() -> Sdks:
    """The SDKs next to the installed zomehost package (or under ``$ZOMEHOST_SDK_DIR``)."""
    override = os.environ.get(SDK_ENV)
    root = Path(override).expanduser().resolve() if override else package_checkout() / "sdk"
    sdks = Sdks(root, root / "rust", root / "assemblyscript")
    missing = [
        str(p)
        for p in (sdks.rust / "Cargo.toml", sdks.assemblyscript / "package.json", sdks.asc_wrapper)
        if not p.is_file()
    ]
    if missing:
        where = f"${SDK_ENV}={override}" if override else f"the zomehost checkout ({root.parent})"
        raise ScaffoldError(
            f"the zomehost SDKs were not found in {where}: missing {', '.join(missing)}. "
            "Scaffolding and building zomes need a zomehost source checkout installed with "
            f"`pip install -e <checkout>` (scripts/bootstrap does), or {SDK_ENV} set to the "
            "checkout's sdk/ directory."
        )
    return sdks


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
