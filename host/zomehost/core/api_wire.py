"""The conductor API's wire format, without I/O (docs/conductor-api.md §2-§4).

Every WebSocket frame is one msgpack *envelope* (``request``, ``response``, ``signal``,
``authenticate``) whose ``data`` is a ``bin`` holding a second msgpack document. Requests and
responses are adjacently tagged ``{"type": tag, "value": payload}``; errors are
``{"type": "error", "value": {"type": kind, "value": message}}``.

Both the server (:mod:`zomehost.api`) and the Python client (:mod:`zomehost.client`) use
these functions, so the two sides cannot drift apart; every document goes through
:mod:`zomehost.core.codec` (exactly one value, nesting bounded).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final

from zomehost.core.capability import (
    AccessKind,
    CapAccess,
    GrantedFunctions,
    ZomeCallCapGrant,
)
from zomehost.core.codec import pack, unpack
from zomehost.core.hash import HASH_LEN, AgentPubKey, CellId, DnaHash, HashType, HoloHash
from zomehost.errors import (
    AuthenticationFailed,
    DiskFull,
    HeadMoved,
    RibosomeError,
    StoreFull,
    Unauthorized,
    ZomeFunctionNotFound,
    ZomehostError,
)

ADMIN_MAX_MESSAGE: Final = 64 * 1024 * 1024  # install_app with a whole bundle (Holochain's limit)
APP_MAX_MESSAGE: Final = 16 * 1024 * 1024  # a zome call payload is at most 4 MiB (limits.py)

# ExternalApiWireError kinds (the client's HolochainError.name).
INTERNAL: Final = "internal_error"
DESERIALIZATION: Final = "deserialization"
DNA_READ: Final = "dna_read_error"
RIBOSOME: Final = "ribosome_error"
AUTH_FAILED: Final = "zome_call_authentication_failed"
UNAUTHORIZED: Final = "zome_call_unauthorized"
# zomehost's own kinds, so a client can act on them without reading the message: retry a
# call whose chain head moved (strict ordering); stop writing to a full store or disk.
CHAIN_HEAD_MOVED: Final = "chain_head_moved"
STORE_FULL: Final = "store_full"
DISK_FULL: Final = "disk_full"
WIRE_ERROR_KINDS: Final = frozenset(
    {INTERNAL, DESERIALIZATION, DNA_READ, RIBOSOME, AUTH_FAILED, UNAUTHORIZED,
     "countersigning_session_error", CHAIN_HEAD_MOVED, STORE_FULL, DISK_FULL}
)  # fmt: skip

FAILED_TO_DESERIALIZE: Final = "Failed to deserialize request"
UNIT: Final = object()  # a response with no `value` key (a unit variant)


class ApiError(ZomehostError):
    """A request failure with its wire kind; becomes an ``error`` response."""

    kind = INTERNAL

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def deserialization(message: str = FAILED_TO_DESERIALIZE) -> ApiError:
    return ApiError(DESERIALIZATION, message)


def internal(message: str) -> ApiError:
    return ApiError(INTERNAL, message)


def error_kind(exc: BaseException) -> str:
    """The wire kind for an exception raised while serving a request."""
    if isinstance(exc, ApiError):
        return exc.kind
    if isinstance(exc, Unauthorized):
        return UNAUTHORIZED
    if isinstance(exc, AuthenticationFailed):
        return AUTH_FAILED
    if isinstance(exc, (RibosomeError, ZomeFunctionNotFound)):
        return RIBOSOME
    if isinstance(exc, HeadMoved):
        return CHAIN_HEAD_MOVED
    if isinstance(exc, StoreFull):
        return STORE_FULL
    if isinstance(exc, DiskFull):
        return DISK_FULL
    return INTERNAL


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ZomehostError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


# -- envelopes ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Envelope:
    type: str  # request | response | signal | authenticate
    id: int | None
    data: bytes | None


def decode_envelope(frame: bytes | str) -> Envelope | None:
    """An envelope, or ``None`` when the frame is not one (the caller drops it)."""
    raw = frame.encode() if isinstance(frame, str) else frame
    try:
        doc = unpack(raw)
    except Exception:
        return None
    if not isinstance(doc, dict):
        return None
    etype = doc.get("type")
    if etype not in ("request", "response", "signal", "authenticate"):
        return None
    data = doc.get("data")
    if data is not None and not isinstance(data, bytes):
        return None
    rid = doc.get("id")
    if etype in ("request", "response"):
        if isinstance(rid, bool) or not isinstance(rid, int) or rid < 0:
            return None
    else:
        rid = None
    return Envelope(etype, rid, data)


def encode_request(rid: int, tag: str, value: Any = None) -> bytes:
    return pack({"id": rid, "type": "request", "data": pack({"type": tag, "value": value})})


def encode_authenticate(token: bytes | list[int]) -> bytes:
    return pack({"type": "authenticate", "data": pack({"token": token_to_wire(token)})})


def encode_response(rid: int, tag: str, value: Any = UNIT) -> bytes:
    inner: dict[str, Any] = {"type": tag}
    if value is not UNIT:
        inner["value"] = value
    return pack({"type": "response", "id": rid, "data": pack(inner)})


def encode_error(rid: int, kind: str, message: str) -> bytes:
    return encode_response(rid, "error", {"type": kind, "value": message})


def encode_app_signal(cell_id: CellId, zome_name: str, payload: bytes) -> bytes:
    inner = {
        "type": "app",
        "value": {"cell_id": cell_id.to_wire(), "zome_name": zome_name, "signal": payload},
    }
    return pack({"type": "signal", "data": pack(inner)})


def decode_request(data: bytes | None) -> tuple[str, Any]:
    """The inner request document: (tag, value). Raises ``deserialization``."""
    if data is None:
        raise deserialization()
    try:
        doc = unpack(data)
    except Exception:
        raise deserialization() from None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise deserialization()
    return doc["type"], doc.get("value")


def decode_response(data: bytes | None) -> Any:
    """The value of a response document, raising :class:`ApiError` for an ``error`` one."""
    if data is None:
        raise internal("Response canceled by responder")
    try:
        doc = unpack(data)
    except Exception:  # msgpack raises many unrelated types
        raise internal("malformed response (not msgpack)") from None
    if not isinstance(doc, dict):
        raise internal("malformed response")
    if doc.get("type") == "error":
        err = doc.get("value")
        if isinstance(err, dict):
            return_kind = str(err.get("type", INTERNAL))
            raise ApiError(return_kind, str(err.get("value", "")))
        raise ApiError(INTERNAL, str(err))
    return doc.get("value")


# -- request payload helpers ----------------------------------------------------------------
def payload_map(value: Any, *, optional: bool = False) -> dict[str, Any]:
    """A request payload that must be a map (nil counts as {} when ``optional``)."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise deserialization()
    return value


