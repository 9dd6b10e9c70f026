"""The query index answers exactly what a full scan of the chain answers.

Property-based: any sequence of creates, updates, deletes (strict or relaxed), commits in
several calls, relaxed calls rebased onto a head that moved under them, and batches of calls
from one head committed in one group (a combiner's, ``commit_all``), then any
filter (entry types, action types, entry hashes, a sequence range, entries or not, either
order): the indexed query, the query of a call's workspace (with its pending writes) and a
scan that decodes every record agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zomehost.chain.source_chain import SourceChain, Workspace, commit_all
from zomehost.chain.store import Store
from zomehost.core.action import ActionType, Entry, Record
from zomehost.core.codec import pack
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash, EntryHash
from zomehost.core.query import ChainQueryFilter
from zomehost.errors import HeadMoved, InvalidInput, NotFound

KEY = nacl.signing.SigningKey(b"\x07" * 32)
CELL = CellId(DnaHash.of_content(b"dna"), AgentPubKey.from_core(bytes(KEY.verify_key)))
TYPES = ("post", "comment", "like")


def _sign(data: bytes) -> bytes:
    return bytes(KEY.sign(data).signature)


# one write: (kind, entry type index, value, which live record it targets, relaxed)
write_st = st.tuples(
    st.sampled_from(["create", "create", "update", "delete"]),
    st.integers(0, len(TYPES) - 1),
    st.integers(0, 5),
    st.integers(0, 1000),
    st.booleans(),
)
# one step: a call of some writes, a bulk call (crosses the hash index batches), or two
# relaxed calls from the same head (the second is rebased at commit)
step_st = st.one_of(
    st.tuples(st.just("call"), st.lists(write_st, min_size=1, max_size=6)),
    st.tuples(st.just("bulk"), st.integers(1, 300)),
    # a combiner's batch: calls from one head, committed in one group (commit_all)
    st.tuples(
        st.just("batch"),
        st.lists(st.lists(write_st, min_size=1, max_size=3), min_size=2, max_size=4),
    ),
    st.tuples(
        st.just("race"),
        st.lists(write_st, min_size=1, max_size=4),
        st.lists(write_st, min_size=1, max_size=4),
    ),
)


def _apply(ws: Workspace, writes: list[tuple[str, int, int, int, bool]], live: list[ActionHash]):
    """Make ``writes`` in ``ws``; returns the hashes it made live (to add after commit)."""
    made: list[ActionHash] = []
    pool = live + made
    for kind, t, value, target, relaxed in writes:
        entry = Entry(TYPES[t], pack(value))
        pool = live + made
        if kind == "update" and pool:
            made.append(ws.update(pool[target % len(pool)], entry, 10, relaxed=relaxed).action_hash)
        elif kind == "delete" and pool:
            ws.delete(pool[target % len(pool)], 10, relaxed=True)
        else:
            made.append(ws.create(entry, 10, relaxed=relaxed).action_hash)
    return made


def _committed_hashes(records: list[Record]) -> list[ActionHash]:
    return [r.action_hash for r in records if r.action.type is not ActionType.DELETE]


def _scan(chain: SourceChain, flt: ChainQueryFilter) -> list[ActionHash]:
    lo, hi = flt.sequence_range or (0, 1 << 62)
    out = [
        r.action_hash
        for r in chain.records(ChainQueryFilter(include_entries=True))
        if lo <= r.action.action_seq < hi and flt.matches(r)
    ]
    return out[::-1] if flt.descending else out


filter_st = st.fixed_dictionaries(
    {
        "entry_type": st.none() | st.sets(st.sampled_from((*TYPES, "never")), max_size=3),
        "action_type": st.none() | st.sets(st.sampled_from(list(ActionType)), max_size=3),
        "values": st.none() | st.sets(st.integers(0, 7), max_size=3),  # 6, 7: never written
        "range": st.none() | st.tuples(st.integers(0, 700), st.integers(0, 700)),
        "include_entries": st.booleans(),
        "descending": st.booleans(),
    }
)


def _filter(d: dict, chain_types: tuple[str, ...] = TYPES) -> ChainQueryFilter:
    hashes = None
    if d["values"] is not None:
        hashes = frozenset(Entry(t, pack(v)).hash for v in d["values"] for t in chain_types)
    et = frozenset(d["entry_type"]) if d["entry_type"] is not None else None
    at = frozenset(d["action_type"]) if d["action_type"] is not None else None
    return ChainQueryFilter(
        sequence_range=d["range"],
        entry_type=et,
        action_type=at,
        include_entries=d["include_entries"],
        descending=d["descending"],
        entry_hashes=hashes,
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step_st, min_size=1, max_size=8), filters=st.lists(filter_st, max_size=8))
def test_indexed_query_equals_a_full_scan(steps: list, filters: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d), sync=False)
        try:
            chain = SourceChain(store, CELL)
            ws = Workspace(chain, _sign)
            ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
            ws.commit()
            live: list[ActionHash] = []
            for step in steps:
                if step[0] == "call":
                    ws = Workspace(chain, _sign)
                    _apply(ws, step[1], live)
                    live += _committed_hashes(ws.commit())
                elif step[0] == "bulk":
                    ws = Workspace(chain, _sign)
                    for i in range(step[1]):
                        ws.create(Entry(TYPES[i % 3], pack(i % 6)), 10)
                    live += _committed_hashes(ws.commit())
                elif step[0] == "batch":
                    calls = [Workspace(chain, _sign) for _ in step[1]]
                    for w, writes in zip(calls, step[1], strict=True):
                        _apply(w, writes, live)
                    strict = [bool(w.strict_writes) for w in calls]
                    outcomes = commit_all(calls)
                    for k, outcome in enumerate(outcomes):
                        if k and strict[k]:  # made on a head the calls before it moved
                            assert isinstance(outcome, HeadMoved), outcome
                        else:  # the first, or relaxed: rebased onto the ones before it
                            assert isinstance(outcome, list), outcome
                            live += _committed_hashes(outcome)
                else:  # two calls from one head; the second commits after the first
                    first, second = Workspace(chain, _sign), Workspace(chain, _sign)
                    _apply(first, step[1], live)
                    _apply(second, [(k, t, v, g, True) for k, t, v, g, _ in step[2]], live)
                    live += _committed_hashes(first.commit())
                    live += _committed_hashes(second.commit())  # rebased: every write relaxed
            chain.verify()
            for r in chain.records():  # rebased references follow their targets' new hashes
                for ref in (r.action.original_action_address, r.action.deletes_address):
                    if ref is not None:
                        target = chain.get(ref)
                        assert target is not None and target.action.action_seq < r.action.action_seq
            # a call with pending writes sees them through the same filters
            pending = Workspace(chain, _sign)
            _apply(pending, [("create", 0, 1, 0, False), ("update", 1, 2, 0, False)], live)
            fresh = SourceChain(store, CELL)  # no cached hashes
            for d_flt in filters + [{**f, "values": {1, 2}} for f in filters[:2]]:
                flt = _filter(d_flt)
                want = _scan(chain, flt)
                got = chain.records(flt)
                assert [r.action_hash for r in got] == want
                assert [r.action_hash for r in fresh.records(flt)] == want
                assert all(
                    (r.entry is not None)
                    == (flt.include_entries and r.action.entry_hash is not None)
                    for r in got
                )
                lo, hi = flt.sequence_range or (0, 1 << 62)
                extra = [
                    r.action_hash
                    for r in pending.pending
                    if lo <= r.action.action_seq < hi and flt.matches(r)
                ]
                asc = [
                    r.action_hash
                    for r in chain.records(
                        ChainQueryFilter(
                            flt.sequence_range,
                            flt.entry_type,
                            flt.action_type,
                            entry_hashes=flt.entry_hashes,
                        )
                    )
                ] + extra
                assert [r.action_hash for r in pending.query(flt)] == (
                    asc[::-1] if flt.descending else asc
                )
            for first_action in ActionType:
                scan = [r for r in chain.records() if r.action.type is first_action]
                found = chain.first(first_action)
                assert (found.action_hash if found else None) == (
                    scan[0].action_hash if scan else None
                )
        finally:
            store.close()


def test_entry_hash_filter_finds_every_writer_across_the_hash_index(tmp_path: Path) -> None:
    """An entry written many times, before and after the deferred hash index catches up:
    every record that wrote it, in order, and get() still returns the first."""
    store = Store(tmp_path / "db", sync=False)
    chain = SourceChain(store, CELL)
    ws = Workspace(chain, _sign)
    ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
    written = []
    for i in range(700):
        ws.create(Entry("post", pack(i % 10)), 10)
        if i % 97 == 96:
            written += ws.commit()
    written += ws.commit()
    target = EntryHash(Entry("post", pack(3)).hash.raw)
    want = [r.action_hash for r in written if r.action.entry_hash == target]
    got = chain.records(ChainQueryFilter(entry_hashes=frozenset({target})))
    assert [r.action_hash for r in got] == want and len(want) == 70
    first = chain.get(target)
    assert first is not None and first.action_hash == want[0]
    store.close()


def test_hash_bounded_ranges(tmp_path: Path) -> None:
    """The HDK's ActionHashRange and ActionHashTerminated, on stored and pending records."""
    store = Store(tmp_path / "db", sync=False)
    chain = SourceChain(store, CELL)
    ws = Workspace(chain, _sign)
    ws.append(ActionType.DNA, 1, dna_hash=CELL.dna_hash)
    made = [ws.create(Entry("post", pack(i)), 10) for i in range(20)]
    ws.commit()
    h = [r.action_hash for r in made]  # seqs 1..20

    def seqs(rng: object, reader: SourceChain | Workspace = chain) -> list[int]:
        flt = ChainQueryFilter.from_wire({"sequence_range": rng})
        return (
            [r.action.action_seq for r in reader.query(flt)]
            if isinstance(reader, Workspace)
            else [r.action.action_seq for r in reader.records(flt)]
        )

    assert seqs({"ActionHashRange": [h[2].raw, h[5].raw]}) == [3, 4, 5, 6]
    assert seqs({"ActionHashTerminated": [h[5].raw, 2]}) == [4, 5, 6]
    assert seqs({"ActionHashTerminated": [h[1].raw, 50]}) == [0, 1, 2]
    pending = Workspace(chain, _sign)
    late = pending.create(Entry("post", pack("new")), 11)
    assert seqs({"ActionHashRange": [h[18].raw, late.action_hash.raw]}, pending) == [19, 20, 21]
    with pytest.raises(NotFound):  # not on this chain (yet)
        seqs({"ActionHashTerminated": [late.action_hash.raw, 1]})
    with pytest.raises(InvalidInput):
        seqs({"ActionHashRange": [h[5].raw, h[2].raw]})
    for bad in (
        {"ActionHashRange": [h[1].raw]},
        {"ActionHashTerminated": [h[1].raw, -1]},
        {"ActionHashTerminated": [h[1].raw, True]},
        {"ActionSeqRange": [1, 2]},
        {"ActionHashRange": [b"x", h[1].raw]},
        {"ActionHashRange": [h[1].raw, h[2].raw], "ActionHashTerminated": [h[1].raw, 1]},
    ):
        with pytest.raises(InvalidInput):
            ChainQueryFilter.from_wire({"sequence_range": bad})
    store.close()
