"""The `call` host function: inter-zome calls (one workspace, atomic), bridge calls between
roles and between apps of one agent, chain locking, crossed calls, and the depth limit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from zomehost.core.codec import unpack
from zomehost.errors import ChainLocked, GuestError, LimitExceeded, Timeout, ZomehostError

LOCAL = {"Local": None}


def call_other(app: Any, target: Any, zome: str, fn: str, payload: Any = None, **kw: Any) -> Any:
    return app.call(
        "a",
        "call_other",
        {"target": target, "zome_name": zome, "fn_name": fn, "payload": payload},
        **kw,
    )


def probe_values(app: Any, role: str = "main") -> list[Any]:
    return [unpack(r.entry.content) for r in app.records(role, entry_type=["probe"])]


# -- inter-zome calls ---------------------------------------------------------------------


def test_inter_zome_call_reaches_the_other_zome(alice: Any, decode_response: Any) -> None:
    variant, info = decode_response(call_other(alice, LOCAL, "b", "zome"))
    assert variant == "Ok"
    assert info["name"] == "b" and info["id"] == 1
    variant, info = decode_response(call_other(alice, LOCAL, "b", "caller"))
    assert info["zome_name"] == "b"
    assert info["function_name"] == "caller"
    assert info["provenance"] == alice.agent.raw
    assert info["cap_grant"] == {"ChainAuthor": alice.agent.raw}


def test_inter_zome_call_to_a_missing_function_is_a_call_error_value(
    alice: Any, decode_response: Any
) -> None:
    variant, body = decode_response(call_other(alice, LOCAL, "b", "no_such_fn"))
    assert variant == "CallError"
    assert "no_such_fn" in body


def test_caller_and_callee_writes_commit_together(alice: Any, decode_response: Any) -> None:
    before = alice.head_seq()
    variant, callee_hash = decode_response(
        alice.call(
            "a",
            "create_and_call",
            {
                "value": "caller",
                "zome_name": "b",
                "fn_name": "create_entry",
                "payload": {"value": "callee"},
            },
        )
    )
    assert variant == "Ok"
    records = alice.records()
    assert len(records) == before + 3
    assert [unpack(r.entry.content) for r in records[-2:]] == ["caller", "callee"]
    assert records[-1].action_hash.raw == callee_hash
    # One commit: both records share the call's starting head as the base of one workspace.
    assert records[-1].action.prev_action == records[-2].action_hash


def test_a_failing_callee_loses_its_writes_and_the_caller_goes_on(
    alice: Any, decode_response: Any
) -> None:
    variant, body = decode_response(
        alice.call(
            "a",
            "create_and_call",
            {
                "value": "caller",
                "zome_name": "b",
                "fn_name": "create_then_fail",
                "payload": "callee",
            },
        )
    )
    assert variant == "CallError"
    assert "deliberate failure" in body
    assert probe_values(alice) == ["caller"]


def test_a_panicking_callee_loses_its_writes_and_the_caller_goes_on(
    alice: Any, decode_response: Any
) -> None:
    variant, _ = decode_response(
        alice.call(
            "a",
            "create_and_call",
            {"value": "caller", "zome_name": "b", "fn_name": "create_then_panic", "payload": "x"},
        )
    )
    assert variant == "CallError"
    assert probe_values(alice) == ["caller"]


def _nested_create_then_random(n: int) -> dict[str, Any]:
    """a.call_other → b.create_and_call (writes) → a.random(n): the outermost result is the
    largest, a few bytes more than the callee's."""
    return {
        "target": LOCAL,
        "zome_name": "b",
        "fn_name": "create_and_call",
        "payload": {
            "value": f"callee wrote {n}",
            "zome_name": "a",
            "fn_name": "random",
            "payload": n,
        },
    }


