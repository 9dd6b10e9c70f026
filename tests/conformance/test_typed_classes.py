"""AssemblyScript's @serializable classes against serde: the AssemblyScript probe's `Typed`
class and the Rust probe's `Typed` struct (same fields) encode the same values to the same
msgpack bytes, and each decodes what the other encoded, inside one DNA (zomes ``rs`` and
``as``; sdk/assemblyscript/README.md, "Typed classes")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import AppHandle, rust_and_as_app
from zomehost.core.codec import unpack
from zomehost.errors import ZomehostError

AGENT = bytes([0x84, 0x20, 0x24]) + bytes(range(36))
FULL: dict[str, Any] = {
    "title": "ünïcode ☃ title",
    "count": -2_147_483_648,
    "big_count": 2**64 - 1,
    "ratio": 0.5,
    "done": True,
    "blob": bytes(range(256)) * 2,
    "author": AGENT,
    "tags": ["a", "", "long " * 20],
    "inner": {"label": "in", "weight": -1.25},
    "inners": [{"label": "x", "weight": 0.0}, {"label": "y", "weight": 1e300}],
    "note": "a note",
    "maybe": {"label": "maybe", "weight": 2.5},
    "matrix": [[1, -2, 300], [], [70000]],
}
EMPTY: dict[str, Any] = {
    "title": "",
    "count": 0,
    "big_count": 0,
    "ratio": 0.0,
    "done": False,
    "blob": b"",
    "author": None,
    "tags": [],
    "inner": {"label": "", "weight": 0.0},
    "inners": [],
    "note": None,
    "maybe": None,
    "matrix": [],
}
ZOMES = ("rs", "as")


@pytest.fixture(scope="module")
def mixed(
    probe_wasm: dict[str, Path],
    conformance_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppHandle]:
    root = tmp_path_factory.mktemp("typed")
    with rust_and_as_app(probe_wasm, conformance_cache, root, "typed") as app:
        yield app


def encoded_by(app: AppHandle, zome: str, value: Any) -> bytes:
    """The msgpack bytes zome ``zome`` answers ``typed_roundtrip(value)`` with."""
    arg = {"target": "Local", "zome_name": zome, "fn_name": "typed_roundtrip", "payload": value}
    response = app.call("rs", "call_other", arg)
    assert set(response) == {"Ok"}, response
    return bytes(response["Ok"])


@pytest.mark.parametrize("value", [FULL, EMPTY], ids=["full", "empty"])
def test_the_class_and_the_struct_encode_the_same_bytes(mixed: AppHandle, value: Any) -> None:
    by_rust, by_as = (encoded_by(mixed, z, value) for z in ZOMES)
    assert by_as == by_rust
    assert unpack(by_as) == value
    assert list(unpack(by_as)) == list(FULL)  # fields in declaration order, snake_case keys


@pytest.mark.parametrize(("caller", "callee"), [("as", "rs"), ("rs", "as")])
@pytest.mark.parametrize("value", [FULL, EMPTY], ids=["full", "empty"])
def test_each_decodes_what_the_other_encoded(
    mixed: AppHandle, caller: str, callee: str, value: Any
) -> None:
    # the caller encodes with its own type, the callee decodes and re-encodes with its own,
    # and the caller decodes that
    assert mixed.call(caller, "typed_via", {"zome": callee, "value": value}) == value


@pytest.mark.parametrize("zome", ZOMES)
def test_missing_optionals_are_null_and_unknown_keys_are_skipped(
    mixed: AppHandle, zome: str
) -> None:
    sparse = {k: v for k, v in FULL.items() if k not in ("author", "note", "maybe")}
    sparse["not_a_field"] = {"nested": [1, 2]}
    out = mixed.call(zome, "typed_roundtrip", sparse)
    assert out == {**FULL, "author": None, "note": None, "maybe": None}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"title": None}, "title"),  # drop a required field
        ({"count": "not a number"}, ""),
        ({"count": 2**31}, ""),  # out of i32's range
        ({"inner": {"label": "no weight"}}, "weight"),
        ({"matrix": [[1, "x"]]}, ""),
        ({"tags": "not a list"}, ""),
    ],
)
@pytest.mark.parametrize("zome", ZOMES)
def test_bad_input_is_a_deserialize_error_in_both(
    mixed: AppHandle, zome: str, change: dict[str, Any], words: str
) -> None:
    value = {**FULL, **change}
    value = {k: v for k, v in value.items() if v is not None}
    with pytest.raises(ZomehostError) as failed:
        mixed.call(zome, "typed_roundtrip", value)
    message = failed.value.message
    assert "DeserializeError" in message and "input of typed_roundtrip" in message, message
    if words:
        assert f"missing field `{words}`" in message, message
