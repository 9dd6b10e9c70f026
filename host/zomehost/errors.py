"""One exception hierarchy for the whole host.

Every error a user or a client can see is a :class:`ZomehostError`; its ``kind`` is the
stable, typed name that crosses the wire (client responses, the ABI's ``Err.kind``) and
its message is one clear line.
"""

from __future__ import annotations

from enum import StrEnum


class ZomehostError(Exception):
    """Base of every error zomehost raises on purpose."""

    kind = "Internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ZomehostError):
    """Input that does not have the shape the contract asks for."""

    kind = "InvalidInput"


class DeserializeError(InvalidInput):
    """Bytes that are not the msgpack the contract asks for."""

    kind = "DeserializeError"


class NotFound(ZomehostError):
    kind = "NotFound"


class Unauthorized(ZomehostError):
    """A call that no capability grant covers."""

    kind = "Unauthorized"


class AuthenticationFailed(ZomehostError):
    """A signature, nonce or expiry that does not check out."""

    kind = "AuthenticationFailed"


class NonceProblem(StrEnum):
    """Why a signed call's nonce or expiry was refused (Holochain's ``BadNonce`` reasons)."""

    EXPIRED = "Expired"
    FUTURE = "Future"
    DUPLICATE = "Duplicate"
    WINDOW_FULL = "WindowFull"


class BadNonce(AuthenticationFailed):
    """An expired, future-dated or replayed call; ``problem`` says which, as data."""

    def __init__(self, problem: NonceProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


class KeystoreError(ZomehostError):
    kind = "KeystoreError"


class BadPassphrase(KeystoreError):
    kind = "BadPassphrase"


class ChainError(ZomehostError):
    kind = "ChainError"


class HeadMoved(ChainError):
    """The chain head moved while a call with strict ordering was running (another call
    wrote first): its writes were not committed; the call may be retried."""

    kind = "HeadMoved"


class StoreFull(ChainError):
    """The store reached its configured size limit: the commit wrote nothing."""

    kind = "StoreFull"


class DiskFull(ChainError):
    """The disk under the store refused a write (full, over quota or failing)."""

    kind = "DiskFull"


class ChainLocked(ChainError):
    """A bridge call holds the chain; the commit could not wait for it."""

    kind = "ChainLocked"


class IntegrityError(ChainError):
    """A stored record fails hash, link, sequence or signature checks."""

    kind = "IntegrityError"


class BundleError(ZomehostError):
    """A manifest or bundle that is malformed, too large or inconsistent."""

    kind = "BundleError"


class WasmError(ZomehostError):
    """A module that cannot be installed (malformed, bad imports, missing exports)."""

    kind = "WasmError"


class RibosomeError(ZomehostError):
    """A zome call that failed inside the sandbox."""

    kind = "RibosomeError"


class GuestError(RibosomeError):
    """The guest broke the ABI: bad pointers, bad envelopes, or it returned Err."""

    kind = "GuestError"


class InvalidGuestPointer(GuestError):
    kind = "InvalidGuestPointer"


class Trap(RibosomeError):
    """The guest trapped (unreachable, panic, bad memory access)."""

    kind = "Trap"


class Timeout(RibosomeError):
    """The call ran past its wall-clock deadline."""

    kind = "Timeout"


class OutOfMemory(RibosomeError):
    kind = "OutOfMemory"


class LimitExceeded(RibosomeError):
    """An input, output, entry, payload or call depth exceeded its limit."""

    kind = "LimitExceeded"


class InitFailed(RibosomeError):
    """A zome's ``init`` callback refused or failed: the cell takes no calls."""

    kind = "InitFailed"


class ZomeFunctionNotFound(NotFound):
    kind = "ZomeFunctionNotFound"


class ConductorError(ZomehostError):
    kind = "ConductorError"


class UnknownConfigKey(ConductorError, InvalidInput):
    """A key no config section has (``conductor-config.yaml``, a DNA's ``limits``): ``key``
    is its dotted name, ``suggestion`` the known key it most likely misspells (or None)."""

    kind = "UnknownConfigKey"

    def __init__(self, key: str, suggestion: str | None, where: str = "") -> None:
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        super().__init__(f"{where}unknown key {key}{hint}: see docs/config.md")
        self.key = key
        self.suggestion = suggestion
        self.where = where

    def in_file(self, path: object) -> UnknownConfigKey:
        """The same error, naming the file it is in."""
        return UnknownConfigKey(self.key, self.suggestion, f"{path}: ")


class HomeInUse(ConductorError):
    """Another process (a running ``zomehost run``) holds the conductor home: its pid, and
    its admin interface's URL when its ``run.json`` names one."""

    kind = "HomeInUse"

    def __init__(self, message: str, pid: str = "", admin_url: str | None = None) -> None:
        super().__init__(message)
        self.pid = pid
        self.admin_url = admin_url


class AppNotFound(NotFound):
    kind = "AppNotFound"


class AppNotEnabled(ConductorError):
    kind = "AppNotEnabled"


class NetworkError(ZomehostError):
    kind = "NetworkError"


class CellStopped(ConductorError):
    """The cell was disabled while the call ran: the call's writes were not committed."""

    kind = "CellStopped"


class AgentKeyRevoked(ConductorError):
    """The app's agent key was revoked (``revoke_agent_key``): its cells write nothing more."""

    kind = "AgentKeyRevoked"
