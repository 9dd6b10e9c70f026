"""The store's map grows before it fills; a full map or a full disk is a typed error for
that commit only: nothing of it is written, reads go on, the next commits after space is
found work again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import nacl.signing
import pytest

from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import MIN_MAP_SIZE, Store
from zomehost.conductor.home import ConductorConfig
from zomehost.core.action import ActionType, Entry
from zomehost.core.codec import pack
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.errors import ConductorError, DiskFull, StoreFull

REPO = Path(__file__).resolve().parents[2]
KEY = nacl.signing.SigningKey(b"\x05" * 32)
CELL = CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(KEY.verify_key)))


def _sign(data: bytes) -> bytes:
    return bytes(KEY.sign(data).signature)


def _fill(chain: SourceChain, calls: int, size: int = 4000) -> int:
    """Commit ``calls`` calls of 4 entries; the number that committed before an error."""
    for i in range(calls):
        ws = Workspace(chain, _sign)
        if ws.base is None:
            ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
        for j in range(4):
            ws.create(Entry("blob", pack(os.urandom(size)) + pack(i * 4 + j)), 2)
        ws.commit()
    return calls


def test_the_map_grows_before_it_fills(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", sync=False, map_size=MIN_MAP_SIZE * 4)
    chain = SourceChain(store, CELL)
    first = store.map_size
    _fill(chain, 300)  # ~5 MB into a 256 KiB map
    assert store.map_size > first * 16
    assert chain.verify() == 1 + 300 * 4
    store.close()


def test_the_map_grows_while_readers_read(tmp_path: Path) -> None:
    """Growth waits for open read transactions (LMDB's rule) and never breaks a reader."""
    store = Store(tmp_path / "db", sync=False, map_size=MIN_MAP_SIZE * 4)
    chain = SourceChain(store, CELL)
    _fill(chain, 1)
    stop, errors = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            try:
                chain.records()
            except Exception as exc:
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        _fill(chain, 150)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors
    assert chain.verify() == 1 + 151 * 4
    store.close()


def test_a_full_map_is_a_typed_error_and_reads_go_on(tmp_path: Path) -> None:
    store = Store(
        tmp_path / "db", sync=False, map_size=MIN_MAP_SIZE * 4, max_map_size=MIN_MAP_SIZE * 16
    )
    chain = SourceChain(store, CELL)
    _fill(chain, 2)
    before = chain.records()
    with pytest.raises(StoreFull) as info:
        _fill(chain, 1000)
    assert "max_map_size" in info.value.message and "Environment" not in info.value.message
    assert info.value.kind == "StoreFull"
    after = chain.records()  # reads go on; the failed commit left nothing
    assert [r.action_hash for r in after[: len(before)]] == [r.action_hash for r in before]
    assert chain.verify() == len(after)
    with pytest.raises(StoreFull):  # and keeps failing cleanly, never a raw lmdb error
        _fill(chain, 1)
    assert chain.verify() == len(after)
    store.close()
    # a bigger limit lets the same home write again
    store = Store(tmp_path / "db", sync=False, max_map_size=MIN_MAP_SIZE * 256)
    chain = SourceChain(store, CELL)
    _fill(chain, 3)
    assert chain.verify() == len(after) + 12
    store.close()


def test_the_map_size_is_a_conductor_setting(tmp_path: Path) -> None:
    path = tmp_path / "conductor-config.yaml"
    path.write_text("map_size: 1048576\nmax_map_size: 8388608\n")
    cfg = ConductorConfig.load(path)
    assert (cfg.map_size, cfg.max_map_size) == (1 << 20, 8 << 20)
    for bad in ("map_size: 12", "max_map_size: lots", "map_size: true"):
        path.write_text(bad + "\n")
        with pytest.raises(ConductorError):
            ConductorConfig.load(path)


_DISK_FULL_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from chain.test_store_growth import CELL, _fill
    from zomehost.chain.source_chain import SourceChain
    from zomehost.chain.store import Store
    from zomehost.errors import DiskFull

    store = Store(Path(sys.argv[1]), sync=True, map_size=1 << 30)
    chain = SourceChain(store, CELL)
    try:
        _fill(chain, 10_000)
        print("never full")
    except DiskFull as exc:
        n = chain.verify()
        print("DiskFull", n, exc.kind, exc.message, sep="|")
        try:
            _fill(chain, 1)
        except DiskFull:
            print("again", chain.verify() == n)
    """
)


def test_a_full_disk_is_a_typed_error_and_reads_go_on(tmp_path: Path) -> None:
    """A 2 MiB tmpfs (mounted in a private mount namespace) fills up under the store."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = _DISK_FULL_WRITER.format(tests=str(REPO / "tests"))
    out = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=2m tmpfs "{mnt}" && exec "$0" -c "$1" "{mnt}/db"',
            sys.executable,
            script,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO / "host")},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("DiskFull|"), out.stdout + out.stderr[-3000:]
    _, verified, kind, message = lines[0].split("|")
    assert int(verified) > 1 and kind == DiskFull.kind
    assert "disk" in message and "Traceback" not in out.stderr
    assert lines[1] == "again True"
