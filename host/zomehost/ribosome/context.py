"""What a running zome call knows: its cell, zome, caller, workspace, limits and services.

The conductor builds a :class:`CallContext` for every call. The ribosome sees the layers
beside and above it only through the two small interfaces declared here — the call's
:class:`ChainWorkspace` (implemented by ``chain.Workspace``) and :class:`HostServices`
(implemented by the conductor: signing, nested and remote calls, signals) — so it imports
neither the chain nor the conductor: dependencies point down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from zomehost.core.action import ChainHead, Entry, Record
from zomehost.core.agent_crypto import AgentCrypto
from zomehost.core.capability import Authorization, StoredGrant
from zomehost.core.hash import ActionHash, AgentPubKey, CellId, DnaHash, HoloHash
from zomehost.core.limits import Limits
from zomehost.core.query import ChainQueryFilter
from zomehost.core.response import ZomeCallResponse
from zomehost.core.schedule import ScheduleWrite
from zomehost.core.signal import Signal


@dataclass(frozen=True, slots=True)
class DnaInfo:
    hash: DnaHash
    name: str
    properties: Any
    network_seed: str
    zome_names: tuple[str, ...]


class ChainWorkspace(Protocol):
    """A call's scratch view of its cell's chain: committed records plus its own writes."""

    pending: list[Record]
    schedule_writes: list[ScheduleWrite]

    @property
    def base(self) -> ChainHead | None: ...

    def look(self) -> ChainHead | None: ...

    def grants(self, *, include_revoked: bool = False) -> list[StoredGrant]: ...

    def head(self) -> ChainHead | None: ...

    def create(self, entry: Entry, now: int, *, relaxed: bool = False) -> Record: ...

    def update(
        self, original: ActionHash, entry: Entry, now: int, *, relaxed: bool = False
    ) -> Record: ...

    def delete(self, target: ActionHash, now: int, *, relaxed: bool = False) -> Record: ...

    def get(self, hash_: HoloHash) -> Record | None: ...

    def query(self, flt: ChainQueryFilter) -> list[Record]: ...

    def schedule(self, write: ScheduleWrite) -> None: ...


class HostServices(Protocol):
    def sign(self, agent: AgentPubKey, data: bytes) -> bytes: ...

    def crypto(self, agent: AgentPubKey) -> AgentCrypto: ...

    def call(
        self,
        ctx: CallContext,
        target: Any,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
    ) -> ZomeCallResponse: ...

    def call_remote(
        self,
        ctx: CallContext,
        agent: AgentPubKey,
        zome: str,
        fn: str,
        secret: bytes | None,
        payload: bytes,
        timeout_ms: int | None,
    ) -> ZomeCallResponse: ...

    def send_remote_signal(
        self, ctx: CallContext, agents: list[AgentPubKey], payload: bytes
    ) -> None: ...

    def acts_for_agent(self, ctx: CallContext) -> bool: ...

    def create_clone_cell(
        self,
        ctx: CallContext,
        of: CellId,
        network_seed: str | None,
        properties: Any,
        name: str | None,
        membrane_proof: bytes | None,
    ) -> dict[str, Any]: ...

    def set_clone_enabled(
        self, ctx: CallContext, ref: str | CellId, enabled: bool
    ) -> dict[str, Any]: ...

    def delete_clone_cell(self, ctx: CallContext, ref: str | CellId) -> None: ...

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
    workspace: ChainWorkspace
    limits: Limits
    deadline: float
    depth: int
    services: HostServices
    writable: bool = True
    signals: list[Signal] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)  # per-call budgets spent (host_fns)
    role_name: str | None = None
    app_id: str | None = None
    schedulable: frozenset[str] = frozenset()  # this zome's functions marked schedulable
    # why the guest is about to trap, in its own words (a Rust panic, an AssemblyScript abort)
    abort_message: str | None = None

    @property
    def provenance(self) -> AgentPubKey:
        return self.authorization.provenance
