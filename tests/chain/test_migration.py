"""Format 2 homes keep working: migrated on open or by `zomehost chain migrate`, resumable
after a kill -9 at any point, and every chain verifies and answers queries after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import lmdb
import pytest
from tests.chain.format2 import CELLS, build, cell_of, downgrade

from conftest import PASSPHRASE
from zomehost.chain.source_chain import SourceChain
from zomehost.chain.store import FORMAT, Store
from zomehost.conductor.conductor import Conductor
from zomehost.conductor.home import Home
from zomehost.core.action import ActionType
from zomehost.core.codec import pack, unpack
from zomehost.core.query import ChainQueryFilter
from zomehost.core.zome_call import ZomeCall
from zomehost.errors import ChainError

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("fixtures") / "format2.tar.gz"
FIXTURE_RECORDS = 300  # per cell: what format2.py's __main__ built


def _unpack_fixture(dest: Path) -> Path:
    dest.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _tables(path: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    env = lmdb.open(str(path), max_dbs=16, readonly=True, lock=False)
    out = {}
    with env.begin() as txn:
        names = [bytes(k).decode() for k, _ in txn.cursor()]
    for name in names:
        db = env.open_db(name.encode())
        with env.begin() as txn:
            out[name] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)]
    env.close()
    return out


def _format(path: Path) -> int:
    env = lmdb.open(str(path), max_dbs=16, readonly=True, lock=False)
    with env.begin() as txn:
        raw = txn.get(b"store/format", db=env.open_db(b"state", txn=txn))
    env.close()
    return unpack(raw)  # type: ignore[no-any-return]


def _check_migrated(path: Path, records: int) -> None:
    """Every chain verifies, and the indexed queries equal a full scan."""
    store = Store(path, sync=False)
    try:
        for i in range(CELLS):
            chain = SourceChain(store, cell_of(i))
            assert chain.verify() == records
            everything = chain.records()
            for flt in (
                ChainQueryFilter(entry_type=frozenset({"comment"})),
                ChainQueryFilter(action_type=frozenset({ActionType.UPDATE, ActionType.DELETE})),
                ChainQueryFilter(entry_hashes=frozenset({everything[5].action.entry_hash})),  # type: ignore[arg-type]
            ):
                want = [r.action_hash for r in everything if flt.matches(r)]
                assert [r.action_hash for r in chain.records(flt)] == want and want
            for r in everything[:: max(1, records // 40)]:
                assert chain.get(r.action_hash) is not None
                if r.action.entry_hash is not None:
                    first = chain.get(r.action.entry_hash)
                    writers = [x for x in everything if x.action.entry_hash == r.action.entry_hash]
                    assert first is not None and first.action_hash == writers[0].action_hash
    finally:
        store.close()
    assert _format(path) == FORMAT


def test_a_real_format_2_store_is_migrated_on_open(tmp_path: Path) -> None:
    """The fixture was written by the format 2 code (tests/chain/format2.py)."""
    path = _unpack_fixture(tmp_path / "db")
    assert _format(path) == 2
    lines: list[str] = []
    Store(path, sync=False, progress=lines.append).close()
    assert lines[0].endswith(f"{CELLS * FIXTURE_RECORDS} records") and "format 3" in lines[-1]
    _check_migrated(path, FIXTURE_RECORDS)
    Store(path, sync=False, progress=lines.append).close()  # a second open: nothing to do
    assert "format 3" in lines[-1] and len(lines) == 4


def test_downgrade_reproduces_the_real_format_2_layout(tmp_path: Path) -> None:
    """The generator used for long chains writes exactly what format 2's code wrote."""
    real = _tables(_unpack_fixture(tmp_path / "real"))
    store = Store(tmp_path / "made", sync=False)
    build(store, FIXTURE_RECORDS)
    store.close()
    downgrade(tmp_path / "made")
    assert _tables(tmp_path / "made") == real


def test_other_formats_are_refused(tmp_path: Path) -> None:
    path = _unpack_fixture(tmp_path / "db")
    env = lmdb.open(str(path), max_dbs=16)
    with env.begin(write=True) as txn:
        txn.put(b"store/format", b"\x07", db=env.open_db(b"state", txn=txn))
    env.close()
    with pytest.raises(ChainError, match="format 7"):
        Store(path, sync=False)


_MIGRATE = (
    "from pathlib import Path; import sys; from zomehost.chain.store import Store; "
    "Store(Path(sys.argv[1]), progress=lambda m: print(m, flush=True)).close()"
)


def test_a_migration_killed_midway_resumes(tmp_path: Path) -> None:
    """kill -9 after the first batches, then again, then let it finish: the chains verify."""
    records = 12_000
    path = tmp_path / "db"
    store = Store(path, sync=False)
    build(store, records, per_commit=2000)
    store.close()
    downgrade(path)
    env = {**os.environ, "PYTHONPATH": str(REPO / "host")}
    for kill in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:  # progress lines: kill after some batches committed
            seen += "/" in line
            if seen == 2 + kill:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert _format(path) == 2  # not stamped before it is done
    done = subprocess.run(
        [sys.executable, "-c", _MIGRATE, str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    first_count = int(done.stdout.splitlines()[1].split("/")[0])
    assert first_count > 5000  # it resumed, not restarted
    _check_migrated(path, records)


def test_zomehost_chain_migrate_then_chain_verify(
    home_factory: Callable[[str], Path],
    zomehost_cli: Callable[..., subprocess.CompletedProcess[str]],
    probe_bundle: bytes,
) -> None:
    """A home with an app, taken back to format 2: `zomehost chain migrate` prints its
    progress, then `zomehost chain verify` passes and the app's writes are all there."""
    home = home_factory("migrate-home")
    conductor = Conductor.open(Home(home), PASSPHRASE)
    app = conductor.install_app(probe_bundle, "probe", None, None)
    cell = app.cell_id("main")
    for i in range(30):
        conductor.call_zome(ZomeCall(cell, "a", "create_entry", pack({"value": i}), app.agent))
    conductor.close()
    downgrade(home / "data")
    out = zomehost_cli(home, "chain", "migrate")
    assert out.returncode == 0, out.stderr
    assert "records" in out.stdout and f"is in format {FORMAT}" in out.stdout
    assert _format(home / "data") == FORMAT
    checked = zomehost_cli(home, "chain", "verify", "probe", "main")
    assert checked.returncode == 0 and "intact" in checked.stdout, checked.stderr
    shown = zomehost_cli(home, "chain", "probe", "main", "--entry-type", "probe", "--json")
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)) == 30