def test_a_caller_failing_after_its_callee_wrote_commits_nothing(
    node_factory: Any, probe_bundle: bytes
) -> None:
    limit = 1024
    node = node_factory("small-output", limits={"max_output_bytes": limit})
    app = node.install(probe_bundle, "x")
    app.call("a", "echo", "init")
    failed_at = None
    for n in range(limit - 40, limit):
        before = [r.action_hash for r in app.records()]
        try:
            app.call("a", "call_other", _nested_create_then_random(n))
        except LimitExceeded as exc:
            # The first size that fails is the outermost result: the callee had succeeded.
            assert "call_other returned" in exc.message, exc.message
            assert [r.action_hash for r in app.records()] == before
            failed_at = n
            break
        assert probe_values(app)[-1] == f"callee wrote {n}"  # it did commit when it fit
    assert failed_at is not None
    assert f"callee wrote {failed_at}" not in probe_values(app)


def test_a_timeout_deep_in_the_call_tree_discards_every_write(alice: Any) -> None:
    before = [r.action_hash for r in alice.records()]
    with pytest.raises(Timeout):
        alice.call(
            "a",
            "call_other",
            {
                "target": LOCAL,
                "zome_name": "b",
                "fn_name": "create_and_call",
                "payload": {"value": "b wrote", "zome_name": "a", "fn_name": "spin"},
            },
            timeout_ms=300,
        )
    assert [r.action_hash for r in alice.records()] == before


# -- depth limit ---------------------------------------------------------------------------


def nest(levels: int, target: Any = LOCAL, innermost: tuple[str, Any] = ("echo", "bottom")) -> Any:
    """A call_other payload that makes the zome call itself ``levels`` more times."""
    fn, payload = innermost
    p: dict[str, Any] = {"target": target, "zome_name": "a", "fn_name": fn, "payload": payload}
    for _ in range(levels):
        p = {"target": target, "zome_name": "a", "fn_name": "call_other", "payload": p}
    return p


def test_recursion_within_the_depth_limit_works(alice: Any, decode_response: Any) -> None:
    value = alice.call("a", "call_other", nest(15))
    for _ in range(16):
        variant, value = decode_response(value)
        assert variant == "Ok"
    assert value == "bottom"


def test_runaway_recursion_fails_with_a_call_depth_error_and_writes_nothing(alice: Any) -> None:
    before = [r.action_hash for r in alice.records()]
    with pytest.raises(LimitExceeded, match="call depth") as info:
        alice.call("a", "call_other", nest(16, innermost=("create_entry", {"value": "deep"})))
    assert "16" in info.value.message
    with pytest.raises(LimitExceeded, match="call depth"):
        alice.call("a", "call_other", nest(200))
    assert [r.action_hash for r in alice.records()] == before
    assert alice.call("a", "echo", "fine") == "fine"


def test_runaway_bridge_recursion_fails_with_a_call_depth_error(
    node: Any, two_role_bundle: bytes
) -> None:
    duo = node.install(two_role_bundle, "duo")
    with pytest.raises(LimitExceeded, match="call depth"):
        duo.call("a", "call_other", nest(40, target={"Role": "r1"}), role="r1")


# -- bridge calls ----------------------------------------------------------------------------


@pytest.fixture
def duo(node: Any, two_role_bundle: bytes) -> Any:
    app = node.install(two_role_bundle, "duo")
    app.call("a", "echo", "init", role="r1")
    app.call("a", "echo", "init", role="r2")
    return app


def test_bridge_call_to_another_role(duo: Any, decode_response: Any) -> None:
    assert duo.cell_id("r1") != duo.cell_id("r2")
    variant, h = decode_response(
        duo.call(
            "a",
            "call_other",
            {
                "target": {"Role": "r2"},
                "zome_name": "b",
                "fn_name": "create_entry",
                "payload": {"value": "bridged"},
            },
            role="r1",
        )
    )
    assert variant == "Ok"
    assert probe_values(duo, "r2") == ["bridged"]
    assert probe_values(duo, "r1") == []
    assert duo.records("r2")[-1].action_hash.raw == h

    variant, dna = decode_response(
        duo.call(
            "a",
            "call_other",
            {"target": {"Role": "r2"}, "zome_name": "a", "fn_name": "dna"},
            role="r1",
        )
    )
    assert dna["hash"] == duo.cell_id("r2").dna_hash.raw
    variant, info = decode_response(
        duo.call(
            "a",
            "call_other",
            {"target": {"Role": "r2"}, "zome_name": "a", "fn_name": "caller"},
            role="r1",
        )
    )
    assert info["provenance"] == duo.agent.raw
    assert info["cap_grant"] == {"ChainAuthor": duo.agent.raw}


