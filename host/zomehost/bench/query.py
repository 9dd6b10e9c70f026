"""Source chains that scale: query latency as a chain grows, and concurrent relaxed writers.

* ``query_ms``: chains of 1k, 10k and 100k records (and 1M when its build is estimated to
  take a few minutes at most) with the same layout: ``post`` creates, and spread evenly
  along it 10 ``rare`` creates, 10 updates, 10 deletes and 10 creates of one repeated entry.
  For each filter, the median in-process latency of ``SourceChain.records`` (what the
  ``query`` host function reads), rounds interleaved over the chain lengths; and the same
  query through a zome call (``probe.query_chain``, entries included). Every filter returns
  10 records, whatever the length, except ``update_or_delete`` (20).
* ``query_100k_ms``: the slowest filter returning 10 records at 100k; ``query_growth_100k_
  over_1k``: the largest ratio of a filter's latency at 100k over 1k.
* ``relaxed_writers_*``, ``strict_writers_*``, ``relaxed_writers_clients_*``: concurrent
  writers on one cell (bench/writers.py), measured in this section.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zomehost.bench import writers
from zomehost.bench.harness import BenchConductor, quiet_gc, summary
from zomehost.chain.source_chain import SourceChain, Workspace
from zomehost.core.action import ActionType, Entry
from zomehost.core.clock import now_micros
from zomehost.core.codec import pack
from zomehost.core.hash import ActionHash, CellId, EntryHash
from zomehost.core.query import ChainQueryFilter

SPECIAL = 10  # records of each rare kind along a chain
_DUP = Entry("post", pack("the repeated entry"))


def _filters(length: int) -> dict[str, ChainQueryFilter]:
    rare = frozenset({"rare"})
    return {
        "entry_type": ChainQueryFilter(entry_type=rare),
        "action_type": ChainQueryFilter(action_type=frozenset({ActionType.UPDATE})),
        "update_or_delete": ChainQueryFilter(
            action_type=frozenset({ActionType.UPDATE, ActionType.DELETE})
        ),
        "entry_hashes": ChainQueryFilter(entry_hashes=frozenset({EntryHash(_DUP.hash.raw)})),
        "entry_and_action_type": ChainQueryFilter(
            entry_type=rare, action_type=frozenset({ActionType.CREATE})
        ),
        "last_10_by_sequence": ChainQueryFilter(sequence_range=(length - 10, length)),
        "entry_type_newest_first_with_entries": ChainQueryFilter(
            entry_type=rare, include_entries=True, descending=True
        ),
    }


def build_chain(bc: BenchConductor, cell_id: CellId, length: int, batch: int = 5000) -> None:
    """Append real signed records until the chain holds ``length``, with the rare records
    of the module doc spread evenly (at the same relative places whatever the length)."""
    c = bc.conductor
    chain = c.cell(cell_id).chain
    head = chain.head()
    seq = 0 if head is None else head.seq + 1
    gaps = {(k + 1) * length // (SPECIAL + 2) for k in range(SPECIAL)}
    last_post: list[ActionHash] = []
    while seq < length:
        ws = Workspace(chain, lambda d: c.sign(cell_id.agent, d))
        for _ in range(min(batch, length - seq)):
            now = now_micros()
            step = seq - max((g for g in gaps if g <= seq), default=-10)
            if step == 0:
                ws.create(Entry("rare", pack(seq)), now)
            elif step == 1 and last_post:
                ws.update(last_post.pop(), Entry("post", pack(seq)), now)
            elif step == 2 and last_post:
                ws.delete(last_post.pop(), now)
            elif step == 3:
                ws.create(_DUP, now)
            else:
                last_post.append(ws.create(Entry("post", pack(seq)), now).action_hash)
                if len(last_post) > 64:  # only the newest are ever updated or deleted
                    del last_post[:32]
            seq += 1
        ws.commit()


def measure_queries(
    lengths: tuple[int, ...] = (1_000, 10_000, 100_000),
    million: bool = True,
    rounds: int = 30,
    per_round: int = 10,
) -> dict[str, Any]:
    bc = BenchConductor.create(durable=False)  # the build's commit syncs are not measured
    try:
        chains: dict[int, SourceChain] = {}
        zome_calls: dict[int, Callable[[], Any]] = {}
        build_s: dict[int, float] = {}
        sizes = list(lengths)
        for length in sizes:
            app = bc.install(f"q{length}", [("probe", "probe")])
            cell_id = app.cell_id("main")
            bc.call_fn(f"q{length}", "probe", "echo", "init")()  # genesis and init first
            t0 = time.perf_counter()
            build_chain(bc, cell_id, length)
            build_s[length] = time.perf_counter() - t0
            chains[length] = bc.conductor.cell(cell_id).chain
            zome_calls[length] = bc.call_fn(
                f"q{length}",
                "probe",
                "query_chain",
                {"entry_type": ["rare"], "include_entries": True},
            )
        big = max(sizes)
        if million and build_s[big] * 1_000_000 / big <= 360:
            length = 1_000_000
            app = bc.install("q1m", [("probe", "probe")])
            bc.call_fn("q1m", "probe", "echo", "init")()
            t0 = time.perf_counter()
            build_chain(bc, app.cell_id("main"), length)
            build_s[length] = time.perf_counter() - t0
            chains[length] = bc.conductor.cell(app.cell_id("main")).chain
            zome_calls[length] = bc.call_fn(
                "q1m", "probe", "query_chain", {"entry_type": ["rare"], "include_entries": True}
            )
            sizes.append(length)
        names = list(_filters(1000))
        lat: dict[tuple[int, str], list[float]] = {(n, f): [] for n in sizes for f in names}
        lat.update({(n, "through_a_zome"): [] for n in sizes})
        found: dict[tuple[int, str], int] = {}
        clock = time.perf_counter
        with quiet_gc():
            for _ in range(rounds):
                for n in sizes:
                    chain = chains[n]
                    for name, flt in _filters(n).items():
                        for _ in range(per_round):
                            t0 = clock()
                            got = chain.records(flt)
                            lat[(n, name)].append(clock() - t0)
                        found[(n, name)] = len(got)
                    for _ in range(per_round):
                        t0 = clock()
                        zome_calls[n]()
                        lat[(n, "through_a_zome")].append(clock() - t0)
        table: dict[str, dict[str, Any]] = {}
        for name in [*names, "through_a_zome"]:
            table[name] = {
                str(n): {
                    "median_ms": statistics.median(lat[(n, name)]) * 1e3,
                    "p99_ms": summary([x * 1e3 for x in lat[(n, name)]])["p99"],
                    "records": found.get((n, name), SPECIAL),
                }
                for n in sizes
            }
        for name, per in table.items():
            for at_length, row in per.items():
                if row["records"] != (2 * SPECIAL if name == "update_or_delete" else SPECIAL):
                    raise AssertionError(f"{name} at {at_length} gave {row['records']} records")
        at = 100_000 if 100_000 in sizes else big
        tens = [f for f in table if f != "update_or_delete"]
        slowest = max(tens, key=lambda f: table[f][str(at)]["median_ms"])
        growth = {f: table[f][str(at)]["median_ms"] / table[f]["1000"]["median_ms"] for f in table}
        worst = max(growth, key=lambda f: growth[f])
        med = table[slowest][str(at)]["median_ms"]
        return {
            "query_ms": {
                "value": None,
                "unit": "ms",
                "table": table,
                "chain_build_s": {str(n): s for n, s in build_s.items()},
                "n_per_cell": rounds * per_round,
            },
            "query_100k_ms": {
                "median": med,
                "value": med,
                "unit": "ms",
                "filter": slowest,
                "p99": table[slowest][str(at)]["p99_ms"],
            },
            "query_growth_100k_over_1k": growth[worst],
            "query_growth_by_filter": {"value": None, "ratios": growth, "largest": worst},
        }
    finally:
        bc.close()


def plot(results: dict[str, Any], path: Path) -> None:
    """Query latency against chain length, one line per filter (log-log), into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = results["query_ms"]["table"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, per in table.items():
        xs = sorted(int(n) for n in per)
        ax.plot(xs, [per[str(x)]["median_ms"] for x in xs], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("records on the chain")
    ax.set_ylabel("median latency (ms)")
    w = results.get("relaxed_writers_calls_per_s") or {}
    ax.set_title(
        "zomehost query latency by chain length (10 records returned)\n"
        f"4 relaxed writers on one cell: {w.get('value', 0):,.0f} calls/s, "
        f"{results.get('relaxed_writers_failed_calls', '?')} failed"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def measure(quick: bool = False, plot_to: Path | None = None) -> dict[str, Any]:
    out = measure_queries(
        lengths=(1_000, 10_000) if quick else (1_000, 10_000, 100_000),
        million=not quick,
        rounds=5 if quick else 30,
    )
    out.update(writers.measure(seconds=2.0 if quick else 6.0))
    if plot_to is not None:
        plot(out, plot_to)
    return out


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(measure(quick=True), indent=2, default=str))
