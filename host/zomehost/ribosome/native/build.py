"""Build the native wasm boundary (``_boundary.c``) in place: ``python -m
zomehost.ribosome.native.build``.

Run by ``scripts/bootstrap`` and the ``just native`` recipe. It compiles one C file with the
C compiler Python was built with (gcc here) and Python's own headers; nothing is linked
against wasmtime (the extension gets wasmtime's function addresses at run time). It says
what it does, gives up after :data:`TIMEOUT_S`, and exits non-zero when the build fails:
zomehost then runs on the ctypes boundary and says so once in its log.

A build is skipped when the extension on disk was built from the same source (a stamp file
holds the source's hash and the compiler command).
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_boundary.c"
TIMEOUT_S = 120
FLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Wno-unused-parameter")


def target() -> Path:
    """Where the extension goes (next to its source, with Python's extension suffix)."""
    return HERE / f"_boundary{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"


def command() -> list[str]:
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1] or ["cc"]
    include = sysconfig.get_paths()["include"]
    return [*cc, *FLAGS, f"-I{include}", str(SOURCE), "-o", str(target())]


def stamp() -> str:
    """What the built extension must match: the source and the compiler command."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(" ".join(command()).encode())
    return digest.hexdigest()


def stamp_path() -> Path:
    return target().with_suffix(".stamp")


def up_to_date() -> bool:
    try:
        return target().is_file() and stamp_path().read_text().strip() == stamp()
    except OSError:
        return False


def build(verbose: bool = True) -> str | None:
    """Build unless up to date; ``None`` on success, else why it failed."""

    def say(msg: str) -> None:
        if verbose:
            print(f"native boundary: {msg}", flush=True)

    if up_to_date():
        say(f"{target().name} is up to date")
        return None
    cmd = command()
    say(f"compiling {SOURCE.name} ({' '.join(cmd[:1])}, at most {TIMEOUT_S} s)")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError:
        return f"no C compiler ({cmd[0]}) on this machine"
    except subprocess.TimeoutExpired:
        return f"the compiler did not finish within {TIMEOUT_S} s"
    if r.returncode != 0:
        return f"the compiler failed: {(r.stderr or r.stdout).strip()[-2000:]}"
    stamp_path().write_text(stamp() + "\n")
    say(f"built {target().name}")
    return None


def main() -> int:
    why = build()
    if why is not None:
        print(f"native boundary: NOT built: {why}", file=sys.stderr, flush=True)
        print("native boundary: zomehost will use the ctypes boundary instead", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