def test_bridge_call_to_an_unknown_role_is_an_error(duo: Any) -> None:
    with pytest.raises(GuestError, match="nope"):
        duo.call(
            "a",
            "call_other",
            {"target": {"Role": "nope"}, "zome_name": "a", "fn_name": "dna"},
            role="r1",
        )


def test_another_app_sharing_the_agent_key_is_not_its_author(
    node: Any, probe_bundle: bytes, decode_response: Any
) -> None:
    """Issue 13.4 (Holochain #5786's class): a shared agent key grants no author capability
    across apps; the other app's chain, keys and grants stay out of reach."""
    victim = node.install(probe_bundle, "victim")
    rogue = node.install(probe_bundle, "rogue", agent=victim.agent, network_seed="elsewhere")
    target = {"Cell": [victim.cell_id().dna_hash.raw, victim.agent.raw]}
    victim.call("a", "caller")  # initialised, so its chain only grows by what others write
    before = len(victim.records())

    variant, info = decode_response(
        call_other(rogue, target, "a", "create_entry", {"value": "forged"})
    )
    assert variant == "Unauthorized"
    assert info["fn_name"] == "create_entry"
    assert info["provenance"] == victim.agent.raw
    assert len(victim.records()) == before
    assert probe_values(victim) == []
    # An unrestricted grant on the victim's cell is what lets another app in, like anyone.
    victim.call("a", "make_grant", {"tag": "open", "access": "Unrestricted", "functions": "All"})
    variant, info = decode_response(call_other(rogue, target, "a", "caller"))
    assert variant == "Ok"
    assert info["cap_grant"]["RemoteAgent"]["tag"] == "open"  # by the grant, not as author


def test_bridge_call_between_two_linked_apps_of_one_agent(
    node: Any, probe_bundle: bytes, decode_response: Any
) -> None:
    one = node.install(probe_bundle, "one")
    two = node.install(probe_bundle, "two", agent=one.agent, network_seed="a-different-network")
    linked = node.install(
        probe_bundle,
        "linked",
        agent=one.agent,
        network_seed="a-third-network",
        linked_apps=frozenset({"two"}),
    )
    assert two.agent == one.agent
    assert two.cell_id().dna_hash != one.cell_id().dna_hash
    target = {"Cell": [two.cell_id().dna_hash.raw, one.agent.raw]}

    variant, info = decode_response(call_other(linked, target, "b", "caller"))
    assert variant == "Ok"
    assert info["provenance"] == one.agent.raw
    assert info["zome_name"] == "b"
    assert info["cap_grant"] == {"ChainAuthor": one.agent.raw}  # linked at install: no grant

    variant, h = decode_response(
        call_other(linked, target, "a", "create_entry", {"value": "into two"})
    )
    assert variant == "Ok"
    assert probe_values(two) == ["into two"]
    assert probe_values(linked) == []
    assert two.records()[-1].action_hash.raw == h
    variant, dna = decode_response(call_other(linked, target, "a", "dna"))
    assert dna["network_seed"] == "a-different-network"
    # The link goes one way: `two` does not act as the author of `linked`.
    back = {"Cell": [linked.cell_id().dna_hash.raw, one.agent.raw]}
    assert decode_response(call_other(two, back, "b", "caller"))[0] == "Unauthorized"


def test_crossed_bridge_calls_from_two_threads_finish(duo: Any) -> None:
    rounds = 12
    errors: list[BaseException] = []

    def run(src: str, dst: str) -> None:
        try:
            for i in range(rounds):
                duo.call(
                    "a",
                    "call_other",
                    {
                        "target": {"Role": dst},
                        "zome_name": "a",
                        "fn_name": "create_entry",
                        "payload": {"value": f"{src}->{dst} {i}"},
                    },
                    role=src,
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("r1", "r2"), daemon=True),
        threading.Thread(target=run, args=("r2", "r1"), daemon=True),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "crossed bridge calls deadlocked"
    assert errors == []
    assert sorted(probe_values(duo, "r2")) == sorted(f"r1->r2 {i}" for i in range(rounds))
    assert sorted(probe_values(duo, "r1")) == sorted(f"r2->r1 {i}" for i in range(rounds))
    for role in ("r1", "r2"):
        assert duo.node.conductor.cell(duo.cell_id(role)).chain.verify() == 4 + rounds