def field(
    doc: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True
) -> Any:
    value = doc.get(name)
    if value is None:
        if required:
            raise deserialization()
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise deserialization()
    if not isinstance(value, kind):
        raise deserialization()
    return value


def as_bytes(value: Any, length: int | None = None) -> bytes:
    """``bin``, or an array of ints 0-255 (what Holochain also accepts)."""
    if isinstance(value, bytes):
        out = value
    elif isinstance(value, (list, tuple)) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value
    ):
        out = bytes(value)
    else:
        raise deserialization()
    if length is not None and len(out) != length:
        raise deserialization()
    return out


def hash_from_wire(value: Any, hash_type: HashType) -> bytes:
    """39 bytes with the right prefix; location bytes are not checked (signing keys)."""
    raw = as_bytes(value, HASH_LEN)
    if raw[:3] != hash_type.value:
        raise deserialization()
    return raw


def agent_from_wire(value: Any) -> AgentPubKey:
    return AgentPubKey(hash_from_wire(value, HashType.AGENT))


def cell_id_from_wire(value: Any) -> CellId:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise deserialization()
    return CellId(DnaHash(hash_from_wire(value[0], HashType.DNA)), agent_from_wire(value[1]))


def clone_ref_from_wire(value: Any) -> str | DnaHash:
    """``CloneCellId``: ``{"type": "clone_id", "value": "role.N"}`` or ``{"type": "dna_hash",
    "value": DnaHash}`` (Holochain 0.4 sent a ``CellId`` as ``cell_id``; accepted too)."""
    doc = payload_map(value)
    kind, inner = doc.get("type"), doc.get("value")
    if kind == "clone_id" and isinstance(inner, str):
        return inner
    if kind == "dna_hash":
        return DnaHash(hash_from_wire(inner, HashType.DNA))
    if kind == "cell_id":
        return cell_id_from_wire(inner).dna_hash
    raise deserialization()


