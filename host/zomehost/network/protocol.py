"""The peer protocol: the messages carried inside the encrypted frames (one message a frame).

Every message is a msgpack map with a type ``t``::

    {"t": "req", "id": int, "op": str, "body": any}   a request; exactly one answer follows
    {"t": "res", "id": int, "body": any}              its answer
    {"t": "err", "id": int, "reason": str}            the request failed in the protocol layer
    {"t": "msg", "op": str, "body": any}              one-way, never answered

Request ids are chosen by the sender of the request (a counter per connection); both sides
send requests on the same connection, and each matches answers only against its own ids, so
concurrent requests in both directions are multiplexed freely and answered out of order.

Operations (see docs/network.md):

* ``req call``  body ``{params: bin, signature: bin(64), timeout_ms: int, depth: int}``;
  answer: a ``ZomeCallResponse`` (docs/abi.md). ``params`` are signed
  :class:`~zomehost.core.zome_call.ZomeCallParams`, checked exactly like a client call.
* ``msg signal`` body ``{params: bin, signature: bin(64)}``: signed params whose
  ``fn_name`` is ``recv_remote_signal`` and whose ``payload`` is the signal.
* ``msg agent_infos`` body ``[SignedAgentInfo wire]``: what the sender knows (gossip).
* ``req agent_info_query`` body ``{dna: bin(39), agent: bin(39)}``; answer:
  ``[SignedAgentInfo wire]`` (the one record held, or none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zomehost.core.codec import pack, unpack
from zomehost.errors import DeserializeError
from zomehost.network.errors import ProtocolError

OP_CALL = "call"
OP_SIGNAL = "signal"
OP_AGENT_INFOS = "agent_infos"
OP_AGENT_INFO_QUERY = "agent_info_query"
MAX_ID = 2**63 - 1
MAX_REASON_LEN = 1000


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    op: str
    body: Any


@dataclass(frozen=True, slots=True)
class Response:
    id: int
    body: Any


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    id: int
    reason: str


@dataclass(frozen=True, slots=True)
class OneWay:
    op: str
    body: Any


Message = Request | Response | ErrorResponse | OneWay


def encode(message: Message) -> bytes:
    if isinstance(message, Request):
        return pack({"t": "req", "id": message.id, "op": message.op, "body": message.body})
    if isinstance(message, Response):
        return pack({"t": "res", "id": message.id, "body": message.body})
    if isinstance(message, ErrorResponse):
        return pack({"t": "err", "id": message.id, "reason": message.reason[:MAX_REASON_LEN]})
    return pack({"t": "msg", "op": message.op, "body": message.body})


def decode(frame: bytes) -> Message:
    try:
        doc = unpack(frame, what="peer message")
    except DeserializeError as exc:
        raise ProtocolError(exc.message) from None
    if not isinstance(doc, dict):
        raise ProtocolError("a peer message is a map")
    kind = doc.get("t")
    if kind == "msg":
        return OneWay(_op(doc), doc.get("body"))
    rid = doc.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid <= MAX_ID:
        raise ProtocolError("a request id is a non-negative integer")
    if kind == "req":
        return Request(rid, _op(doc), doc.get("body"))
    if kind == "res":
        return Response(rid, doc.get("body"))
    if kind == "err":
        reason = doc.get("reason")
        return ErrorResponse(rid, reason if isinstance(reason, str) else "unknown error")
    raise ProtocolError(f"unknown peer message type {kind!r:.40}")


def _op(doc: dict[Any, Any]) -> str:
    op = doc.get("op")
    if not isinstance(op, str) or not 0 < len(op) <= 64:
        raise ProtocolError("a peer message needs an op name")
    return op


__all__ = [
    "OP_AGENT_INFOS",
    "OP_AGENT_INFO_QUERY",
    "OP_CALL",
    "OP_SIGNAL",
    "ErrorResponse",
    "Message",
    "OneWay",
    "Request",
    "Response",
    "decode",
    "encode",
]
