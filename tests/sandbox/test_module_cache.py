"""Damaged module cache files in a real home: the conductor recompiles and serves.

``Module.deserialize`` trusts its input, and 1-8 damaged bytes used to crash the conductor
(SIGSEGV, SIGABRT, SIGBUS) or hang it. Every cache file is now authenticated with the home's
key before wasmtime reads it. The conductor runs in a child process (``cache_reader.py``),
so a crash or a hang fails the test and names the damage that caused it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zomehost.fuzz.testbed import TestBed, wat
from zomehost.ribosome.module_cache import HEADER_LEN, MAGIC, ModuleCache, key_path

READER = Path(__file__).with_name("cache_reader.py")
ZOMES = ["hostile", "writer"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with an app of two zomes (two different modules, so two cache files)."""
    bed = TestBed(tmp_path_factory.mktemp("cache-damage") / "home")
    try:
        bed.install({"writer": wat("writer"), "hostile": wat("hostile")}, app_id="app")
    finally:
        bed.close()
    return bed.home.path


def cache_files(home: Path) -> list[Path]:
    return sorted((home / "cache" / "wasm").glob("*.cwasm"))


def run_reader(home: Path, damages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the conductor process over ``damages``; it must exit cleanly after all of them."""
    stdin = "".join(json.dumps(d) + "\n" for d in damages)
    proc = subprocess.run(
        [sys.executable, str(READER), str(home), "app"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0:
        failed = damages[len(lines)] if len(lines) < len(damages) else None
        pytest.fail(f"conductor exited {proc.returncode} on damage {failed}: {proc.stderr[-2000:]}")
    assert len(lines) == len(damages)
    for line in lines:
        assert line["served"] == {"writer": None, "hostile": True}, line
    return lines


def test_the_cache_is_used_when_intact(home: Path) -> None:
    files = cache_files(home)
    assert len(files) == 2 and all(f.read_bytes().startswith(MAGIC) for f in files)
    assert key_path(home / "cache" / "wasm").stat().st_mode & 0o777 == 0o600
    [line] = run_reader(home, [{"op": "none"}])
    assert line["compiled"] == []


def test_damaged_files_are_recompiled_and_the_conductor_serves(home: Path) -> None:
    size = min(f.stat().st_size for f in cache_files(home))
    rng = random.Random(14)
    damages: list[dict[str, Any]] = []
    # bit flips in the magic, the tag, the payload's header and body, and its end
    positions = [0, 7, 8, 20, 39, 40, 41, 60, 100, 500, size // 2, size - 64, size - 1]
    positions += [rng.randrange(size) for _ in range(40)]
    for pos in positions:
        damages.append({"op": "flip", "pos": pos, "mask": 1 << rng.randrange(8), "file": pos})
    for pos in [0, 1, len(MAGIC), HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 1, 4096, size - 1]:
        damages.append({"op": "truncate", "pos": pos, "file": pos})
    for pos in [HEADER_LEN, size // 3, size - 64]:
        damages.append({"op": "garbage", "pos": pos})
    damages += [{"op": "append", "pos": 1}, {"op": "swap"}, {"op": "forge", "file": 1}]
    lines = run_reader(home, damages)
    for damage, line in zip(damages, lines, strict=True):
        assert len(line["compiled"]) >= 1, f"{damage} was deserialized, not recompiled"
    # every damaged file was written again, whole: the next run compiles nothing
    assert run_reader(home, [{"op": "none"}])[0]["compiled"] == []


def test_a_file_from_another_home_is_refused(home: Path, tmp_path: Path) -> None:
    """A valid cache file under another key (planted by another user, or copied from
    another home) is refused as foreign; a malformed key is replaced by a new one."""
    foreign = ModuleCache(tmp_path / "wasm")
    name = cache_files(home)[0].stem
    foreign.write(name, b"not a module, but tagged with the wrong key")
    ours = ModuleCache(home / "cache" / "wasm")
    assert ours.read(name) is not None
    (home / "cache" / "wasm" / f"{name}.cwasm").write_bytes(foreign.path(name).read_bytes())
    assert ours.read(name) is None
    assert not (home / "cache" / "wasm" / f"{name}.cwasm").exists()
    bad_key = tmp_path / "other" / "wasm"
    bad_key.mkdir(parents=True)
    key_path(bad_key).write_bytes(b"short")
    cache = ModuleCache(bad_key)
    cache.write("m", b"payload")
    assert len(key_path(bad_key).read_bytes()) == 32 and cache.read("m") == b"payload"
    run_reader(home, [{"op": "none"}])  # recompiled what was removed


def test_a_fifo_in_place_of_a_cache_file_does_not_block(home: Path) -> None:
    path = cache_files(home)[0]
    path.unlink()
    os.mkfifo(path)
    [line] = run_reader(home, [{"op": "none"}])
    assert len(line["compiled"]) == 1 and path.is_file()


def test_the_cli_serves_with_a_damaged_cache(home: Path, zomehost_cli: Any) -> None:
    """The console script end to end, after a truncated write."""
    path = cache_files(home)[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    from zomehost.fuzz.testbed import PASSPHRASE

    out = zomehost_cli(home, "call", "app", "main", "writer", "ok", passphrase=PASSPHRASE)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout) is None
