"""Format 2 chain stores for the migration tests.

``build`` writes deterministic chains (fixed keys and timestamps; Ed25519 signs
deterministically) through the Store/Workspace API that format 2 and format 3 share: run
under the format 2 code it made ``fixtures/format2.tar.gz`` (``python -m
tests.chain.format2 OUT_DIR`` with that code on PYTHONPATH). ``downgrade`` turns a format 3
store into format 2's layout, for chains too long to keep as a fixture; a test checks that a
downgraded store equals the real format 2 fixture table by table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lmdb
import nacl.signing

from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry
from zomehost.core.codec import pack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash

CELLS = 2


def agent_key(i: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([i + 1]) * 32)


def cell_of(i: int) -> CellId:
    key = agent_key(i)
    return CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(key.verify_key)))


def build(store: Store, records: int, *, per_commit: int = 50) -> None:
    """``records`` records on each of :data:`CELLS` chains: creates of repeating entries of
    two types, every 7th an update, every 11th a delete."""
    for i in range(CELLS):
        key = agent_key(i)
        chain = SourceChain(store, cell_of(i))
        live: list[ActionHash] = []
        n, t = 0, 1_000_000
        while n < records:
            ws = Workspace(chain, lambda d, k=key: bytes(k.sign(d).signature))
            if ws.base is None:
                ws.append(ActionType.DNA, t, dna_hash=chain.cell.dna_hash)
                n += 1
            for _ in range(min(per_commit, records - n)):
                t += 1
                entry = Entry("post" if n % 3 else "comment", pack(n % 97))
                if n % 7 == 6 and live:
                    live.append(ws.update(live[-1], entry, t).action_hash)
                elif n % 11 == 10 and live:
                    ws.delete(live.pop(0), t)
                else:
                    live.append(ws.create(entry, t).action_hash)
                n += 1
            ws.commit()


def downgrade(path: Path) -> None:
    """Rewrite a format 3 store at ``path`` in format 2's layout (which it was written in)."""
    env = lmdb.open(str(path), max_dbs=16, map_size=1 << 34)
    by_hash, state = env.open_db(b"by_hash"), env.open_db(b"state")
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"by_type", txn=txn), delete=True)
        for newer in (b"schedules", b"schedule_due"):  # newer than format 2 too
            txn.drop(env.open_db(newer, txn=txn), delete=True)
        cur = txn.cursor(db=by_hash)
        first: dict[bytes, bytes] = {}
        if cur.set_range(b"e"):
            while cur.key().startswith(b"e"):
                key = bytes(cur.key())
                first.setdefault(key[:-8], key[-8:])  # keys in order: lowest seq first
                cur.delete()
        for old_key, seq in first.items():
            txn.put(old_key, seq, db=by_hash)
        txn.put(b"store/format", pack(2), db=state)
    env.close()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    s = Store(out, sync=False)
    build(s, 300)
    s.close()
