"""Fuzz the parsers at every trust boundary: msgpack payloads, bundles and manifests, the
values a guest or a client hands the host, signed zome calls, conductor-API frames, peer
messages and agent infos. Only typed refusals may come out (zomehost.fuzz.targets)."""

from __future__ import annotations

import functools
import zlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from zomehost.core.codec import pack
from zomehost.fuzz import targets as t
from zomehost.fuzz.testbed import app_bundle, dna, wat

from .conftest import budget, count, values
from .strategies import agent_info_seed, mutated, resign, signed_call_seed


def run(name: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except t.Expected:
        count(name, expected=True)
        return
    count(name)


# -- msgpack ------------------------------------------------------------------------------
MSGPACK_SEEDS = [
    pack({"a": [1, 2, {"b": b"\x00" * 10}], "c": None}),
    pack([[[[[]]]]]),
    b"\xdd\xff\xff\xff\xff",  # an array that claims 4 billion items
    b"\xdf\xff\xff\xff\xff",  # a map that claims as many pairs
    b"\xc6\xff\xff\xff\xff",  # a bin of 4 GiB
    b"\x91" * 2000 + b"\xc0",  # nesting past the decoder's depth limit
    b"\xd4\x01\x00",  # an ext type
]


@budget(700)
@given(mutated(MSGPACK_SEEDS))
def test_msgpack_bytes(data: bytes) -> None:
    run("msgpack bytes", t.msgpack_payload, data)


@budget(200)
@given(values)
def test_msgpack_values_round_trip(value: Any) -> None:
    run("msgpack values", t.msgpack_payload, pack(value))


@budget(100)
@given(st.integers(1, 3000))
def test_msgpack_deep_nesting(depth: int) -> None:
    run("msgpack nesting", t.msgpack_payload, b"\x91" * depth + b"\xc0")
    run("msgpack nesting", t.msgpack_payload, b"\x81\xa1k" * depth + b"\xc0")


# -- bundles and manifests ----------------------------------------------------------------------
@functools.cache
def _bundle_seeds() -> list[bytes]:
    d = dna({"writer": wat("writer")}, limits={"timeout_ms": 100})
    happ = app_bundle({"main": d})
    return [happ, d.to_bundle().encode()]


@functools.cache
def _bundle_docs() -> list[bytes]:
    out = []
    for blob in _bundle_seeds():
        out.append(zlib.decompress(blob, wbits=47))
    return out


@budget(300)
@given(st.data())
def test_bundle_bytes(data: st.DataObject) -> None:
    blob = data.draw(mutated(_bundle_seeds()))
    run("bundle bytes", t.bundle_bytes, blob)


@budget(300)
@given(st.data())
def test_bundle_inner_doc(data: st.DataObject) -> None:
    """Damage the msgpack inside the gzip, so the damage reaches the manifest parsers."""
    inner = data.draw(mutated(_bundle_docs()))
    run("bundle documents", t.bundle_bytes, zlib.compress(inner, 1, wbits=31))


@budget(300)
@given(values, st.dictionaries(st.text(max_size=10), st.binary(max_size=20), max_size=3))
def test_bundle_manifest_values(doc: Any, resources: dict[str, bytes]) -> None:
    run("bundle manifests", t.bundle_doc, doc, resources)


dna_docs = st.fixed_dictionaries(
    {"name": st.text(max_size=10) | values},
    optional={
        "integrity": st.fixed_dictionaries(
            {}, optional={"network_seed": values, "properties": values, "zomes": values}
        )
        | values,
        "coordinator": st.fixed_dictionaries(
            {},
            optional={
                "zomes": st.lists(
                    st.fixed_dictionaries({"name": values | st.text(max_size=8), "path": values})
                    | values,
                    max_size=3,
                )
            },
        ),
        "zomes": values,
        "limits": st.dictionaries(
            st.sampled_from(["timeout_ms", "fuel", "memory_bytes", "bogus"]), values, max_size=3
        )
        | values,
        "roles": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(max_size=8) | values},
                optional={
                    "dna": st.fixed_dictionaries(
                        {}, optional={"path": values, "bundled": values, "modifiers": values}
                    )
                    | values
                },
            ),
            max_size=3,
        )
        | values,
    },
)


@budget(300)
@given(dna_docs)
def test_manifests(doc: Any) -> None:
    run("manifests", t.manifests, doc)


# -- values a guest or a client gives the host ------------------------------------------------
@budget(200)
@given(st.sampled_from(sorted(t.WIRE_DECODERS)), values)
def test_wire_values(name: str, value: Any) -> None:
    run(f"wire value {name}", t.wire_value, name, value)


