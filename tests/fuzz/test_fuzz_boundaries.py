"""Fuzz the boundaries issue 14 added targets for, through the same byte-level targets the
long atheris runs use (``zomehost.fuzz.long``): module cache files, Noise message 3, the
bootstrap service's HTTP (both sides), keystore files, conductor-config.yaml, manifests as
YAML, peer request and answer bodies, one-way message bodies, and the WebSocket upgrade with
its Origin check. Inputs are the committed seed corpus, damaged, plus arbitrary bytes."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zomehost.fuzz import seeds
from zomehost.fuzz import targets as t
from zomehost.fuzz.long import CORPUS, byte_targets

from .conftest import budget, count
from .strategies import _apply

TARGETS = byte_targets()
SEEDS = {name: sorted(p.read_bytes() for p in (CORPUS / name).iterdir()) for name in TARGETS}
BUDGETS = {
    "guest-abi": 200,
    "module-cache": 150,
    "handshake-message-3": 300,
    "bootstrap-request": 400,
    "bootstrap-response": 400,
    "keystore": 200,
    "conductor-config": 150,
    "manifest-yaml": 300,
    "peer-request-body": 200,
    "peer-answer": 200,
    "one-way-body": 200,
    "websocket-upgrade": 300,
}
edits = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 1 << 16), st.integers(0, 255)),
    min_size=0,
    max_size=4,
)


def test_every_long_target_has_a_committed_seed_corpus() -> None:
    """The committed corpus is what ``python -m zomehost.fuzz.seeds`` writes (no stale
    targets, none missing), and every seed runs through its target cleanly."""
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(TARGETS)
    assert set(seeds.seeds()) == set(TARGETS)
    for name, fn in TARGETS.items():
        assert SEEDS[name], f"{name} has no seeds"
        for data in SEEDS[name]:
            with contextlib.suppress(t.Expected):
                fn(data)


def run(name: str, data: bytes) -> None:
    try:
        TARGETS[name](data)
    except t.Expected:
        count(name, expected=True)
        return
    count(name)


def fuzz(name: str) -> None:
    @budget(BUDGETS[name])
    @given(
        st.one_of(
            st.builds(_apply, st.sampled_from(SEEDS[name]), edits),
            st.binary(max_size=400),
        )
    )
    def check(data: bytes) -> None:
        run(name, data)

    check()


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_boundary(name: str) -> None:
    fuzz(name)


def test_the_budgets_cover_every_new_target() -> None:
    assert set(BUDGETS) <= set(TARGETS)
    assert Path(t.__file__).name == "targets.py"


@budget(200)
@given(
    st.sampled_from(["writer", "nope", ""]) | st.text(max_size=20),
    st.sampled_from(["ok", "create_entry", "get_record", "init", "__zh_alloc"])
    | st.text(max_size=20),
    st.binary(max_size=64),
    st.fixed_dictionaries(
        {},
        optional={
            "timeout_ms": st.integers(-5, 10**12) | st.text(max_size=5),
            "depth": st.integers(-5, 10**6) | st.none(),
        },
    ),
    st.none() | st.integers(0, 10_000),
)
def test_signed_peer_calls(
    zome: str, fn: str, payload: bytes, extra: dict[str, object], tamper: int | None
) -> None:
    """Authenticated peer calls reach the real call pipeline: every answer is a
    ZomeCallResponse, and one damaged after signing never runs."""
    try:
        t.peer_signed_call(zome, fn, payload, dict(extra), tamper)
    except t.Expected:
        count("peer signed calls", expected=True)
        return
    count("peer signed calls")
