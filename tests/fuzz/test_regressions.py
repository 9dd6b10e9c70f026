"""Inputs the fuzzers found, kept as plain tests (each was an untyped crash before its fix)."""

from __future__ import annotations

import base64

import pytest

from zomehost.core import api_wire as wire
from zomehost.core.bundle import AppManifest, DnaManifest
from zomehost.core.codec import MAX_NESTING, pack_canonical, unpack
from zomehost.core.limits import Limits
from zomehost.errors import BundleError, DeserializeError, InvalidInput
from zomehost.fuzz import targets as t


def test_deep_nesting_is_refused_at_decode() -> None:
    """pack_canonical (the DNA hash of bundle properties), msgpack's packer, repr and JSON
    all recursed away on values nested a few hundred levels deep."""
    ok = b"\x91" * MAX_NESTING + b"\xc0"
    pack_canonical(unpack(ok))
    for deep in (b"\x91" * (MAX_NESTING + 1) + b"\xc0", b"\x81\xa1k" * 600 + b"\xc0"):
        with pytest.raises(DeserializeError, match="nested deeper"):
            unpack(deep)
    with pytest.raises(InvalidInput, match="nested deeper"):
        value: list[object] = []
        for _ in range(300):
            value = [value]
        pack_canonical(value)


def test_ext_type_map_key_in_canonical_encoding() -> None:
    """atheris: an ExtType (a tuple) map key became an unhashable list."""
    data = base64.b64decode("hQkAAP//CtcJAAAA//8K14UJAIX9gAAAAP8AAAAA")
    t.msgpack_payload(data)


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "a", "integrity": {"zomes": 1}},
        {"name": "a", "zomes": 1},
        {"name": "a", "coordinator": {"zomes": "z"}},
        {"name": "a", "roles": True},
        {"name": "a", "roles": [{"name": "r", "dna": {"path": "p", "modifiers": [1]}}]},
    ],
)
def test_manifest_shapes(doc: dict[str, object]) -> None:
    """hypothesis: non-list zomes/roles and non-map modifiers raised TypeError."""
    parse = AppManifest.parse if "roles" in doc else DnaManifest.parse
    with pytest.raises(BundleError):
        parse(doc)


def test_limits_with_mixed_key_types() -> None:
    """atheris: sorting unknown keys of mixed types raised TypeError."""
    with pytest.raises(InvalidInput, match=r"unknown key limits\.1"):
        Limits.from_config({1: 2, "x": 3})


@pytest.mark.parametrize("data", [b"\xa4", b"\x92\x01", b"\xc1", b"\x81\xa1a"])
def test_malformed_api_response(data: bytes) -> None:
    """hypothesis: decode_response leaked UnicodeDecodeError/ValueError to the client."""
    with pytest.raises(wire.ApiError):
        wire.decode_response(data)
