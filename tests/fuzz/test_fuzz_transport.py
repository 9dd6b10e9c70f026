"""Fuzz the peer transport's frames (zomehost.network.session, sans-I/O): arbitrary bytes in
place of handshake messages, and real encrypted frame streams damaged on the wire and cut
into arbitrary pieces. Only TransportError subclasses may come out; what is delivered is
exactly the undamaged prefix of the stream, in order; a replayed frame is refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zomehost.fuzz import targets as t

from .conftest import budget, count
from .strategies import _apply

chunks = st.lists(st.integers(1, 200), max_size=6)


def run(name: str, fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except t.Expected:
        count(name, expected=True)
        return
    count(name)


@budget(600)
@given(
    st.binary(max_size=300)
    | st.builds(
        lambda n, b: n.to_bytes(4, "big") + b, st.integers(0, 2**32 - 1), st.binary(max_size=200)
    ),
    chunks,
    st.booleans(),
)
def test_handshake_bytes(data: bytes, pieces: list[int], as_initiator: bool) -> None:
    run("transport handshake", t.session_handshake_bytes, data, pieces, as_initiator)


@budget(800)
@given(
    st.lists(st.binary(max_size=300), max_size=5),
    st.tuples(
        st.sampled_from(["none", "flip", "truncate", "insert", "delete", "duplicate"]),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
    chunks,
)
def test_frame_stream(
    payloads: list[bytes], mutation: tuple[str, int, int], pieces: list[int]
) -> None:
    run("transport frames", t.session_frames, payloads, mutation, pieces)


edits = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 1 << 16), st.integers(0, 255)),
    min_size=1,
    max_size=3,
)


@budget(600)
@given(st.integers(0, 2), edits)
def test_tampered_handshake(stage: int, changes: list[tuple[int, int, int]]) -> None:
    run(
        "transport handshake (tampered)",
        t.session_handshake_tamper,
        stage,
        lambda msg: _apply(msg, changes),
    )


def test_oversized_frame_claim_is_refused_before_buffering() -> None:
    """A length prefix claiming 4 GiB is refused at once, not buffered up to."""
    import pytest

    init, resp = t.session_pair()
    for src, dst in ((init, resp), (resp, init), (init, resp)):
        dst.receive_data(src.data_to_send())
        list(dst.events())
    resp.receive_data(b"\xff\xff\xff\xff")
    with pytest.raises(Exception, match="over the limit"):
        list(resp.events())