def clone_ref_to_wire(clone: str | DnaHash) -> dict[str, Any]:
    """``CloneCellId`` by clone id (``role.N``) or by the clone's DNA hash."""
    if isinstance(clone, DnaHash):
        return {"type": "dna_hash", "value": clone.raw}
    return {"type": "clone_id", "value": clone}


def token_to_wire(token: bytes | list[int]) -> list[int]:
    return list(token)


def b64_hash(h: HoloHash | bytes) -> str:
    raw = h.raw if isinstance(h, HoloHash) else h
    return "u" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- capability grants: {type, value} snake_case on this API, externally tagged in the ABI ----
def grant_from_api(value: Any) -> ZomeCallCapGrant:
    doc = payload_map(value)
    tag = doc.get("tag", "")
    if not isinstance(tag, str):
        raise deserialization()
    access_doc = payload_map(doc.get("access"))
    atype, abody = access_doc.get("type"), access_doc.get("value")
    try:
        if atype == "unrestricted":
            access = CapAccess(AccessKind.UNRESTRICTED)
        elif atype == "transferable":
            body = payload_map(abody)
            access = CapAccess(AccessKind.TRANSFERABLE, as_bytes(body.get("secret"), 64))
        elif atype == "assigned":
            body = payload_map(abody)
            assignees = body.get("assignees")
            if not isinstance(assignees, (list, tuple)):
                raise deserialization()
            access = CapAccess(
                AccessKind.ASSIGNED,
                as_bytes(body.get("secret"), 64),
                frozenset(agent_from_wire(a) for a in assignees),
            )
        else:
            raise deserialization()
    except ZomehostError as exc:
        if isinstance(exc, ApiError):
            raise
        raise deserialization(f"{FAILED_TO_DESERIALIZE}: {exc.message}") from None
    return ZomeCallCapGrant(tag, access, functions_from_api(doc.get("functions")))


def functions_from_api(value: Any) -> GrantedFunctions:
    doc = payload_map(value)
    if doc.get("type") == "all":
        return GrantedFunctions(None)
    if doc.get("type") == "listed" and isinstance(doc.get("value"), (list, tuple)):
        pairs: set[tuple[str, str]] = set()
        for item in doc["value"]:
            if (
                not isinstance(item, (list, tuple))
                or len(item) != 2
                or not all(isinstance(s, str) for s in item)
            ):
                raise deserialization()
            pairs.add((item[0], item[1]))
        return GrantedFunctions(frozenset(pairs))
    raise deserialization()


def functions_to_api(functions: GrantedFunctions) -> dict[str, Any]:
    if functions.listed is None:
        return {"type": "all"}
    return {"type": "listed", "value": [list(p) for p in sorted(functions.listed)]}


def grant_to_api(grant: ZomeCallCapGrant) -> dict[str, Any]:
    """The grant as a client sends it in ``grant_zome_call_capability``."""
    access = grant.access
    acc: dict[str, Any]
    if access.kind is AccessKind.UNRESTRICTED:
        acc = {"type": "unrestricted"}
    elif access.kind is AccessKind.TRANSFERABLE:
        acc = {"type": "transferable", "value": {"secret": access.secret}}
    else:
        acc = {
            "type": "assigned",
            "value": {
                "secret": access.secret,
                "assignees": [a.raw for a in sorted(access.assignees, key=lambda a: a.raw)],
            },
        }
    return {"tag": grant.tag, "access": acc, "functions": functions_to_api(grant.functions)}


def desensitized_grant(grant: ZomeCallCapGrant) -> dict[str, Any]:
    """``list_capability_grants``' view: no secrets, assignees only for assigned grants."""
    access = grant.access
    return {
        "tag": grant.tag,
        "access": {
            "access_type": access.kind.value.lower(),
            "assignees": [a.raw for a in sorted(access.assignees, key=lambda a: a.raw)]
            if access.kind is AccessKind.ASSIGNED
            else None,
        },
        "functions": functions_to_api(grant.functions),
    }