near_valid = st.one_of(
    st.fixed_dictionaries(
        {"tag": st.text(max_size=5) | values},
        optional={
            "access": st.sampled_from(["Unrestricted", "Transferable", "Assigned"])
            | st.dictionaries(
                st.sampled_from(["Transferable", "Assigned", "Unrestricted"]),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "secret": st.binary(min_size=60, max_size=66) | values,
                        "assignees": st.lists(st.binary(min_size=39, max_size=39)),
                    },
                )
                | values,
                max_size=2,
            ),
            "functions": st.just("All")
            | st.fixed_dictionaries(
                {"Listed": st.lists(st.lists(st.text(max_size=4), max_size=3), max_size=3) | values}
            )
            | values,
            "grantor": st.binary(min_size=39, max_size=39) | values,
            "secret": st.binary(min_size=64, max_size=64) | values,
        },
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "sequence_range": st.lists(st.integers(-2, 2**64), max_size=3) | values,
            "entry_type": st.lists(st.text(max_size=4)) | values,
            "action_type": st.lists(st.sampled_from(["Create", "Dna", "x"])) | values,
            "include_entries": values,
            "descending": values,
        },
    ),
    st.fixed_dictionaries({"entry_type": st.text(max_size=8) | values, "content": values}),
    st.lists(st.binary(min_size=37, max_size=41), min_size=0, max_size=3),
)


@budget(200)
@given(st.sampled_from(sorted(t.WIRE_DECODERS)), near_valid)
def test_wire_values_near_valid(name: str, value: Any) -> None:
    run(f"wire value {name}", t.wire_value, name, value)


@budget(300)
@given(st.binary(min_size=30, max_size=45) | st.binary(max_size=80))
def test_hash_bytes(data: bytes) -> None:
    run("hash bytes", t.hash_bytes, data)


@budget(300)
@given(
    mutated(
        [
            pack(
                {
                    "type": "Create",
                    "author": b"\x84\x20\x24" + b"\x00" * 36,
                    "timestamp": 1,
                    "action_seq": 0,
                    "prev_action": None,
                }
            ),
            pack({"type": "Dna"}),
        ]
    )
)
def test_stored_action_bytes(data: bytes) -> None:
    run("stored action bytes", t.stored_action, data)


@budget(400)
@given(st.data())
def test_signed_zome_call(data: st.DataObject) -> None:
    seed, sig = signed_call_seed()
    blob = data.draw(mutated([seed]))
    signature = data.draw(st.sampled_from([sig, b"", b"\x00" * 64]) | st.binary(max_size=70))
    run("signed zome call", t.signed_zome_call, blob, signature)


# -- the conductor API's frames ------------------------------------------------------------
def _api_seeds() -> list[bytes]:
    from zomehost.core import api_wire as wire

    return [
        wire.encode_request(1, "list_apps", {"status_filter": None}),
        wire.encode_request(2**40, "install_app", {"installed_app_id": "x", "bundle": b"\x1f\x8b"}),
        wire.encode_authenticate(b"\x01" * 16),
        wire.encode_response(3, "apps_listed", []),
        wire.encode_error(4, "ribosome_error", "boom"),
        pack({"type": "request", "id": 1, "data": b"\xc1"}),
        pack({"type": "response", "id": 1, "data": pack({"type": "error", "value": [1]})}),
    ]


@budget(600)
@given(st.data())
def test_api_frames(data: st.DataObject) -> None:
    frame = data.draw(mutated(_api_seeds()))
    run("api frames", t.api_frame, frame)


@budget(200)
@given(
    st.sampled_from(["request", "response", "signal", "authenticate", "x"]),
    st.integers(-2, 2**64 - 1) | values,
    values,
)
def test_api_envelopes(etype: str, rid: Any, inner: Any) -> None:
    try:
        data = pack(inner)
    except (TypeError, ValueError, OverflowError):
        data = b"\xc1"
    run("api frames", t.api_frame, pack({"type": etype, "id": rid, "data": data}))


# -- the peer protocol ----------------------------------------------------------------------
def _peer_seeds() -> list[bytes]:
    from zomehost.network import protocol

    return [
        protocol.encode(protocol.Request(7, "call", {"zome": "z", "payload": b"\x00"})),
        protocol.encode(protocol.Response(7, [1, 2])),
        protocol.encode(protocol.ErrorResponse(7, "nope")),
        protocol.encode(protocol.OneWay("signal", b"x")),
    ]


@budget(500)
@given(st.data())
def test_peer_messages(data: st.DataObject) -> None:
    run("peer messages", t.peer_message, data.draw(mutated(_peer_seeds())))


@budget(300)
@given(st.data())
def test_agent_infos(data: st.DataObject) -> None:
    seed = agent_info_seed()
    choice = data.draw(st.integers(0, 2))
    wire: Any
    if choice == 0:  # damaged bytes, the original signature
        wire = {"info": data.draw(mutated([seed["info"]])), "signature": seed["signature"]}
    elif choice == 1:  # damaged bytes, signed again: the decoder sees them as authentic
        wire = resign(data.draw(mutated([seed["info"]])))
    else:
        wire = data.draw(values)
    run("agent infos", t.agent_info, wire)
