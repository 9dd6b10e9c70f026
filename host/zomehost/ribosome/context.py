"""What a running zome call knows: its cell, zome, caller, workspace, limits and services.

The conductor builds a :class:`CallContext` for every call and implements
:class:`HostServices` (signing, nested and remote calls, signals), so the ribosome never
imports the conductor: dependencies point down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from zomehost.chain.source_chain import Workspace
from zomehost.core.capability import Authorization
from zomehost.core.hash import AgentPubKey, CellId, DnaHash
from zomehost.core.limits import Limits


@dataclass(frozen=True, slots=True)
class DnaInfo:
    hash: DnaHash
    name: str
    properties: Any
    network_seed: str
    zome_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Signal:
    """An app signal emitted by a zome, delivered to clients after the call commits."""

    cell: CellId
    zome_name: str
    payload: bytes  # msgpack bytes of the app's signal value


class HostServices(Protocol):
    def sign(self, agent: AgentPubKey, data: bytes) -> bytes: ...

    def call(
        self,
        ctx: CallContext,
        target: Any,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
    ) -> Any: ...

    def call_remote(
        self,
        ctx: CallContext,
        agent: AgentPubKey,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
        timeout_ms: int | None,
    ) -> Any: ...

    def send_remote_signal(
        self, ctx: CallContext, agents: list[AgentPubKey], payload: bytes
    ) -> None: ...

    def trace(self, ctx: CallContext, level: str, msg: str) -> None: ...


@dataclass
class CallContext:
    cell: CellId
    dna: DnaInfo
    zome_name: str
    zome_index: int
    function_name: str
    function_names: tuple[str, ...]
    authorization: Authorization
    workspace: Workspace
    limits: Limits
    deadline: float
    depth: int
    services: HostServices
    writable: bool = True
    signals: list[Signal] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)  # per-call budgets spent (host_fns)
    role_name: str | None = None
    app_id: str | None = None

    @property
    def provenance(self) -> AgentPubKey:
        return self.authorization.provenance