class _DuringTrace(logging.Handler):
    """Runs ``action`` (in the guest call's own thread) when a zome traces ``marker``."""

    def __init__(self, marker: str, action: Any) -> None:
        super().__init__(logging.DEBUG)
        self.marker, self.action = marker, action

    def emit(self, record: logging.LogRecord) -> None:
        if self.marker in record.getMessage():
            self.action()


@pytest.fixture
def during_trace() -> Iterator[Any]:
    logger = logging.getLogger("zomehost.zome")
    old_level = logger.level
    handlers: list[logging.Handler] = []

    def install(marker: str, action: Any) -> None:
        h = _DuringTrace(marker, action)
        handlers.append(h)
        logger.addHandler(h)

    logger.setLevel(logging.DEBUG)
    yield install
    for h in handlers:
        logger.removeHandler(h)
    logger.setLevel(old_level)


def test_a_bridge_call_locks_both_chains_while_it_runs(duo: Any, during_trace: Any) -> None:
    """Docs: while a bridge call runs, other commits to either chain wait up to their own
    deadline, then fail with ChainLocked; reads are not blocked."""
    outcomes: dict[str, Any] = {}

    def other_calls() -> None:
        def attempt(name: str, role: str, fn: str, payload: Any) -> None:
            try:
                outcomes[name] = duo.call("a", fn, payload, role=role, timeout_ms=1000)
            except ZomehostError as exc:
                outcomes[name] = exc

        threads = [
            threading.Thread(
                target=attempt, args=("write r1", "r1", "create_entry", {"value": "w1"})
            ),
            threading.Thread(
                target=attempt, args=("write r2", "r2", "create_entry", {"value": "w2"})
            ),
            threading.Thread(target=attempt, args=("read r1", "r1", "echo", "read")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)

    during_trace("BRIDGE-IN-PROGRESS", other_calls)
    duo.call(
        "a",
        "call_other",
        {
            "target": {"Role": "r2"},
            "zome_name": "a",
            "fn_name": "log",
            "payload": "BRIDGE-IN-PROGRESS",
        },
        role="r1",
    )
    assert isinstance(outcomes["write r1"], ChainLocked), outcomes["write r1"]
    assert isinstance(outcomes["write r2"], ChainLocked), outcomes["write r2"]
    assert outcomes["read r1"] == "read"
    assert probe_values(duo, "r1") == [] and probe_values(duo, "r2") == []
    # Once the bridge call returned, the same writes go through.
    duo.call("a", "create_entry", {"value": "w1"}, role="r1")
    duo.call("a", "create_entry", {"value": "w2"}, role="r2")
    assert probe_values(duo, "r1") == ["w1"] and probe_values(duo, "r2") == ["w2"]


def test_relaxed_writers_never_slip_into_a_bridge_calls_chains(duo: Any, during_trace: Any) -> None:
    """Relaxed commits share the chain lock with each other, not with a bridge call: while
    a bridge call r1 -> r2 runs, writers streaming relaxed writes into both chains commit
    nothing (the heads stay put), then go on once it returns, none of them failing."""
    conductor = duo.node.conductor
    chains = [conductor.cell(duo.cell_id(role)).chain for role in ("r1", "r2")]
    stop = threading.Event()
    written = [0, 0]
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        role = ("r1", "r2")[k % 2]
        i = 0
        while not stop.is_set():
            try:
                duo.call("a", "create_entry", {"value": f"{k}-{i}", "relaxed": True}, role=role)
            except BaseException as exc:  # reported below
                errors.append(exc)
                return
            written[k % 2] += 1
            i += 1

    heads: list[list[Any]] = []

    def sample_heads_while_bridged() -> None:  # in the callee, both chains locked
        for _ in range(5):
            heads.append([c.head() for c in chains])
            time.sleep(0.08)

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    while min(written) < 5:  # both chains are being written
        time.sleep(0.01)
    during_trace("BRIDGE-HOLDS-BOTH", sample_heads_while_bridged)
    call_other(duo, {"Role": "r2"}, "a", "log", "BRIDGE-HOLDS-BOTH", role="r1")
    after_bridge = list(written)
    while min(w - a for w, a in zip(written, after_bridge, strict=True)) < 5:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(heads) == 5 and all(h == heads[0] for h in heads), "a commit slipped in"
    for chain in chains:
        assert chain.verify() > 5


# -- more call paths -------------------------------------------------------------------------


def test_signals_from_an_inter_zome_callee_are_delivered(alice: Any) -> None:
    got: list[Any] = []
    alice.node.conductor.add_signal_listener(got.append)
    call_other(alice, LOCAL, "b", "signal", {"from": "callee"})
    assert [(s.zome_name, unpack(s.payload)) for s in got] == [("b", {"from": "callee"})]


def test_a_bridge_call_runs_the_callees_init_first(node: Any, two_role_bundle: bytes) -> None:
    duo = node.install(two_role_bundle, "fresh-duo")
    assert "InitZomesComplete" not in duo.action_types("r2")
    duo.call(
        "a",
        "call_other",
        {"target": {"Role": "r2"}, "zome_name": "a", "fn_name": "echo", "payload": "x"},
        role="r1",
    )
    assert duo.action_types("r2").count("InitZomesComplete") == 1
    assert duo.action_types("r1").count("InitZomesComplete") == 1


def test_a_bridge_call_into_a_cell_whose_init_fails_is_a_call_error_value(
    node: Any, app_bundle: Any, decode_response: Any
) -> None:
    mixed = node.install(
        app_bundle({"ok": [("a", "probe")], "bad": [("bad", "bad_init")]}), "mixed"
    )
    variant, body = decode_response(
        mixed.call(
            "a",
            "call_other",
            {"target": {"Role": "bad"}, "zome_name": "bad", "fn_name": "hello"},
            role="ok",
        )
    )
    assert variant == "CallError"
    assert "init refused by zome" in body
    assert mixed.action_types("bad") == ["Dna", "AgentValidationPkg", "Create"]
    assert mixed.call("a", "echo", "caller unaffected", role="ok") == "caller unaffected"


def test_call_remote_to_an_agent_nowhere_is_a_prompt_network_error(
    alice: Any, node: Any, decode_response: Any
) -> None:
    nowhere = node.conductor.generate_agent()  # a key, but no cell on this conductor
    variant, body = decode_response(
        alice.call(
            "a",
            "call_remote_fn",
            {
                "agent": nowhere.raw,
                "zome_name": "a",
                "fn_name": "echo",
                "payload": "x",
                "timeout_ms": 5000,
            },
        )
    )
    assert variant == "NetworkError"
    assert str(nowhere) in body


def test_a_moved_chain_head_is_detected_not_forked(alice: Any, during_trace: Any) -> None:
    """Another call commits to the same chain while a call runs: the running call's commit
    fails with HeadMoved, nothing of it is written, and the chain stays one valid line."""
    intruder: dict[str, Any] = {}

    def commit_meanwhile() -> None:
        t = threading.Thread(
            target=lambda: intruder.setdefault(
                "hash", alice.call("b", "create_entry", {"value": "intruder"})
            )
        )
        t.start()
        t.join(timeout=10)

    during_trace("MOVE-THE-HEAD", commit_meanwhile)
    with pytest.raises(ZomehostError) as info:
        alice.call(
            "a",
            "create_and_call",
            {"value": "loser", "zome_name": "b", "fn_name": "log", "payload": "MOVE-THE-HEAD"},
        )
    assert info.value.kind == "HeadMoved"
    assert probe_values(alice) == ["intruder"]
    assert alice.records()[-1].action_hash.raw == intruder["hash"]
    assert alice.node.conductor.cell(alice.cell_id()).chain.verify() == len(alice.records())
