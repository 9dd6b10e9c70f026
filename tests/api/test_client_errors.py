"""The Python client raises one class per wire error kind, so callers catch a kind, never
a message; a kind the client does not know yet keeps working as the base class."""

from __future__ import annotations

from zomehost.client import ConductorApiError
from zomehost.client.base import ERROR_CLASSES
from zomehost.core.api_wire import WIRE_ERROR_KINDS


def test_every_wire_kind_has_its_own_class() -> None:
    known = WIRE_ERROR_KINDS - {"countersigning_session_error"}  # never sent: not supported
    assert set(ERROR_CLASSES) == known
    assert len(set(ERROR_CLASSES.values())) == len(known)
    for kind in known:
        err = ConductorApiError.of(kind, "why")
        assert type(err) is ERROR_CLASSES[kind]
        assert isinstance(err, ConductorApiError)
        assert (err.kind, err.message) == (kind, "why")


def test_an_unknown_kind_is_the_base_class() -> None:
    err = ConductorApiError.of("brand_new_kind", "later")
    assert type(err) is ConductorApiError
    assert err.kind == "brand_new_kind"
