"""What a zome call answers, as data: Holochain's ``ZomeCallResponse`` plus ``CallError``.

Every place where the outcome of a call crosses a boundary uses this one type: the ``call``
and ``call_remote`` host functions hand it to the guest (:meth:`ZomeCallResponse.to_abi`,
docs/abi.md), the peer protocol carries it between conductors (:meth:`to_wire` /
:meth:`from_wire`, docs/network.md), and the conductor builds it from the error that ended a
call in exactly one place (:meth:`from_error`). Failures are values with a kind that is
data — the :class:`~zomehost.errors.ZomehostError` kind where the error happened — so no
reader ever has to parse a message to learn what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zomehost.core.hash import AgentPubKey, CellId
from zomehost.errors import AuthenticationFailed, NetworkError, Unauthorized, ZomehostError


class ResponseKind(StrEnum):
    OK = "Ok"
    UNAUTHORIZED = "Unauthorized"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    NETWORK_ERROR = "NetworkError"
    CALL_ERROR = "CallError"  # the callee returned Err, trapped or ran out of a limit


@dataclass(frozen=True, slots=True)
class CallTarget:
    """Who was called: what an ``Unauthorized`` response names."""

    cell_id: CellId
    zome_name: str
    fn_name: str
    provenance: AgentPubKey


@dataclass(frozen=True, slots=True)
class ZomeCallResponse:
    kind: ResponseKind
    value: bytes = b""  # Ok: msgpack bytes of the callee's value
    reason: str = ""  # every failure: one line
    error_kind: str = ""  # CallError: the error kind where the call failed
    target: CallTarget | None = None  # Unauthorized: the call that was refused

    # -- building -------------------------------------------------------------------------
    @classmethod
    def ok(cls, value: bytes) -> ZomeCallResponse:
        return cls(ResponseKind.OK, value=value)

    @classmethod
    def network_error(cls, reason: str) -> ZomeCallResponse:
        return cls(ResponseKind.NETWORK_ERROR, reason=reason)

    @classmethod
    def authentication_failed(cls, reason: str) -> ZomeCallResponse:
        return cls(ResponseKind.AUTHENTICATION_FAILED, reason=reason)

    @classmethod
    def unauthorized(cls, target: CallTarget, reason: str) -> ZomeCallResponse:
        return cls(ResponseKind.UNAUTHORIZED, reason=reason, target=target)

    @classmethod
    def call_error(cls, error_kind: str, reason: str) -> ZomeCallResponse:
        return cls(ResponseKind.CALL_ERROR, reason=reason, error_kind=error_kind)

    @classmethod
    def from_error(cls, exc: ZomehostError, target: CallTarget) -> ZomeCallResponse:
        """The response for the error that ended a call: the one mapping there is."""
        if isinstance(exc, Unauthorized):
            return cls.unauthorized(target, exc.message)
        if isinstance(exc, AuthenticationFailed):
            return cls.authentication_failed(exc.message)
        if isinstance(exc, NetworkError):
            return cls.network_error(exc.message)
        return cls.call_error(exc.kind, exc.message)

    @property
    def is_ok(self) -> bool:
        return self.kind is ResponseKind.OK

    @property
    def text(self) -> str:
        """One line for people: ``Kind: reason`` (``CallError`` names the error kind)."""
        if self.kind is ResponseKind.CALL_ERROR:
            return f"{self.error_kind}: {self.reason}"
        return f"{self.kind.value}: {self.reason}"

    # -- the guest's form (docs/abi.md) ---------------------------------------------------
    def to_abi(self) -> dict[str, Any]:
        """Externally tagged, one key, as both SDKs decode it."""
        if self.kind is ResponseKind.OK:
            return {"Ok": self.value}
        if self.kind is ResponseKind.UNAUTHORIZED:
            return {"Unauthorized": self._target_doc()}
        if self.kind is ResponseKind.CALL_ERROR:
            return {"CallError": f"{self.error_kind}: {self.reason}"}
        return {self.kind.value: self.reason}

    # -- the peer protocol's form (docs/network.md) -----------------------------------------
    def to_wire(self) -> dict[str, Any]:
        """As :meth:`to_abi`, but ``CallError`` keeps its kind apart: ``{kind, message}``."""
        if self.kind is ResponseKind.CALL_ERROR:
            return {"CallError": {"kind": self.error_kind, "message": self.reason}}
        return self.to_abi()

    @classmethod
    def from_wire(cls, doc: Any) -> ZomeCallResponse | None:
        """A peer's answer, or ``None`` when it is not a well-formed response."""
        if not isinstance(doc, dict) or len(doc) != 1:
            return None
        ((tag, body),) = doc.items()
        if tag == "Ok":
            return cls.ok(body) if isinstance(body, bytes) else None
        if tag == "CallError":
            if not isinstance(body, dict):
                return None
            kind, message = body.get("kind"), body.get("message")
            if not isinstance(kind, str) or not isinstance(message, str):
                return None
            return cls.call_error(kind, message)
        if tag == "Unauthorized":
            return cls._unauthorized_from(body)
        if tag in (ResponseKind.NETWORK_ERROR, ResponseKind.AUTHENTICATION_FAILED):
            return cls(ResponseKind(tag), reason=body) if isinstance(body, str) else None
        return None

    @classmethod
    def _unauthorized_from(cls, body: Any) -> ZomeCallResponse | None:
        if not isinstance(body, dict):
            return None
        try:
            target = CallTarget(
                CellId.from_wire(body["cell_id"]),
                str(body["zome_name"]),
                str(body["fn_name"]),
                AgentPubKey(bytes(body["provenance"])),
            )
        except (KeyError, TypeError, ValueError, ZomehostError):
            return None
        reason = body.get("reason")
        return cls.unauthorized(target, reason) if isinstance(reason, str) else None

    def _target_doc(self) -> dict[str, Any]:
        assert self.target is not None
        t = self.target
        return {
            "zome_name": t.zome_name,
            "fn_name": t.fn_name,
            "cell_id": t.cell_id.to_wire(),
            "provenance": t.provenance.raw,
            "reason": self.reason,
        }
